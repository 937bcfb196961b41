"""SIGINT and SIGTERM in every phase: one history line with the right result, the lock
free, a non-zero exit, and no container left half-updated by a second Ctrl+C."""

from __future__ import annotations

import io
import os
import signal
import subprocess

import pytest

from elb_upgrade import run
from elb_upgrade.run import Options
from elb_upgrade.ui import PlainReporter
from fakes.app import App
from reliability.relkit import (
    V0,
    V1,
    Watched,
    history_lines,
    lock_is_free,
    release,
    snapshot_images,
    wait_mark,
    write_snapshot,
)

SIGNALS = {"SIGINT": (signal.SIGINT, 130), "SIGTERM": (signal.SIGTERM, 143)}
NEW = {"api": "demo-api:v2", "worker": "demo-api:v2", "frontend": "demo-frontend:v2"}

# phase → (pause point, args, result, images afterwards, does the signal wait for the step)
PHASES = {
    "preflight": ("check", ["full", "--yes", "--tag", "v2"], "aborted", V1, False),
    "snapshot": ("snapshot", ["full", "--yes", "--tag", "v2"], "aborted", V1, False),
    "build": ("build", ["full", "--yes", "--tag", "v2"], "build_in_progress", V1, False),
    "deploy": ("deploy#1:worker", ["full", "--yes", "--tag", "v2"], "build_in_progress", NEW, True),
    "gate": ("status", ["full", "--yes", "--tag", "v2"], "aborted", NEW, False),
    "rollback": ("deploy#2:worker", ["full", "--yes", "--tag", "bad"], "aborted", V1, True),
}


@pytest.mark.parametrize("sig", list(SIGNALS))
@pytest.mark.parametrize("phase", list(PHASES))
@pytest.mark.usefixtures("soak")
def test_signal_in_every_phase(app: App, phase: str, sig: str) -> None:
    point, args, result, images, shielded = PHASES[phase]
    signum, code = SIGNALS[sig]
    write_snapshot(app, V0, "demo--0")
    app.set(pause={point: 60}, crash_tags=["bad"])
    watched = Watched(app, *args)
    wait_mark(app, point)
    watched.proc.send_signal(signum)
    if shielded:  # the deploy or restore finishes first, whole
        watched.wait_for("interrupt received: finishing first")
        release(app, point)
    assert watched.finish() == code, watched.stderr
    app.set(pause={})

    [line] = history_lines(app)
    assert (line["result"], line["exit_code"]) == (result, code)
    assert f"during {phase}" in line["message"]
    assert "Traceback" not in watched.stderr
    assert app.get()["images"] == images  # never half-deployed, never half-restored
    assert lock_is_free(app)
    assert snapshot_images(app) == (V0 if phase in ("preflight", "snapshot") else V1)
    if phase in ("deploy", "gate", "rollback"):  # the ending says what each container runs
        assert (
            "running now: " + ", ".join(f"{n}={i}" for n, i in images.items()) in (line["message"])
        )


@pytest.mark.parametrize("how", ["explicit", "auto"])
@pytest.mark.usefixtures("soak")
def test_second_and_third_signal_during_rollback_do_not_cut_the_restore(app: App, how: str) -> None:
    """Ctrl+C, Ctrl+C, SIGTERM in the middle of a restore: every container is restored,
    the run then stops (exit 130, the first signal) and says what each one runs."""
    write_snapshot(app, V1, "demo--1")
    if how == "explicit":
        app.set(images=dict(NEW), revision="demo--2")
        point, args = "deploy#1:worker", ["rollback", "--yes"]
    else:
        app.set(crash_tags=["bad"])
        point, args = "deploy#2:worker", ["full", "--yes", "--tag", "bad"]
    app.set(pause={point: 60})
    watched = Watched(app, *args)
    wait_mark(app, point)
    assert app.get()["images"]["api"] == "demo-api:v1"  # half-way: api back, worker not
    assert app.get()["images"]["worker"] != "demo-api:v1"
    for count, signum in enumerate((signal.SIGINT, signal.SIGINT, signal.SIGTERM), start=1):
        watched.proc.send_signal(signum)
        watched.wait_for("interrupt received", count=count)
    release(app, point)
    assert watched.finish() == 130, watched.stderr
    app.set(pause={})
    assert app.get()["images"] == V1
    [line] = history_lines(app)
    assert line["result"] == "aborted" and line["exit_code"] == 130
    assert "during rollback" in line["message"]
    assert "api=demo-api:v1, worker=demo-api:v1, frontend=demo-frontend:v1" in line["message"]
    assert "worker: demo-api:v1 (restored)" in watched.stderr
    assert "elb-upgrade rollback --yes" in watched.stderr  # how to gate it now
    assert lock_is_free(app)


