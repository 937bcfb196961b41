"""`elb-upgrade` end to end: the example app, the real engine, the real readiness gate.

Each test works in its own git clone of examples/dashboard with its own app name, ports,
history and snapshot (see appclone.Clone).
"""

from __future__ import annotations

import re
from typing import Any

from appclone import BREAK_STORAGE, CRASH_ON_START, Clone
from dockerkit import Lines, image_of

from fakes.wait import wait_until

FAST_GATE = ("--health-interval", "0.5")


def test_deploy_and_upgrade_serve_their_revisions_then_rollback_to_a_removed_image_is_refused(
    deployed: Clone, engine: Any
) -> None:
    first_image = image_of(engine, deployed.name, "api")
    code, body = deployed.ready()
    assert (code, body["revision"], body["version"]) == (200, f"{deployed.name}--1", "1.0.0")
    wait_until(lambda: f"{deployed.name}--1" in deployed.page(), what="the page")
    assert [(h["scope"], h["result"]) for h in deployed.history()] == [("full", "success")]

    deployed.set_version("1.1.0")
    done = deployed.run("full", "--yes", *FAST_GATE)

    assert done.returncode == 0, done.stdout
    code, body = deployed.ready()
    assert (code, body["revision"], body["version"]) == (200, f"{deployed.name}--2", "1.1.0")
    wait_until(lambda: "1.1.0" in deployed.page(), what="the new version on the page")
    assert deployed.results() == ["success", "success"]

    # noprune: the image goes, its untagged parent layers stay (every copy of the app
    # shares them as its build cache, and another worker may be building on them now).
    engine.images.remove(first_image, force=True, noprune=True)
    done = deployed.run("rollback", "--yes", *FAST_GATE)

    assert done.returncode == 1, done.stdout  # refused before any change: not exit 3
    assert f"cannot roll back: image(s) no longer exist: {first_image}" in done.stdout
    assert "nothing was changed" in done.stdout
    assert deployed.results()[-1] == "aborted"
    code, body = deployed.ready()
    assert (code, body["revision"], body["version"]) == (200, f"{deployed.name}--2", "1.1.0")


def test_broken_readiness_and_a_crash_on_start_are_rolled_back_and_a_run_meanwhile_refused(
    deployed: Clone, engine: Any
) -> None:
    """The crash is rolled back on the engine's word, not at the gate's 120 s budget (how
    fast is measured by bench_docker: crash to the old revision serving)."""
    first_image = image_of(engine, deployed.name, "api")
    deployed.commit("wrong storage endpoint", {"api/settings.py": BREAK_STORAGE})
    first = Lines(deployed.popen("api", "--yes", "--health-timeout", "10", *FAST_GATE))
    first.wait_for(r"gate")  # the first run holds the lock from preflight to the end

    second = deployed.run("api", "--yes")

    assert second.returncode == 1, second.stdout
    assert "another elb-upgrade run holds" in second.stdout
    assert first.finish() == 1
    assert "azure_storage" in first.text() and "ServiceRequestError" in first.text()
    assert sorted(deployed.results()) == ["lock_held", "success", "upgrade_failed_rolled_back"]
    assert deployed.results()[-1] == "upgrade_failed_rolled_back"
    name = deployed.name  # the closing line says what serves now
    assert f"rolled back: {name}--1 kept serving; no traffic was moved" in first.text()
    code, body = deployed.ready()
    # Gated on its private port, discarded: the first revision never stopped serving.
    assert (code, body["revision"]) == (200, f"{deployed.name}--1")
    assert "no traffic was moved" in deployed.history()[-1]["message"]
    assert image_of(engine, deployed.name, "api") == first_image

    deployed.commit("crash on start", {"api/app.py": CRASH_ON_START})
    lines = Lines(deployed.popen("api", "--yes", "--health-timeout", "120", *FAST_GATE))
    deploy_at = lines.wait_for(r"==>\s+deploy\b")
    lines.wait_for(r"rolled back|rollback", after=deploy_at)

    assert lines.finish() == 1
    assert "not ready after 120s" not in lines.text()
    assert re.search(r"exited with code|keeps restarting", lines.text()), lines.text()
    assert "boom: the api cannot start" in lines.text()
    assert deployed.results()[-1] == "upgrade_failed_rolled_back"
    code, body = deployed.ready()
    assert (code, body["revision"]) == (200, f"{deployed.name}--1")
