"""What the operator's terminal shows: rich on a TTY, NO_COLOR honoured, --logs follows."""

from __future__ import annotations

import io
import os
import pty
import re
import signal
import subprocess

import pytest

from elb_upgrade import run
from elb_upgrade.ui import PlainReporter
from fakes.app import App
from fakes.clock import FakeClock
from reliability.relkit import Watched, history_lines, lock_is_free, wait_mark


def _run_on_tty(app: App, *args: str, **env: str) -> tuple[int, str]:
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        app.command(*args),
        cwd=app.root,
        env=app.env(TERM="xterm", **env),
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return proc.wait(timeout=60), b"".join(chunks).decode(errors="replace")


def test_terminal_gets_colour(app: App) -> None:
    code, screen = _run_on_tty(app, "api", "--yes")
    assert code == 0
    assert "preflight" in screen and "ready" in screen
    assert re.search(r"\x1b\[[0-9;]*3[0-9]m", screen)  # a foreground colour


def test_no_color_turns_colour_off(app: App) -> None:
    code, screen = _run_on_tty(app, "api", "--yes", NO_COLOR="1")
    assert code == 0 and "preflight" in screen
    assert not re.search(r"\x1b\[[0-9;]*3[0-9]m", screen)


def test_plain_lines_when_not_a_terminal(app: App) -> None:
    done = app.run("api", "--yes")
    assert "\x1b" not in done.stderr
    assert re.search(r"^\d\d:\d\d:\d\d \+ *\d+\.\ds ==> +preflight", done.stderr, re.M)


def test_logs_follows_the_main_container_after_success(app: App) -> None:
    done = app.run("api", "--logs")  # --logs implies --yes: no prompt
    assert done.returncode == 0, done.stderr
    assert "Proceed?" not in done.stderr
    assert "log line from api" in done.stdout


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM", "SIGKILL"])
def test_logs_follows_only_after_the_run_is_recorded_and_unlocked(app: App, sig: str) -> None:
    """While `--logs` follows, the history line is written, the lock is free and the elapsed
    time is the run's; stopping the follow (Ctrl+C, SIGTERM, even kill -9) changes none."""
    app.set(pause={"logs": 60})
    watched = Watched(app, "api", "--logs", "--tag", "v2")
    wait_mark(app, "logs")
    [line] = history_lines(app)
    assert (line["result"], line["exit_code"]) == ("success", 0)
    assert lock_is_free(app)
    watched.wait_for("following the log")  # printed before the follow; the pipe may lag
    other = app.run("frontend", "--yes", "--tag", "v2")  # a second run is not held back
    assert other.returncode == 0, other.stderr
    watched.proc.send_signal(getattr(signal, sig))
    code = watched.finish()
    app.set(pause={})
    if sig == "SIGKILL":
        assert code == -signal.SIGKILL
    else:
        assert code == 0, watched.stderr  # the run's exit code, not 130 / 143
        assert "stopped following the log; the run's result stands: success" in watched.stderr
        assert watched.stdout.startswith("success: demo api → demo--2")
        assert "log line from api" in watched.stdout
        assert "may be deployed but unverified" not in watched.stderr
    assert [x["result"] for x in history_lines(app)] == ["success", "success"]


def _gate_in_process(app: App, timeout: float) -> str:
    """Run `api` in process on the fake clock (sleeps cost nothing); its plain stderr."""
    out = io.StringIO()
    options = run.Options(scope="api", yes=True, tag="bad", health_timeout=timeout)
    finished = run.upgrade(
        options, app.env(), app.root, PlainReporter(out, None), run.Edges(clock=FakeClock())
    )
    assert finished.outcome.result == "upgrade_failed_rolled_back", out.getvalue()
    return out.getvalue()


@pytest.mark.usefixtures("restored_signals")
def test_a_long_gate_prints_a_plain_progress_line_about_every_15s(app: App) -> None:
    """Without a terminal a CI log must not sit silent for the whole --health-timeout."""
    app.set(broken_tags=["bad"])
    err = _gate_in_process(app, 60)
    waits = re.findall(r"still waiting for demo--2: (\d+)s of 60s; last: (.*)$", err, re.M)
    assert [int(s) // 15 for s, _ in waits] == [1, 2, 3, 4]  # ~15, ~30, ~45, ~60 s
    assert all(15 * (i + 1) <= int(s) < 15 * (i + 1) + 6 for i, (s, _) in enumerate(waits))
    assert {last for _, last in waits} == {"HTTP 503, down: azure_storage"}
    assert "still waiting for demo--3" not in err  # the rollback's gate passes at once


@pytest.mark.usefixtures("restored_signals")
def test_a_short_gate_prints_no_progress_line(app: App) -> None:
    app.set(broken_tags=["bad"])
    assert "still waiting" not in _gate_in_process(app, 10)
