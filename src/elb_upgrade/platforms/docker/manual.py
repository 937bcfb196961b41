"""The shell commands that put images in place by hand, with the docker CLI.

Printed when a restore fails and the operator must finish it without elb-upgrade; every
argument is shell-quoted (images and names in a snapshot are data, not code).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping

from elb_upgrade.spec import AppSpec


def manual_restore_commands(app: AppSpec, images: Mapping[str, str]) -> list[str]:
    q = shlex.quote
    commands = ["envdir=$(mktemp -d)  # keeps each container's environment, mode 0700"]
    revision = f"{app.name}--manual"
    specs = {c.name: c for c in app.containers}
    for name, image in images.items():
        container = f"{app.name}-{name}"
        argv = list(specs[name].command) if name in specs else []
        commands += [
            f"docker inspect {q(container)} --format '{{{{range .Config.Env}}}}{{{{println .}}}}"
            f"{{{{end}}}}' | grep -v '^CONTAINER_APP_REVISION=' > \"$envdir/{name}.env\"",
            f"docker rm -f {q(container)}",
            " ".join(
                [
                    "docker run -d --name",
                    q(container),
                    "--network host --init --restart on-failure:2",
                    f'--env-file "$envdir/{name}.env"',
                    f"-e CONTAINER_APP_REVISION={q(revision)}",
                    f"--label elb-upgrade.app={q(app.name)}",
                    f"--label elb-upgrade.container={q(name)}",
                    f"--label elb-upgrade.revision={q(revision)}",
                    q(image),
                    *(q(arg) for arg in argv),
                ]
            ),
        ]
    return commands
