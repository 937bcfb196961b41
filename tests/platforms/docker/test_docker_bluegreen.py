"""Zero-downtime upgrades behind the app's proxy (HAProxy), end to end and under load.

Each test runs the example app (api, worker, frontend, terminal; api/frontend/terminal
with public ports) in its own clone, with a client at about 50 requests/s on the api's
public port, a second client holding a streaming response open, and a third issuing
back-to-back one-second streams (requests in flight whenever the switch happens).
Failures are counted; nothing is timed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from appclone import CRASH_ON_START, Clone
from dockerkit import PROXY_STATE, Lines, instances
from loadkit import Load

from fakes.services import free_port

FAST_GATE = ("--health-interval", "0.5")
DRAIN = "3"


@pytest.fixture
def live(deployed: Clone) -> Clone:
    """The deployed example app with a short drain (the long stream holds it open)."""
    deployed.env["ELB_DRAIN_SECONDS"] = DRAIN
    return deployed


def api_port(app: Clone) -> int:
    return app.ports["API_PORT"]


def assert_no_failures(load: Load) -> None:
    failed = load.failures
    assert not failed, f"{len(failed)} of {load.count()} failed, first: {failed[:3]}"


def test_a_healthy_upgrade_then_a_crash_on_start_fail_no_request_status_shows_each_route(
    live: Clone, engine: Any
) -> None:
    assert_routes(live, api=f"{live.name}--1")
    live.set_version("1.1.0")
    with Load(api_port(live)) as load:
        done = live.run("api", "--yes", *FAST_GATE)
        load.wait_for_answers(20)
    assert done.returncode == 0, done.stdout
    assert_no_failures(load)
    old, new = f"{live.name}--1", f"{live.name}--2"
    # Old until the switch, new after (the switch is one runtime-API write; a request
    # landing inside it may still see the old slot once).
    seen = load.revisions()
    assert (seen[0], seen[-1], set(seen)) == (old, new, {old, new}), seen
    switched = load.first_answer_from(new)
    assert switched is not None
    # The long stream stayed open through the switch (it ends when the drain does).
    assert max(load.long.answers_seen_at_line) > switched, load.long
    # Every short stream completed, and one served by the old revision was in flight
    # when the first answer came from the new one.
    assert load.shorts and all(s.complete and s.lines == 10 for s in load.shorts), load.shorts
    assert any(s.revision == old and s.ended_after > switched for s in load.shorts)
    assert [c.name for c in instances(engine, live.name, "api")] == [f"{live.name}-api--2"]
    assert "drain:" in done.stdout
    assert_routes(live, api=new)  # frontend and terminal were not in the scope

    live.commit("crash on start", {"api/app.py": CRASH_ON_START})
    with Load(api_port(live)) as load:
        done = live.run("api", "--yes", "--health-timeout", "120", *FAST_GATE)
        load.wait_for_answers(20)

    assert done.returncode == 1, done.stdout
    assert_no_failures(load)
    assert load.revisions() == [new]  # the crashing version answered nothing
    assert load.long.error == "" and load.long.revision == new
    assert all(s.complete for s in load.shorts), load.shorts
    last = live.history()[-1]
    assert last["result"] == "upgrade_failed_rolled_back"
    assert "no traffic was moved" in last["message"] and "boom" in done.stdout
    assert [c.name for c in instances(engine, live.name, "api")] == [f"{live.name}-api--2"]


def assert_routes(app: Clone, api: str) -> None:
    """`status` and `status --json` name the revision each public port routes to."""
    expected = {"api": api, "frontend": f"{app.name}--1", "terminal": f"{app.name}--1"}
    done = app.run("status")
    assert done.returncode == 0, done.stdout
    for name, revision in expected.items():
        port = app.ports[f"{name.upper()}_PORT"]
        assert f"127.0.0.1:{port}  {name} → {revision} (127.0.0.1:" in done.stdout
    data = json.loads(app.run("status", "--json").stdout)
    assert {r["container"]: r["revision"] for r in data["routes"]} == expected


def test_rollbacks_fail_no_request_then_a_proxy_off_its_ports_or_stopped_fails_the_preflight(
    live: Clone, engine: Any
) -> None:
    live.set_version("2.0.0")
    assert live.run("full", "--yes", *FAST_GATE).returncode == 0
    with Load(api_port(live)) as load:
        done = live.run("rollback", "--yes", *FAST_GATE)
        load.wait_for_answers(20)
    assert done.returncode == 0, done.stdout
    assert_no_failures(load)
    seen = load.revisions()
    assert (seen[0], seen[-1], len(set(seen))) == (f"{live.name}--2", f"{live.name}--3", 2), seen
    assert all(s.complete for s in load.shorts), load.shorts
    code, body = live.ready()
    assert (code, body["version"], live.results()[-1]) == (200, "1.0.0", "rollback_success")
    assert body["revision"] == f"{live.name}--3"
    # Rolling back again finds every container already on the snapshot's release.
    before = running(engine, live.name)
    again = live.run("rollback", "--yes", *FAST_GATE)
    assert again.returncode == 0, again.stdout
    assert f"already runs {live.name}--1 (tag " in again.stdout
    assert "nothing changed" in again.stdout
    assert running(engine, live.name) == before
    assert live.ready()[1]["revision"] == f"{live.name}--3"

    before = app_containers(engine, live.name)
    deployed_port = live.env["FRONTEND_PORT"]
    live.env["FRONTEND_PORT"] = moved = str(free_port())  # the config moves, the proxy not
    done = live.run("frontend", "--yes")
    assert done.returncode == 1, done.stdout
    assert "listens on" in done.stdout and f"frontend:{moved}" in done.stdout
    assert f"docker rm -f {live.name}-proxy" in done.stdout
    assert app_containers(engine, live.name) == before
    live.env["FRONTEND_PORT"] = deployed_port

    engine.containers.get(f"{live.name}-proxy").stop(timeout=5)
    before = app_containers(engine, live.name)
    live.set_version("1.1.0")
    done = live.run("api", "--yes")
    assert done.returncode == 1, done.stdout
    assert f"the proxy {live.name}-proxy in front of {live.name} is down" in done.stdout
    assert f"docker start {live.name}-proxy" in done.stdout and "Traceback" not in done.stdout
    assert "nothing was changed" in done.stdout
    assert app_containers(engine, live.name) == before
    assert live.results()[-2:] == ["preflight_failed", "preflight_failed"]


def running(engine: Any, app: str) -> dict[str, str]:
    """Name → ID of every running container of `app`."""
    found = engine.containers.list(filters={"label": f"elb-upgrade.app={app}"})
    return {c.name: c.id for c in found}


# kill -9 of the CLI at each phase of a blue/green upgrade: the line after which it dies.
PHASES = {
    "deploy": r"api: .* as revision",  # staging (the new container may or may not exist)
    "gate": r"gate: waiting",  # the new revision runs on its private port, unrouted
    "drain": r"api: port \d+ →",  # traffic switched, the old revision draining
    "retire": r"stopping .*drained",  # the old revision being stopped
}


# Two phases per app: the run after the first kill cleans up and leaves one revision
# serving, the state every kill starts from, so the second kill needs no first deploy.
@pytest.mark.parametrize("phases", [("deploy", "gate"), ("drain", "retire")], ids="-".join)
def test_kill_9_leaves_one_revision_serving_and_the_next_run_cleans_up(
    live: Clone, engine: Any, phases: tuple[str, str]
) -> None:
    for n, phase in enumerate(phases):
        with subtest(phase):
            kill_9_then_upgrade(
                live, engine, phase, versions=(f"1.{2 * n + 1}.0", f"1.{2 * n + 2}.0")
            )


@contextlib.contextmanager
def subtest(phase: str) -> Iterator[None]:
    """Name the phase in a failure (the second phase runs on the first one's app)."""
    try:
        yield
    except AssertionError as exc:
        raise AssertionError(f"kill -9 at {phase}: {exc}") from exc


def kill_9_then_upgrade(live: Clone, engine: Any, phase: str, versions: tuple[str, str]) -> None:
    # The long stream keeps a drain open; the kill at "drain" lands inside a 60 s one.
    live.env["ELB_DRAIN_SECONDS"] = "60" if phase == "drain" else DRAIN
    live.set_version(versions[0])
    with Load(api_port(live)) as load:
        lines = Lines(live.popen("api", "--yes", *FAST_GATE))
        lines.wait_for(PHASES[phase])
        os.kill(lines.process.pid, signal.SIGKILL)
        lines.finish()
        load.wait_for_answers(50)
        serving = load.revisions()[-1]
        load.wait_for_answers(50)
        assert load.revisions()[-1] == serving  # one revision serves after the kill
        live.set_version(versions[1])
        again = live.run("api", "--yes", *FAST_GATE)
        load.wait_for_answers(20)
    assert again.returncode == 0, again.stdout
    assert_no_failures(load)
    final = load.revisions()[-1]
    assert final != serving and live.ready()[1]["version"] == versions[1]
    number = final.rpartition("--")[2]
    assert [c.name for c in instances(engine, live.name, "api")] == [f"{live.name}-api--{number}"]
    state = json.dumps(routes(live))
    assert "DRAIN" not in state and final in state


def routes(app: Clone) -> dict[str, Any]:
    done = app.run("status", "--json")
    data: dict[str, Any] = json.loads(done.stdout)
    return {"routes": data["routes"], "proxy": proxy_stat(app)}


def proxy_stat(app: Clone) -> str:
    import socket

    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(str(PROXY_STATE / app.name / "admin.sock"))
        sock.sendall(b"show stat -1 4 -1\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def app_containers(engine: Any, app: str) -> list[tuple[str, str]]:
    """Name and status of every container of `app`, its proxy included."""
    found = engine.containers.list(all=True, filters={"label": f"elb-upgrade.app={app}"})
    found += engine.containers.list(all=True, filters={"name": f"^{app}-proxy$"})
    return sorted((c.name, c.status) for c in found)