@pytest.mark.parametrize("sig", list(SIGNALS))
def test_signal_at_the_prompt(app: App, sig: str) -> None:
    signum, code = SIGNALS[sig]
    watched = Watched(app, "api")
    watched.wait_for("Proceed? [y/N]")
    watched.proc.send_signal(signum)
    assert watched.finish() == code
    [line] = history_lines(app)
    assert line["result"] == "aborted" and "during confirm" in line["message"]
    assert app.get()["built"] == [] and lock_is_free(app)


@pytest.mark.parametrize("sig", list(SIGNALS))
def test_signal_while_waiting_for_the_lock_leaves_the_holder_alone(app: App, sig: str) -> None:
    signum, code = SIGNALS[sig]
    holder = Watched(app, "api")
    holder.wait_for("Proceed? [y/N]")
    waiter = Watched(app, "api", "--yes", "--lock-wait", "60")
    waiter.wait_for("waiting up to 60s")
    waiter.proc.send_signal(signum)
    assert waiter.finish() == code
    assert holder.proc.poll() is None  # still holding, still asking
    holder.answer("y\n")
    assert holder.finish() == 0
    results = [(line["result"], line["exit_code"]) for line in history_lines(app)]
    assert results == [("aborted", code), ("success", 0)]
    assert lock_is_free(app)


class SignallingReporter(PlainReporter):
    """Sends its own process `signum` on the first error it prints: a second signal that
    lands while the run is deciding and recording its ending."""

    def __init__(self, signum: int) -> None:
        super().__init__(io.StringIO(), None)
        self.signum = signum
        self.sent = False

    def error(self, message: str) -> None:
        super().error(message)
        if not self.sent:
            self.sent = True
            os.kill(os.getpid(), self.signum)


@pytest.mark.parametrize(
    "signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["SIGINT", "SIGTERM", "SIGHUP"]
)
@pytest.mark.usefixtures("restored_signals")
def test_a_signal_during_the_ending_cannot_cost_the_history_line(app: App, signum: int) -> None:
    ui = SignallingReporter(signum)
    env = app.env()
    finished = run.upgrade(Options(scope="nope"), env, app.root, ui)
    assert ui.sent and finished.exit_code == 1
    [line] = history_lines(app)
    assert line["result"] == "aborted" and line["scope"] == "unknown"


def test_sighup_during_a_restore_is_held_like_ctrl_c(app: App) -> None:
    """A closed terminal (SIGHUP) in the middle of a restore does not cut it either."""
    write_snapshot(app, V1, "demo--1")
    app.set(images=dict(NEW), revision="demo--2", pause={"deploy#1:worker": 60})
    watched = Watched(app, "rollback", "--yes")
    wait_mark(app, "deploy#1:worker")
    watched.proc.send_signal(signal.SIGHUP)
    watched.wait_for("interrupt received")
    release(app, "deploy#1:worker")
    assert watched.finish() == 129
    assert app.get()["images"] == V1
    [line] = history_lines(app)
    assert line["result"] == "aborted" and line["exit_code"] == 129


def test_a_closed_stderr_does_not_change_the_outcome(app: App) -> None:
    """A dead log pipe (`| tee` killed) must not turn a success into a crash."""
    proc = app.popen("api", "--yes", "--tag", "v2")
    assert proc.stderr is not None
    proc.stderr.close()
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert out.startswith("success:")
    [line] = history_lines(app)
    assert line["result"] == "success"


def test_a_background_run_that_inherited_sigint_ignored_still_stops_on_sigint(app: App) -> None:
    """`elb-upgrade api --yes &` from a script starts with SIGINT ignored; `kill -INT` must
    still stop it (build_in_progress, 130), not let it deploy on."""
    app.set(pause={"build": 60})
    ignoring = ["bash", "-c", "trap '' INT; exec \"$@\"", "bash"]  # what `&` does
    proc = subprocess.Popen(
        [*ignoring, *app.command("api", "--yes", "--tag", "v2")],
        cwd=app.root,
        env=app.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_mark(app, "build")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)  # ignored, it would sit out the 60 s pause
    assert proc.returncode == 130, err
    app.set(pause={})
    [line] = history_lines(app)
    assert (line["result"], line["exit_code"]) == ("build_in_progress", 130)
    assert app.get()["deploys"] == [] and lock_is_free(app)
