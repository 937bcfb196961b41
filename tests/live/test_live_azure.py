"""A short smoke run against a real Container App, recording what Azure actually returns.

Not part of the default test run (pyproject's norecursedirs leaves `tests/live` out); run
it with `scripts/live-azure.sh`. Without ELB_LIVE_AZURE_* settings every test skips: there
is nothing real to talk to. With them it deploys a tiny image to the named app, gates the
new revision, rolls it back and writes what it saw (ETag header present or not, whether
If-Match is honoured, the revision states seen, the error bodies) to the record file, so
the open questions in tests/platforms/azure/README.md can be settled in minutes.

    ELB_LIVE_AZURE_RESOURCE_GROUP   the app's resource group                 (required)
    ELB_LIVE_AZURE_APP              a Container App you may deploy to        (required)
    ELB_LIVE_AZURE_CONTAINER        its container to swap                   (default: first)
    ELB_LIVE_AZURE_IMAGE            a tiny public image
                                    (default mcr.microsoft.com/k8se/quickstart:latest)
    ELB_LIVE_AZURE_SUBSCRIPTION_ID  when `az account show` is not the one
    ELB_LIVE_AZURE_RECORD           where the record goes (default live-azure-record.json)
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from elb_upgrade.platforms.azure import AzurePlatform
from elb_upgrade.platforms.base import RevisionState
from elb_upgrade.spec import AppSpec, ContainerSpec, ImageSpec

PREFIX = "ELB_LIVE_AZURE_"
SETTINGS = {k: v for k, v in os.environ.items() if k.startswith(PREFIX) and v}
pytestmark = pytest.mark.skipif(
    not {f"{PREFIX}RESOURCE_GROUP", f"{PREFIX}APP"} <= set(SETTINGS),
    reason="no ELB_LIVE_AZURE_RESOURCE_GROUP / ELB_LIVE_AZURE_APP: no real app to check",
)
IMAGE = SETTINGS.get(f"{PREFIX}IMAGE", "mcr.microsoft.com/k8se/quickstart:latest")
RECORD: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def _write() -> None:
    path = Path(SETTINGS.get(f"{PREFIX}RECORD", "live-azure-record.json"))
    path.write_text(json.dumps(RECORD, indent=2, default=str) + "\n")


@pytest.fixture(scope="module")
def platform() -> AzurePlatform:
    settings = {
        **os.environ,
        "AZURE_RESOURCE_GROUP": SETTINGS[f"{PREFIX}RESOURCE_GROUP"],
        "CONTAINER_APP_NAME": SETTINGS[f"{PREFIX}APP"],
        "AZURE_SUBSCRIPTION_ID": SETTINGS.get(f"{PREFIX}SUBSCRIPTION_ID", ""),
        "ELB_UPGRADE_AZURE_POLL_SECONDS": "5",
    }
    container = SETTINGS.get(f"{PREFIX}CONTAINER", "")
    spec = AppSpec(
        name="elb-live",
        containers=(ContainerSpec(container or "main", "main"),),
        images=(ImageSpec("main", "elb-live", Path(".")),),
        main_container=container or "main",
        settings=settings,
    )
    return AzurePlatform(spec)


def _raw(platform: AzurePlatform, method: str, body: Any = None, **headers: str) -> Any:
    """One request through the SDK's pipeline; the status, headers and body as Azure sent."""
    from azure.core.rest import HttpRequest

    s = platform.session()
    url = f"{s.settings.arm_url}{s.app_scope()}?api-version={s.apps._config.api_version}"
    request = HttpRequest(method, url, json=body, headers=headers)
    response = s.apps._client.send_request(request)
    try:
        content: Any = response.json()
    except ValueError:
        content = response.text()
    return response.status_code, dict(response.headers), content


def test_live_read_records_etag_and_change_token(platform: AzurePlatform) -> None:
    platform.check()
    status, headers, body = _raw(platform, "GET")
    RECORD["get"] = {
        "status": status,
        "etag_header": headers.get("ETag") or headers.get("etag"),
        "etag_in_body": body.get("etag") if isinstance(body, dict) else None,
        "systemData": body.get("systemData") if isinstance(body, dict) else None,
    }
    _write()
    assert status == 200


def test_live_if_match_is_honoured_or_not(platform: AzurePlatform) -> None:
    _status, _headers, body = _raw(platform, "GET")
    tags = dict(body.get("tags") or {})
    probe = {"tags": {**tags, "elb-live-probe": "if-match"}}
    answer = _raw(platform, "PATCH", probe, **{"If-Match": '"elb-live-not-an-etag"'})
    RECORD["patch_with_bogus_if_match"] = {"status": answer[0], "body": answer[2]}
    _raw(platform, "PATCH", {"tags": tags})  # put the tags back
    _write()
    assert answer[0] in (200, 202, 400, 412)


def test_live_invalid_body_error(platform: AzurePlatform) -> None:
    platform.current()
    from elb_upgrade.errors import PlatformError

    with pytest.raises(PlatformError) as caught:
        platform.deploy({platform.app.main_container: "NOT A REF!!"}, lambda _line: None)
    RECORD["invalid_image_error"] = {"type": type(caught.value).__name__, "text": str(caught.value)}
    _write()


def test_live_deploy_gate_rollback(platform: AzurePlatform) -> None:
    before = platform.current()
    lines: list[str] = []
    deployment = platform.deploy({platform.app.main_container: IMAGE}, lines.append)
    states = []
    for _ in range(60):
        status = platform.revision_status(deployment)
        states.append(status.detail)
        if status.state is not RevisionState.PENDING:
            break
        time.sleep(5)
    RECORD["deploy"] = {"log": lines, "revision_states": states, "final": status.state.value}
    restore = {i.name: i.image for i in before.images if i.name == platform.app.main_container}
    rolled = platform.deploy(restore, lines.append)
    RECORD["rollback"] = {"revision": rolled.revision, "log": lines}
    _write()
    assert status.state is RevisionState.RUNNING, states
