"""Snapshot, the one guarded PATCH, its long-running operation, revision status."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from azurekit import Lines, StaticToken, app_spec, settings_for
from fakeazure import API_VERSIONS, FakeAzure
from standin import APP, OLD_TAG, SUB

from elb_upgrade.errors import PlatformError, RefusedError
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
    assert get.headers["authorization"].startswith("Bearer ey")
    assert get.query["api-version"] in API_VERSIONS["microsoft.app"]


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
    template = azure.updates()[0].json()["properties"]["template"]
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


def test_deploy_sends_one_unconditional_patch_with_every_changed_image(
    platform: AzurePlatform, azure: FakeAzure, log: Lines
) -> None:
    platform.current()
    new_api = azure.image("elb-dashboard-api", "20260523120000-58cc179")
    new_front = azure.image("elb-dashboard-frontend", "20260523120000-58cc179")
    azure.tags.update(
        {
            "elb-dashboard-api:20260523120000-58cc179",
            "elb-dashboard-frontend:20260523120000-58cc179",
        }
    )
    deployment = platform.deploy({"api": new_api, "worker": new_api, "frontend": new_front}, log)

    [patch] = azure.updates()
    # Container Apps take none (tests/platforms/azure/README.md)
    assert "if-match" not in patch.headers
    # re-read immediately before the PATCH
    assert azure.requests[azure.requests.index(patch) - 1].path.endswith(f"/containerApps/{APP}")
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
    azure.chaos.off()  # counts the polls of one operation
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
    assert azure.updates() == []
    assert deployment.revision == state.revision


def test_failed_operation_is_a_platform_error(
    platform: AzurePlatform, azure: FakeAzure, log: Lines
) -> None:
    azure.operation_outcome = "Failed"
    platform.current()
    azure.tags.add("elb-dashboard-api:v2")
    with pytest.raises(PlatformError, match="update the Container App"):
        platform.deploy({"api": azure.image("elb-dashboard-api", "v2")}, log)


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ("image", "its containers changed"),
        ("modified", "modified at"),  # e.g. someone scaled it: systemData moves
        ("revision", "latest revision"),
    ],
)
def test_a_change_after_the_plan_is_refused_before_any_patch(
    platform: AzurePlatform, azure: FakeAzure, log: Lines, change: str, said: str
) -> None:
    platform.current()
    if change == "image":
        azure.app["properties"]["template"]["containers"][0]["image"] = "elsewhere/api:hotfix"
    elif change == "revision":
        azure.app["properties"]["latestRevisionName"] = f"{APP}--hotfix"
    azure.touch() if change != "revision" else None
    azure.tags.add("elb-dashboard-api:v2")
    with pytest.raises(RefusedError) as caught:
        platform.deploy({"api": azure.image("elb-dashboard-api", "v2")}, log)
    assert "the app changed since the plan" in str(caught.value) and said in str(caught.value)
    assert azure.updates() == []


def test_a_lost_update_is_reported(platform: AzurePlatform, azure: FakeAzure, log: Lines) -> None:
    azure.chaos.off()  # a chaos Canceled would undo the race this test stages
    platform.current()
    azure.tags.add("elb-dashboard-api:v2")

    def someone_else() -> None:  # another PATCH lands right after ours
        azure.app["properties"]["template"]["containers"][0]["image"] = "elsewhere/api:hotfix"

    azure.after_patch = someone_else
    with pytest.raises(PlatformError) as caught:
        platform.deploy({"api": azure.image("elb-dashboard-api", "v2")}, log)
    assert not isinstance(caught.value, RefusedError)  # something did change
    assert "lost update" in str(caught.value)
    assert "api runs elsewhere/api:hotfix (sent" in str(caught.value)


def test_a_busy_app_is_retried_with_backoff_in_the_deploy_budget(
    make_platform,
    azure: FakeAzure,
    log: Lines,  # type: ignore[no-untyped-def]
) -> None:
    clock = FakeClock()
    platform = make_platform(clock=clock, ELB_UPGRADE_AZURE_BACKOFF_SECONDS="5")
    platform.current()
    azure.busy_requests = 4  # a platform-side operation holds the app's lock
    azure.tags.add("elb-dashboard-api:v2")
    deployment = platform.deploy({"api": azure.image("elb-dashboard-api", "v2")}, log)
    assert deployment.revision == f"{APP}--r00002"
    assert "ContainerAppLockConflict: Cannot modify container App" in log.text()
    assert "nothing changed, retrying in 5s" in log.text()
    assert "retrying in 10s" in log.text()  # doubling


def test_a_busy_app_past_the_budget_is_refused_unchanged(
    make_platform,
    azure: FakeAzure,
    log: Lines,  # type: ignore[no-untyped-def]
) -> None:
    platform = make_platform(
        ELB_UPGRADE_AZURE_REVISION_WAIT="12", ELB_UPGRADE_AZURE_BACKOFF_SECONDS="5"
    )
    platform.current()
    azure.busy_requests = 10_000
    azure.tags.add("elb-dashboard-api:v2")
    with pytest.raises(RefusedError) as caught:
        platform.deploy({"api": azure.image("elb-dashboard-api", "v2")}, log)
    assert "still so when the deploy budget ran out (nothing was changed)" in str(caught.value)
    assert azure.images()["api"] == azure.image("elb-dashboard-api", OLD_TAG)


def test_a_canceled_operation_that_changed_nothing_is_retried(
    platform: AzurePlatform, azure: FakeAzure, log: Lines
) -> None:
    platform.current()
    azure.next_outcomes = ["Canceled"]
    azure.tags.add("elb-dashboard-api:v2")
    platform.deploy({"api": azure.image("elb-dashboard-api", "v2")}, log)
    assert "ended Canceled (OperationCanceled: The operation was canceled.)" in log.text()
    assert len(azure.updates()) == 1 < len(azure.made("PATCH"))
    assert azure.images()["api"] == azure.image("elb-dashboard-api", "v2")


def test_a_canceled_operation_is_reported_in_azures_words(
    platform: AzurePlatform, azure: FakeAzure, log: Lines
) -> None:
    platform.current()
    azure.next_outcomes = ["Canceled"]
    azure.after_cancel = azure.touch  # the app moved meanwhile: no blind retry
    azure.tags.add("elb-dashboard-api:v2")
    with pytest.raises(PlatformError) as caught:
        platform.deploy({"api": azure.image("elb-dashboard-api", "v2")}, log)
    text = str(caught.value)
    assert "Azure's operation to update the Container App ended Canceled" in text
    assert "invalid status 'OK'" not in text


@pytest.mark.parametrize(
    ("image", "said"),
    [
        ("NOT A REF!!", "InvalidContainerImage: Invalid image reference 'NOT A REF!!'"),
    ],
)
def test_a_body_azure_rejects_is_a_refusal_in_its_words(
    platform: AzurePlatform, azure: FakeAzure, log: Lines, image: str, said: str
) -> None:
    platform.current()
    with pytest.raises(RefusedError) as caught:
        platform.deploy({"api": image}, log)
    assert said in str(caught.value) and "nothing was changed" in str(caught.value)
    assert azure.images()["api"] == azure.image("elb-dashboard-api", OLD_TAG)


def test_scope_locked_is_refused_naming_the_lock(
    platform: AzurePlatform, azure: FakeAzure, log: Lines
) -> None:
    platform.current()
    azure.tags.add("elb-dashboard-api:v2")
    azure.fail(
        "PATCH",
        APP_PATH,
        409,
        {
            "error": {
                "code": "ScopeLocked",
                "message": "The scope cannot perform write operation "
                "because following scope(s) are locked: '/subscriptions/x/resourceGroups/"
                "rg-elb-prod'. Please remove the lock and try again.",
            }
        },
    )
    with pytest.raises(RefusedError) as caught:
        platform.deploy({"api": azure.image("elb-dashboard-api", "v2")}, log)
    assert "ScopeLocked: The scope cannot perform write operation" in str(caught.value)
    assert "az lock list" in str(caught.value)


def test_a_404_right_after_the_patch_is_pending(
    platform: AzurePlatform, azure: FakeAzure, log: Lines
) -> None:
    platform.current()
    azure.hidden_polls = 2
    azure.tags.add("elb-dashboard-api:v2")
    deployment = platform.deploy({"api": azure.image("elb-dashboard-api", "v2")}, log)
    assert f"revision {APP}--r00002 is not listed yet" in log.text()
    assert platform.revision_status(deployment).state is RevisionState.RUNNING


def test_the_snapshot_is_the_serving_revision_with_a_warning(
    platform: AzurePlatform, azure: FakeAzure, log: Lines
) -> None:
    azure.app["properties"]["latestRevisionName"] = f"{APP}--failed"
    assert platform.current().revision == f"{APP}--r00001"  # latestReadyRevisionName
    platform.parity_check(log)
    assert f"the latest revision {APP}--failed is not ready" in log.text()


def test_internal_ingress_is_warned_about(
    platform: AzurePlatform, azure: FakeAzure, log: Lines
) -> None:
    azure.app["properties"]["configuration"]["ingress"]["external"] = False
    platform.current()
    platform.parity_check(log)
    assert "ingress is internal" in log.text()


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
    assert azure.updates() == []


def test_rollback_after_our_own_deploy_rereads_the_app(
    platform: AzurePlatform, azure: FakeAzure, log: Lines
) -> None:
    before = platform.current()
    azure.tags.add("elb-dashboard-api:v2")
    platform.deploy({"api": azure.image("elb-dashboard-api", "v2")}, log)
    platform.deploy({i.name: i.image for i in before.images}, log)
    _first, second = azure.updates()
    assert "if-match" not in second.headers
    assert azure.requests[azure.requests.index(second) - 1].path.endswith(f"/containerApps/{APP}")
    assert azure.images()["api"] == before.image_of("api")


def test_rollback_refuses_when_someone_else_deployed_meanwhile(
    platform: AzurePlatform, azure: FakeAzure, log: Lines
) -> None:
    before = platform.current()
    azure.tags.add("elb-dashboard-api:v2")
    platform.deploy({"api": azure.image("elb-dashboard-api", "v2")}, log)
    azure.app["properties"]["template"]["containers"][0]["image"] = "elsewhere/api:hotfix"
    with pytest.raises(RefusedError, match="changed since elb-upgrade last updated it"):
        platform.deploy({i.name: i.image for i in before.images}, log)
    assert len(azure.updates()) == 1


@pytest.mark.parametrize(
    ("tag", "state", "detail"),
    [
        ("v2", RevisionState.RUNNING, "is running"),
        ("crashloop", RevisionState.FAILED, "crash loop"),
        ("missing", RevisionState.FAILED, "cannot pull its image"),
        ("badprov", RevisionState.FAILED, "failed to provision"),
        ("missing", RevisionState.FAILED, "ImagePullBackOff"),
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


def test_multiple_revision_mode_stages_the_revision_and_moves_traffic_after_the_gate(
    make_platform,
    azure: FakeAzure,
    log: Lines,  # type: ignore[no-untyped-def]
) -> None:
    azure.app["properties"]["configuration"]["activeRevisionsMode"] = "Multiple"
    platform = make_platform(ELB_UPGRADE_READINESS_PATH="/healthz/ready")
    platform.current()
    azure.tags.add("elb-dashboard-api:v2")
    deployment = platform.deploy({"api": azure.image("elb-dashboard-api", "v2")}, log)
    new = f"{APP}--r00002"
    assert deployment.staged and deployment.readiness_revision == new
    assert deployment.readiness_url == (
        f"https://{new}.kindsea-4f2a1c.eastus.azurecontainerapps.io/healthz/ready"
    )
    traffic = azure.updates()[0].json()["properties"]["configuration"]["ingress"]["traffic"]
    assert traffic == [{"revisionName": f"{APP}--r00001", "weight": 100}]  # none to the new one
    assert azure.serving() == f"{APP}--r00001"
    platform.promote(deployment, log)
    assert azure.app["properties"]["configuration"]["ingress"]["traffic"] == [
        {"revisionName": new, "weight": 100}
    ]


def test_multiple_revision_mode_discards_a_failed_staged_revision(
    make_platform,
    azure: FakeAzure,
    log: Lines,  # type: ignore[no-untyped-def]
) -> None:
    azure.app["properties"]["configuration"]["activeRevisionsMode"] = "Multiple"
    platform = make_platform()
    platform.current()
    azure.tags.add("elb-dashboard-api:v2")
    deployment = platform.deploy({"api": azure.image("elb-dashboard-api", "v2")}, log)
    platform.discard(deployment, log)
    assert azure.revisions[deployment.revision]["properties"]["active"] is False
    assert azure.made("POST", rf"/revisions/{deployment.revision}/deactivate$")


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
