"""Many `elb-upgrade` processes at once, for the tests of contention (50 runs and one lock,
four hosts and one shared history).

Starting 50 interpreters costs about 0.15 s of CPU each before a run does anything (0.5 s
with the Azure SDK): most of those tests' cost. `Herd` starts one Python process (this
module, as a script) that imports the CLI and `preload` once and then forks one child per
run, as fast as it can. Each child is a process of its own: its own pid, descriptors,
locks and exit status; it runs `elb_upgrade.cli.main.main` with its own argv, environment
(`os.environ` is replaced, `tempfile` forgets its folder) and working directory, reads
stdin from /dev/null and writes stdout and stderr to files. Nothing else of the launcher
is open in it.

Each run is a `Herded`: the part of `subprocess.Popen` the tests use (`pid`, `poll()`,
`returncode`, `communicate(timeout)`, `kill()`). A child ends as the CLI returns, or by a
signal (`returncode` is then minus the signal number, as with Popen). Runs that need a real
interpreter start-up (the console script, signal handling set up at start) use
`fakes.cli.popen_process` instead.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Spec:
    """One run: `elb-upgrade ARGS` in `cwd` with exactly `env`."""

    args: Sequence[str]
    env: Mapping[str, str]
    cwd: Path


class Herded:
    """One forked run, seen through the Popen methods the tests call."""

    def __init__(self, herd: Herd, index: int, pid: int, out: Path, err: Path) -> None:
        self._herd, self._index, self.pid = herd, index, pid
        self._out, self._err = out, err

    @property
    def returncode(self) -> int | None:
        return self._herd.returncodes.get(self.pid)

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._herd.wait_for(self.pid, timeout):
            raise subprocess.TimeoutExpired(f"herd run {self._index}", timeout or 0)
        return self._herd.returncodes[self.pid]

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        self.wait(timeout)
        return self._out.read_text(), self._err.read_text()

    def kill(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):  # ended since the check
                os.kill(self.pid, signal.SIGKILL)


class Herd:
    """`len(specs)` runs forked from one launcher; `runs[i]` is `specs[i]`'s run."""

    def __init__(self, specs: Sequence[Spec], folder: Path, preload: Sequence[str] = ()) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.returncodes: dict[int, int] = {}
        self._changed = threading.Condition()
        runs = [
            {
                "args": list(spec.args),
                "env": dict(spec.env),
                "cwd": str(spec.cwd),
                "out": str(folder / f"run-{i}.out"),
                "err": str(folder / f"run-{i}.err"),
            }
            for i, spec in enumerate(specs)
        ]
        env = dict(specs[0].env) if specs else dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
        self._launcher = subprocess.Popen(
            [sys.executable, "-m", "fakes.herd"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        assert self._launcher.stdin is not None and self._launcher.stdout is not None
        self._launcher.stdin.write(json.dumps({"preload": list(preload), "runs": runs}))
        self._launcher.stdin.close()
        self.runs: list[Herded] = []
        for i, run in enumerate(runs):  # every child is forked before this returns
            line = self._launcher.stdout.readline().split()
            assert line[:2] == ["pid", str(i)], f"the herd launcher failed: {line}"
            self.runs.append(Herded(self, i, int(line[2]), Path(run["out"]), Path(run["err"])))
        self._reader = threading.Thread(target=self._read_exits, daemon=True)
        self._reader.start()

    def _read_exits(self) -> None:
        assert self._launcher.stdout is not None
        for line in self._launcher.stdout:
            word, pid, code = line.split()
            assert word == "exit", line
            with self._changed:
                self.returncodes[int(pid)] = int(code)
                self._changed.notify_all()
        self._launcher.wait()

    def wait_for(self, pid: int, timeout: float | None) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: pid in self.returncodes, timeout)

    def kill_all(self) -> None:
        for run in self.runs:
            run.kill()


# -- the launcher (this module run as a script) ---------------------------------------------


def _child(run: dict[str, object]) -> None:
    """Become one run: streams, environment, folder; run the CLI; never return."""
    code = 1
    try:
        devnull = os.open(os.devnull, os.O_RDONLY)
        out = os.open(str(run["out"]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        err = os.open(str(run["err"]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        for fd, target in ((devnull, 0), (out, 1), (err, 2)):
            os.dup2(fd, target)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # nothing of the launcher stays open
        os.environ.clear()
        os.environ.update(run["env"])  # type: ignore[arg-type]
        os.chdir(str(run["cwd"]))
        import tempfile

        tempfile.tempdir = None  # found again from this run's $TMPDIR
        args = list(run["args"])  # type: ignore[call-overload]
        sys.argv = ["elb-upgrade", *args]
        from elb_upgrade.cli.main import main

        code = main(args)
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else int(exit.code is not None)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


def _launch() -> None:
    import importlib

    spec = json.load(sys.stdin)
    import elb_upgrade.cli.main  # noqa: F401  (the point: imported once, before the forks)

    for name in spec["preload"]:
        importlib.import_module(name)
    gc.collect()
    gc.freeze()  # what the launcher imported is never garbage: children's collections skip it
    pids: dict[int, int] = {}
    for i, run in enumerate(spec["runs"]):
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            _child(run)
        pids[pid] = i
        print(f"pid {i} {pid}", flush=True)
    while pids:
        pid, status = os.wait()
        pids.pop(pid, None)
        print(f"exit {pid} {os.waitstatus_to_exitcode(status)}", flush=True)


if __name__ == "__main__":
    _launch()
