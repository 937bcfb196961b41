"""Snapshot, the one conditional PATCH, its long-running operation, revision status."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from azurekit import Lines, StaticToken, app_spec, settings_for
from fakeazure import FakeAzure
from standin import APP, OLD_TAG, SUB

from elb_upgrade.errors import ConflictError, PlatformError
from elb_upgrade.platforms.azure import AzurePlatform
from elb_upgrade.platforms.base import ContainerImage, RevisionState
from elb_upgrade.spec import ContainerSpec
from fakes.clock import FakeClock

APP_PATH = rf"/Microsoft\.App/containerApps/{APP}$"


def test_current_is_the_latest_revision_and_every_container_image(
    platform: AzurePlatform, azure: FakeAzure
) -> None:
    state = platform.current()
    assert state.revision == f"{APP}--r00001"
    old = azure.image("elb-dashboard-api", OLD_TAG)
    assert state.images == (
        ContainerImage("api", old),
        ContainerImage("worker", old),
        ContainerImage("frontend", azure.image("elb-dashboard-frontend", OLD_TAG)),
    )  # the init container `migrate` is not in the config: not ours to snapshot
    [get] = azure.made("GET", APP_PATH)
    assert get.headers["authorization"] == "Bearer arm-token-for-tests"
    assert get.query["api-version"]


def test_init_container_named_in_the_config_is_snapshot_and_deployed(
    azure: FakeAzure, bin_dir: Path, log: Lines
) -> None:
    spec = app_spec(settings_for(azure, bin_dir))
    spec = replace(spec, containers=(*spec.containers, ContainerSpec("migrate", "api")))
    platform = AzurePlatform(spec, credential_factory=StaticToken, clock=FakeClock())
    assert platform.current().image_of("migrate") == azure.image("elb-dashboard-api", OLD_TAG)
    azure.tags.add("elb-dashboard-api:v2")
    new = azure.image("elb-dashboard-api", "v2")
    platform.deploy({"api": new, "migrate": new}, log)
    template = azure.made("PATCH")[0].json()["properties"]["template"]
    assert template["initContainers"][0]["image"] == new
    assert "updating ca-elb-dashboard: api, migrate in one revision" in log.text()


def test_current_falls_back_to_latest_ready_revision(
    platform: AzurePlatform, azure: FakeAzure
) -> None:
    del azure.app["properties"]["latestRevisionName"]
    assert platform.current().revision == f"{APP}--r00001"


def test_absent_app_is_an_empty_state(make_platform, azure: FakeAzure) -> None:  # type: ignore[no-untyped-def]
    platform = make_platform(CONTAINER_APP_NAME="ca-not-there")
    state = platform.current()
    assert state.revision == "" and state.images == ()


def test_deploy_sends_one_patch_with_every_changed_image_and_if_match(
    platform: AzurePlatform, azure: FakeAzure, log: Lines
) -> None:
    platform.current()
    etag = azure.etag
    new_api = azure.image("elb-dashboard-api", "20260523120000-58cc179")
    new_front = azure.image("elb-dashboard-frontend", "20260523120000-58cc179")
    azure.tags.update(
        {
            "elb-dashboard-api:20260523120000-58cc179",
            "elb-dashboard-frontend:20260523120000-58cc179",
        }
    )
    deployment = platform.deploy({"api": new_api, "worker": new_api, "frontend": new_front}, log)

    [patch] = azure.made("PATCH")
    assert patch.headers["if-match"] == etag
    template = patch.json()["properties"]["template"]
    images = {c["name"]: c["image"] for c in template["containers"]}
    assert images == {"api": new_api, "worker": new_api, "frontend": new_front}
    assert template["revisionSuffix"] is None  # else the new revision's name collides
    assert template["scale"]["maxReplicas"] == 3  # the rest of the template goes back as read
    assert template["containers"][0]["env"][0] == {"name": "REDIS_URL", "secretRef": "redis-url"}
    assert deployment.revision == f"{APP}--r00002" == deployment.readiness_revision
    assert deployment.readiness_url is None  # single-revision mode: the configured URL
    assert ContainerImage("frontend", new_front) in deployment.images


def test_deploy_waits_for_the_long_running_operation(
    platform: AzurePlatform, azure: FakeAzure, log: Lines
) -> None:
    azure.async_polls = 3
    platform.current()
    image = azure.image("elb-dashboard-api", OLD_TAG.replace("1a2b3c4", "ffff000"))
    azure.tags.add(image.split("/", 1)[1])
    platform.deploy({"api": image}, log)
    polls = azure.made("GET", "containerappOperationResults")
    assert len(polls) == 4  # three InProgress, then Succeeded
    assert polls[0].path.startswith(f"/subscriptions/{SUB}/providers/Microsoft.App/locations/")
    final_get = azure.made("GET", APP_PATH)[-1]
    assert azure.requests.index(final_get) > azure.requests.index(polls[-1])


def test_deploy_then_waits_for_the_revision_to_be_provisioned(
    platform: AzurePlatform, azure: FakeAzure, log: Lines
) -> None:
    azure.provision_polls = 2
    platform.current()
    image = azure.image("elb-dashboard-api", "v2")
    azure.tags.add("elb-dashboard-api:v2")
    platform.deploy({"api": image}, log)
    gets = azure.made("GET", rf"/revisions/{APP}--r00002$")
    assert len(gets) == 3
    assert "Provisioning" in log.text() or "provisioning" in log.text()


def test_unchanged_images_make_no_update(
    platform: AzurePlatform, azure: FakeAzure, log: Lines
) -> None:
    state = platform.current()
    deployment = platform.deploy({i.name: i.image for i in state.images}, log)
    assert azure.made("PATCH") == []
    assert deployment.revision == state.revision


def test_failed_operation_is_a_platform_error(
    platform: AzurePlatform, azure: FakeAzure, log: Lines
) -> None:
    azure.operation_outcome = "Failed"
    platform.current()
    azure.tags.add("elb-dashboard-api:v2")
    with pytest.raises(PlatformError, match="update the Container App"):
        platform.deploy({"api": azure.image("elb-dashboard-api", "v2")}, log)


def test_412_says_the_app_changed_since_the_snapshot(
    platform: AzurePlatform, azure: FakeAzure, log: Lines
) -> None:
    platform.current()
    azure.etag_n += 1  # someone else updated the app after our snapshot
    azure.tags.add("elb-dashboard-api:v2")
    with pytest.raises(ConflictError) as caught:
        platform.deploy({"api": azure.image("elb-dashboard-api", "v2")}, log)
    assert "the app changed since the snapshot; rerun" in str(caught.value)
    assert azure.made("PATCH")[0].headers["if-match"] != azure.etag


def test_403_on_update_names_the_role_and_the_scope(
    platform: AzurePlatform, azure: FakeAzure, log: Lines
) -> None:
    scope = (
        f"/subscriptions/{SUB}/resourceGroups/rg-elb-prod/providers/Microsoft.App/"
        f"containerApps/{APP}"
    )
    azure.forbid("PATCH", APP_PATH, "Microsoft.App/containerApps/write", scope)
    platform.current()
    azure.tags.add("elb-dashboard-api:v2")
    with pytest.raises(PlatformError) as caught:
        platform.deploy({"api": azure.image("elb-dashboard-api", "v2")}, log)
    text = str(caught.value)
    assert "permission denied to update the Container App" in text
    assert f"'Contributor' on {scope}" in text
    assert "Microsoft.App/containerApps/write" in text
    assert (
        f'az role assignment create --assignee <your user or app id> --role "Contributor" '
        f"--scope {scope}" in text
    )


def test_unknown_container_is_refused_before_any_update(
    platform: AzurePlatform, azure: FakeAzure, log: Lines
) -> None:
    platform.current()
    with pytest.raises(PlatformError, match="no container named beat"):
        platform.deploy({"beat": azure.image("elb-dashboard-api", OLD_TAG)}, log)
    assert azure.made("PATCH") == []


def test_rollback_after_our_own_deploy_uses_a_fresh_etag(
    platform: AzurePlatform, azure: FakeAzure, log: Lines
) -> None:
    before = platform.current()
    snapshot_etag = azure.etag
    azure.tags.add("elb-dashboard-api:v2")
    platform.deploy({"api": azure.image("elb-dashboard-api", "v2")}, log)
    after_deploy_etag = azure.etag
    platform.deploy({i.name: i.image for i in before.images}, log)
    first, second = azure.made("PATCH")
    assert first.headers["if-match"] == snapshot_etag
    assert second.headers["if-match"] == after_deploy_etag  # re-read, not the stale one
    assert azure.images()["api"] == before.image_of("api")


def test_rollback_refuses_when_someone_else_deployed_meanwhile(
    platform: AzurePlatform, azure: FakeAzure, log: Lines
) -> None:
    before = platform.current()
    azure.tags.add("elb-dashboard-api:v2")
    platform.deploy({"api": azure.image("elb-dashboard-api", "v2")}, log)
    azure.app["properties"]["template"]["containers"][0]["image"] = "elsewhere/api:hotfix"
    with pytest.raises(ConflictError, match="changed since the snapshot"):
        platform.deploy({i.name: i.image for i in before.images}, log)
    assert len(azure.made("PATCH")) == 1


@pytest.mark.parametrize(
    ("tag", "state", "detail"),
    [
        ("v2", RevisionState.RUNNING, "is running"),
        ("crashloop", RevisionState.FAILED, "crash loop"),
        ("missing", RevisionState.FAILED, "cannot pull its image"),
        ("badprov", RevisionState.FAILED, "failed to provision"),
    ],
)
def test_revision_status_of_the_new_revision(
    platform: AzurePlatform,
    azure: FakeAzure,
    log: Lines,
    tag: str,
    state: RevisionState,
    detail: str,
) -> None:
    platform.current()
    azure.tags.add(f"elb-dashboard-api:{tag}")
    deployment = platform.deploy({"api": azure.image("elb-dashboard-api", tag)}, log)
    status = platform.revision_status(deployment)
    assert status.state is state
    assert detail in status.detail


def test_multiple_revision_mode_gates_on_the_revision_fqdn(
    make_platform,
    azure: FakeAzure,
    log: Lines,  # type: ignore[no-untyped-def]
) -> None:
    azure.app["properties"]["configuration"]["activeRevisionsMode"] = "Multiple"
    platform = make_platform(ELB_UPGRADE_READINESS_PATH="/healthz/ready")
    platform.current()
    azure.tags.add("elb-dashboard-api:v2")
    deployment = platform.deploy({"api": azure.image("elb-dashboard-api", "v2")}, log)
    assert deployment.readiness_url == (
        f"https://{APP}--r00002.kindsea-4f2a1c.eastus.azurecontainerapps.io/healthz/ready"
    )
    assert deployment.readiness_revision == f"{APP}--r00002"


def test_follow_logs_streams_the_main_container_console(
    platform: AzurePlatform, azure: FakeAzure
) -> None:
    import io

    out = io.StringIO()
    platform.follow_logs("api", out)
    assert "api: INFO:     Application startup complete." in out.getvalue()
    [stream] = azure.made("GET", "/logstream$")
    assert f"/revisions/{APP}--r00001/replicas/{APP}--r00001-" in stream.path
    assert stream.path.endswith("/containers/api/logstream")
    assert stream.query == {"follow": "true", "output": "text", "tailLines": "50"}
    assert len(azure.made("POST", "/getAuthtoken$")) == 1


def test_a_status_blip_while_waiting_for_the_revision_is_not_a_failure(
    platform: AzurePlatform, azure: FakeAzure, log: Lines
) -> None:
    platform.current()
    azure.tags.add("elb-dashboard-api:v2")
    azure.fail("GET", rf"/revisions/{APP}--r00002$", 401, {"error": {"code": "Expired"}})
    deployment = platform.deploy({"api": azure.image("elb-dashboard-api", "v2")}, log)
    assert any(line.startswith("status unavailable: Not logged in") for line in log)
    assert platform.revision_status(deployment).state is RevisionState.RUNNING
