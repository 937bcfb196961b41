"""The shell commands that put images in place by hand, with `az containerapp update`.

Printed when a restore fails and the operator must finish it without elb-upgrade; every
argument is shell-quoted (images and names in a snapshot are data, not code).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping

from elb_upgrade.spec import AppSpec


def manual_restore_commands(app: AppSpec, images: Mapping[str, str]) -> list[str]:
    q = shlex.quote
    name = app.settings.get("CONTAINER_APP_NAME") or "<CONTAINER_APP_NAME>"
    group = app.settings.get("AZURE_RESOURCE_GROUP") or "<AZURE_RESOURCE_GROUP>"
    return [
        f"az containerapp update -n {q(name)} -g {q(group)} --container-name {q(c)} --image {q(i)}"
        for c, i in images.items()
    ]
