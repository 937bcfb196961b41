"""The one CLI runner of the suite: `elb-upgrade` in this process, or as a real process.

`run_cli` calls `elb_upgrade.cli.main.main` in-process with the given environment,
working directory and stdin, and hands back what a `subprocess.CompletedProcess` would:
`returncode`, `stdout`, `stderr`. Nothing of the run leaks into the next test: the
environment, the working directory, the standard streams and the signal handlers a run
installs are all put back.

`run_process` / `popen_process` start `python -m elb_upgrade` for the tests where the
process boundary is the point: signals, kill -9, two processes and one lock, inherited
descriptors, exit statuses. The process is forked from this worker's zygote
(fakes/zygote.py), which imported the CLI once; `run_process` with a `prefix` (`setsid`)
and the tests of the console script exec a fresh interpreter (`command`).
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from fakes.zygote import Forked

HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass
class Ran:
    """What one in-process run printed and returned (the fields of CompletedProcess)."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str


def command(*args: str) -> list[str]:
    """The argv of a real `elb-upgrade` process (`python -m elb_upgrade ...`)."""
    return [sys.executable, "-m", "elb_upgrade", *args]


@contextlib.contextmanager
def _process_state(env: Mapping[str, str], cwd: Path) -> Iterator[None]:
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    saved_signals = {s: signal.getsignal(s) for s in HELD_SIGNALS}
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        for signum, handler in saved_signals.items():
            signal.signal(signum, handler)


def run_cli(
    args: Sequence[str], *, cwd: Path, env: Mapping[str, str], input: str | None = ""
) -> Ran:
    """Run `elb-upgrade ARGS` in this process, as a shell in `cwd` with `env` would."""
    from elb_upgrade.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    saved_streams = (sys.stdin, sys.stdout, sys.stderr)
    with _process_state(env, cwd):
        sys.stdin, sys.stdout, sys.stderr = io.StringIO(input or ""), out, err
        try:
            code = main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            sys.stdin, sys.stdout, sys.stderr = saved_streams
    return Ran(list(args), code, out.getvalue(), err.getvalue())


def run_process(
    args: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    input: str | None = "",
    timeout: float = 60,
    prefix: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """Run `elb-upgrade ARGS` as its own process: forked by the zygote, or, when `prefix`
    wraps it (e.g. `setsid`), in a freshly exec'd interpreter."""
    start = subprocess.Popen if prefix else Forked
    pipes = subprocess.PIPE
    with start(
        [*prefix, *command(*args)],
        cwd=cwd,
        env=dict(env),
        stdin=pipes,
        stdout=pipes,
        stderr=pipes,
        text=True,
    ) as proc:
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def popen_process(
    args: Sequence[str], *, cwd: Path, env: Mapping[str, str]
) -> subprocess.Popen[str]:
    """Start `elb-upgrade ARGS` as its own process with piped stdin, stdout and stderr."""
    return Forked(
        command(*args),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
