"""A run forked by the zygote (fakes/zygote.py) is the process `python -m elb_upgrade` (or
the console script) would be: the same output and exit status, its own pid, streams,
folder and environment."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from fakes.app import App
from fakes.cli import command
from fakes.sandbox import BIN
from fakes.zygote import Forked, console_script

PIPE = subprocess.PIPE


def forked(app: App, *args: str, **env: str) -> Forked:
    return Forked(
        command(*args),
        cwd=app.root,
        env=app.env(**env),
        stdin=PIPE,
        stdout=PIPE,
        stderr=PIPE,
        text=True,
    )


def execd(app: App, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(*args),
        cwd=app.root,
        env=app.env(),
        input="",
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_output_and_exit_status_are_those_of_an_execd_interpreter(app: App) -> None:
    for args in (("--version",), ("--no-such-flag",), ("history", "--json")):
        proc = forked(app, *args)
        out, err = proc.communicate("", timeout=60)
        fresh = execd(app, *args)
        assert (proc.returncode, out, err) == (fresh.returncode, fresh.stdout, fresh.stderr)
    assert fresh.returncode == 0 and fresh.stdout == ""  # no history yet: an empty list


def test_a_run_has_its_own_pid_folder_environment_and_stdin(app: App) -> None:
    proc = forked(app, "api")  # asks to confirm, on its stdin
    out, err = proc.communicate("n\n", timeout=60)
    assert proc.pid not in (os.getpid(), os.getppid())
    assert proc.returncode == 1 and "Traceback" not in err
    assert out.startswith("aborted_by_user: demo api")  # the config of its folder
    assert "declined at the prompt; nothing was changed" in err  # read "n" from its stdin
    (line,) = app.history.read_text().splitlines()  # $ELB_UPGRADE_HISTORY of its environment
    assert '"result":"aborted_by_user"' in line


def test_a_signal_ends_it_as_it_would_end_a_process(app: App) -> None:
    proc = forked(app, "api")  # waits on its stdin for the confirmation
    try:
        assert proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        proc.kill()
        proc.communicate()


def test_the_console_script_runs_as_the_installed_one(app: App, tmp_path: Path) -> None:
    shim = console_script(tmp_path / "bin")
    for args in ("--help", "--version", "history --json | wc -c", "--no-such-flag"):
        outcomes = []
        for folder in (shim, BIN):
            env = {**app.env(), "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}
            done = subprocess.run(
                ["bash", "-o", "pipefail", "-c", f"elb-upgrade {args}"],
                cwd=app.root, env=env, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            outcomes.append((done.returncode, done.stdout, done.stderr))
        assert outcomes[0] == outcomes[1], args
    assert outcomes[0][0] == 2 and "No such option" in outcomes[0][2]
