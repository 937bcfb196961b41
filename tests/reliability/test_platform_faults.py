"""Faults from the platform: a deploy that dies half-way, a registry or engine that is gone
when the rollback needs it. The operator always learns what each container runs now."""

from __future__ import annotations

import shlex
import time

import pytest

from elb_upgrade.explain import running_now
from elb_upgrade.platforms.azure.manual import manual_restore_commands as azure_manual
from elb_upgrade.platforms.base import AppState
from elb_upgrade.platforms.docker.manual import manual_restore_commands as docker_manual
from elb_upgrade.spec import AppSpec, ContainerSpec
from fakes.app import App
from reliability.relkit import V1, history_lines, lock_is_free, release, wait_mark

BAD = {"api": "demo-api:bad", "worker": "demo-api:bad", "frontend": "demo-frontend:bad"}


@pytest.mark.usefixtures("soak")
def test_deploy_failing_on_the_second_of_three_containers_rolls_all_three_back(app: App) -> None:
    app.set(fail_deploys={"1": "worker"})
    done = app.run("full", "--yes", "--tag", "v2")
    assert done.returncode == 1, done.stderr
    state = app.get()
    assert state["images"] == V1
    assert state["deploys"][-1] == V1  # one restore of all three, api included
    [line] = history_lines(app)
    assert line["result"] == "upgrade_failed_rolled_back"
    assert line["message"] == "deploy failed: failed to start worker; rolled back to demo--1"
    assert lock_is_free(app)


def test_registry_down_during_rollback_lists_actual_images_and_manual_commands(
    app: App,
) -> None:
    app.set(crash_tags=["bad"], registry_down=True)
    done = app.run("full", "--yes", "--tag", "bad")
    assert done.returncode == 3, done.stderr
    err = done.stderr
    assert "registry unreachable while looking up demo-api:v1" in err
    for name, image in BAD.items():
        assert f"{name}: {image} (NOT restored; snapshot: {V1[name]})" in err
    assert "elb-upgrade rollback --yes" in err
    for name, image in V1.items():
        assert f"fakectl set {name} {image}" in err  # the platform's own manual commands
    [line] = history_lines(app)
    assert line["result"] == "rollback_failed" and line["exit_code"] == 3
    assert (
        "running now: api=demo-api:bad, worker=demo-api:bad, frontend=demo-frontend:bad"
        in line["message"]
    )
    assert "Traceback" not in err


def test_engine_dying_half_way_through_the_restore_says_which_container_is_which(
    app: App,
) -> None:
    app.set(crash_tags=["bad"], fail_deploys={"2": "worker"})
    done = app.run("full", "--yes", "--tag", "bad")
    assert done.returncode == 3
    assert "api: demo-api:v1 (restored)" in done.stderr
    assert "worker: demo-api:bad (NOT restored; snapshot: demo-api:v1)" in done.stderr
    assert "frontend: demo-frontend:bad (NOT restored" in done.stderr
    [line] = history_lines(app)
    assert line["result"] == "rollback_failed"
    assert "api=demo-api:v1, worker=demo-api:bad, frontend=demo-frontend:bad" in line["message"]
    # When the engine is back, the snapshot still gets the app back.
    app.set(crash_tags=[])
    assert app.run("rollback", "--yes").returncode == 0
    assert app.get()["images"] == V1


def test_engine_gone_entirely_during_rollback_says_it_cannot_tell(app: App) -> None:
    app.set(crash_tags=["bad"], pause={"exists": 30})
    run = app.popen("full", "--yes", "--tag", "bad")
    wait_mark(app, "exists")
    app.set(current_down=True, fail_deploys={"2": ""})
    release(app, "exists")
    _, err = run.communicate(timeout=60)
    assert run.returncode == 3
    assert "cannot read what runs now (fake engine does not answer)" in err
    assert "api: demo-api:v1 (unknown whether restored)" in err
    assert "fakectl set worker demo-api:v1" in err
    [line] = history_lines(app)
    assert line["result"] == "rollback_failed"
    assert "running now: unknown (fake engine does not answer)" in line["message"]


def test_explicit_rollback_with_the_engine_gone_is_rollback_failed_with_commands(
    app: App,
) -> None:
    assert app.run("full", "--yes", "--tag", "v2").returncode == 0
    app.set(fail_deploys={"2": ""})
    done = app.run("rollback", "--yes")
    assert done.returncode == 3
    assert "fake engine went away during deploy" in done.stderr
    assert "api: demo-api:v2 (NOT restored; snapshot: demo-api:v1)" in done.stderr
    assert "fakectl set api demo-api:v1" in done.stderr
    assert history_lines(app)[-1]["result"] == "rollback_failed"


class _Named:
    """Just enough of a platform for the built-in manual command recipes."""

    def __init__(self, name: str) -> None:
        self.name = name

    def current(self) -> AppState:
        raise AssertionError("not called")


SPEC = AppSpec(
    name="shop",
    containers=(ContainerSpec("api", "api"), ContainerSpec("worker", "api", ("python3", "w.py"))),
    images=(),
    main_container="api",
    settings={"CONTAINER_APP_NAME": "ca-shop", "AZURE_RESOURCE_GROUP": "rg-shop"},
)
HOSTILE_IMAGE = "reg.io/shop:v1;touch /tmp/PWNED"


def test_docker_manual_commands_quote_every_argument() -> None:
    lines = docker_manual(SPEC, {"worker": HOSTILE_IMAGE})
    run = next(line for line in lines if line.startswith("docker run"))
    argv = shlex.split(run)
    assert argv[argv.index(HOSTILE_IMAGE) + 1 :] == ["python3", "w.py"]
    assert "--name" in argv and argv[argv.index("--name") + 1] == "shop-worker"
    assert "docker rm -f shop-worker" in lines


def test_azure_manual_commands_name_the_app_and_group() -> None:
    [line] = azure_manual(SPEC, {"api": HOSTILE_IMAGE})
    assert shlex.split(line) == [
        "az",
        "containerapp",
        "update",
        "-n",
        "ca-shop",
        "-g",
        "rg-shop",
        "--container-name",
        "api",
        "--image",
        HOSTILE_IMAGE,
    ]


class _Hung:
    name = "hung"

    def current(self) -> AppState:
        time.sleep(5)
        raise AssertionError("never reached in time")


def test_what_runs_now_is_asked_with_a_deadline() -> None:
    """The ending holds signals: a hung platform must not hold the terminal with it."""
    actual, why = running_now(_Hung(), timeout=0.2)  # type: ignore[arg-type]
    assert actual is None and why == "no answer within 0.2s"  # said by the deadline only
