"""Pure parts of the azure platform: revision classification and error translation."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import ServiceRequestError
from azurekit import Lines, app_spec
from fakeazure import FakeAzure

from elb_upgrade.errors import PlatformUnavailable
from elb_upgrade.platforms.azure import AzurePlatform
from elb_upgrade.platforms.azure.revision import UNHEALTHY_GRACE, classify, is_pull_error
from elb_upgrade.platforms.azure.translate import Action, translate
from elb_upgrade.platforms.base import RevisionState


def revision(**props: Any) -> dict[str, Any]:
    base = {"provisioningState": "Provisioned", "runningState": "Running"}
    return {"name": "app--r2", "properties": {**base, **props}}


def replica(**container: Any) -> dict[str, Any]:
    state = {"name": "api", "ready": True, "restartCount": 0, "runningState": "Running"}
    return {"name": "app--r2-abc", "properties": {"containers": [{**state, **container}]}}


@pytest.mark.parametrize(
    ("rev", "replicas", "state"),
    [
        (revision(), [replica()], RevisionState.RUNNING),
        (revision(), [], RevisionState.RUNNING),  # scaled to zero: readiness decides
        (revision(provisioningState="Provisioning"), [], RevisionState.PENDING),
        (revision(runningState="Activating"), [], RevisionState.PENDING),
        (revision(), [replica(ready=False)], RevisionState.PENDING),
        (revision(runningState="Degraded"), [replica(restartCount=1)], RevisionState.PENDING),
        (revision(), [replica(restartCount=3, runningState="Waiting")], RevisionState.FAILED),
        (
            revision(),
            [replica(runningState="Waiting", runningStateDetails="ErrImagePull")],
            RevisionState.FAILED,
        ),
        (revision(provisioningState="Failed"), [], RevisionState.FAILED),
        (revision(runningState="Stopped"), [], RevisionState.FAILED),
        # values the real API returns and the spec lacks
        (revision(runningState="ActivationFailed"), [], RevisionState.FAILED),
        (revision(runningState="RunningAtMaxScale"), [replica()], RevisionState.RUNNING),
        (revision(runningState="Activating"), [replica()], RevisionState.PENDING),
        # Deprovisioning is a provisioningState, not a runningState
        (revision(provisioningState="Deprovisioning"), [], RevisionState.FAILED),
        (revision(healthState="Unhealthy"), [replica()], RevisionState.PENDING),  # in grace
        (revision(healthState="None"), [replica()], RevisionState.RUNNING),  # no probes
        (revision(runningState="SomethingNew"), [replica()], RevisionState.PENDING),
        (revision(provisioningState=None, runningState=None), [], RevisionState.PENDING),
        # "executable file not found" is a bad command, not a pull failure
        (
            revision(),
            [
                replica(
                    runningState="Waiting",
                    runningStateDetails='exec: "x": executable file not found in $PATH',
                )
            ],
            RevisionState.PENDING,
        ),
    ],
)
def test_revision_classification(
    rev: dict[str, Any], replicas: list[dict[str, Any]], state: RevisionState
) -> None:
    assert classify(rev, replicas).state is state


def test_unreachable_azure_is_platform_unavailable() -> None:
    with (
        pytest.raises(PlatformUnavailable, match="cannot reach Azure to read the app"),
        translate(Action("read the app", "Reader", "/subscriptions/x")),
    ):
        raise ServiceRequestError("Failed to establish a new connection: [Errno 111]")


def test_the_build_log_may_appear_late(
    platform: AzurePlatform, azure: FakeAzure, log: Lines, tmp_path: Any
) -> None:
    context = tmp_path / "ctx"
    (context / "api").mkdir(parents=True)
    (context / "api" / "Dockerfile").write_text("FROM x\n")
    azure.fail(
        "HEAD", "rawtext.log$", 404, None, times=2, headers={"x-ms-error-code": "BlobNotFound"}
    )
    platform.build(app_spec({}, context).images[0], "late", log)
    assert log[-1] == "Run ID: cb1 was succeeded"


def test_unhealthy_past_the_grace_period_fails_with_the_raw_values() -> None:
    status = classify(revision(healthState="Unhealthy"), [replica()], age=UNHEALTHY_GRACE)
    assert status.state is RevisionState.FAILED
    assert "healthState Unhealthy" in status.detail


def test_an_unknown_state_shows_the_raw_values() -> None:
    status = classify(revision(runningState="SomethingNew"), [])
    assert "runningState SomethingNew" in status.detail


@pytest.mark.parametrize(
    ("details", "pull"),
    [
        ("ErrImagePull: rpc error", True),
        ("ImagePullBackOff: Back-off pulling image", True),
        ('failed to pull and unpack image "x": not found', True),
        ("manifest unknown", True),
        ('exec: "gunicorn": executable file not found in $PATH', False),
        ("config file not found", False),
    ],
)
def test_pull_errors_are_matched_precisely(details: str, pull: bool) -> None:
    assert is_pull_error(details) is pull
