"""`python -m elb_upgrade` as a real process, without paying for the interpreter start-up.

The tests where a process boundary is the point (signals, kill -9, two processes and one
lock, exit statuses) start about 200 `elb-upgrade` processes; each spends about 0.3 s of
CPU importing click, rich, httpx and the run before doing anything, a sixth of the suite's
CPU on this 2-core machine. So each test worker starts one *zygote*: a Python process that
imports those modules once and then forks one child per run.

A child is a process of its own, as `subprocess.Popen` would make it: its own pid, its
stdin, stdout and stderr are the pipes (or files) the test asked for, nothing else of the
zygote is open in it, its environment, working directory, `sys.argv` and `sys.path` are
what `python -m elb_upgrade` started in that folder with that environment would have, and
it runs `elb_upgrade/__main__.py` with `runpy` (or a `python -c` program, in a fresh
`__main__`), so it ends as that process would: through the interpreter's own exit
(atexit, flushing, an uncaught exception's traceback and exit status 1, SIGINT's
re-raise). Signal dispositions are the zygote's, which it inherited from
the worker exactly as an exec'd child would (Python resets none of them at start-up that it
did not reset in the zygote).

`Forked` is a `subprocess.Popen` whose child comes from the zygote: `communicate`,
timeouts, `send_signal`, `kill` and the pipes are Popen's own; only starting the child and
learning its exit status differ (the zygote reaps it and reports the status, which is the
same number `waitpid` gives: minus the signal number for a signal). Tests that need a real
`exec` (the console script, the fast entry point, a `setsid` prefix, bytes argv) keep using
`subprocess` with `fakes.cli.command`.
"""

from __future__ import annotations

import array
import contextlib
import gc
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fakes.herd import TESTS

# What most runs import: once in the zygote, before any fork (httpcore and h11 are what
# httpx imports on its first request). Not the docker or Azure SDKs: the few runs that
# need them import them, and a bigger zygote makes every child's exit dearer. Nothing of
# the tests' own (`fakes`): a child finds those on its own PYTHONPATH, or does not.
PRELOAD = (
    "elb_upgrade.cli.main",
    "elb_upgrade.run",
    "elb_upgrade.readiness_fetch",
    "elb_upgrade.gitops",
    "elb_upgrade.health",
    "elb_upgrade.history.read",
    "elb_upgrade.state.local",
    "elb_upgrade.status",
    "httpx",
    "httpcore",
    "h11",
)
PACKET = 1 << 20  # one request (argv, environment, folder) fits in one packet


# -- the test side ---------------------------------------------------------------------------


class _Zygote:
    """This worker's zygote: starts children and hears of their ends."""

    def __init__(self) -> None:
        self._sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._folder = tempfile.TemporaryDirectory(prefix="elb-zygote-")
        self.address = str(Path(self._folder.name) / "console.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        listener.bind(self.address)
        listener.listen(16)
        bootstrap = (
            "import sys; sys.path.insert(0, sys.argv[1]); "
            "from fakes.zygote import serve; serve(int(sys.argv[2]), int(sys.argv[3]))"
        )
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        fds = [theirs.fileno(), listener.fileno()]
        self._proc = subprocess.Popen(
            [sys.executable, "-c", bootstrap, str(TESTS), *map(str, fds)],
            pass_fds=fds,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        theirs.close()
        listener.close()
        self._changed = threading.Condition()
        self._started: dict[int, int] = {}  # request number -> pid
        self._exits: dict[int, int] = {}  # pid -> exit status (Popen's returncode)
        self._requests = 0
        self._send = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def alive(self) -> bool:
        return self._proc.poll() is None and self._reader.is_alive()

    def _read(self) -> None:
        while True:
            try:
                data = self._sock.recv(PACKET)
            except OSError:
                data = b""
            if not data:
                break
            word, first, second = data.decode().split()
            with self._changed:
                if word == "pid":
                    self._exits.pop(int(second), None)  # a recycled pid's old status
                    self._started[int(first)] = int(second)
                else:
                    self._exits[int(first)] = int(second)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def spawn(self, argv: Sequence[str], env: Mapping[str, str], cwd: str, fds: list[int]) -> int:
        request = json.dumps({"argv": list(argv), "env": dict(env), "cwd": cwd}).encode()
        with self._send:
            self._requests += 1
            number = self._requests
            ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
            self._sock.sendmsg([str(number).encode() + b" " + request], ancillary)
        with self._changed:
            self._changed.wait_for(lambda: number in self._started or not self.alive(), 60)
            if number not in self._started:
                raise OSError(f"the test zygote did not start run {number} (it exited?)")
            return self._started.pop(number)

    def status(self, pid: int) -> int | None:
        with self._changed:
            return self._exits.get(pid)

    def wait(self, pid: int, timeout: float | None) -> int | None:
        with self._changed:
            self._changed.wait_for(lambda: pid in self._exits or not self.alive(), timeout)
            return self._exits.get(pid)


_ZYGOTE: _Zygote | None = None
_ZYGOTE_LOCK = threading.Lock()


def _zygote() -> _Zygote:
    global _ZYGOTE
    with _ZYGOTE_LOCK:
        if _ZYGOTE is None or not _ZYGOTE.alive():
            _ZYGOTE = _Zygote()
        return _ZYGOTE


SHIM = """#!{python} -SE
# `elb-upgrade` for a test's shell commands: the run is forked by the test worker's zygote
# (fakes/zygote.py) with this process's streams, environment and folder; this process
# waits for its end and ends the same way.
import array, json, os, signal, socket, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
sock.connect({address!r})
run = {{"mode": "console", "argv": sys.argv, "env": dict(os.environ), "cwd": os.getcwd()}}
streams = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [0, 1, 2]))]
sock.sendmsg([b"0 " + json.dumps(run).encode()], streams)
code = 1
while data := sock.recv(4096):
    word, _, status = data.decode().split()
    if word == "exit":
        code = int(status)
        break
if code < 0:
    signal.signal(-code, signal.SIG_DFL)
    os.kill(os.getpid(), -code)
sys.exit(code)
"""


def console_script(folder: Path) -> Path:
    """`folder/elb-upgrade`: the console script for shell commands (a test's `PATH`), whose
    runs this worker's zygote forks. Each behaves as the installed console script does
    (`elb_upgrade.cli.fast:main`, the same streams, exit status and environment) and costs
    about 30 ms of CPU instead of 0.4 s; a signal sent to it is not passed on. Returns
    `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "elb-upgrade"
    script.write_text(SHIM.format(python=sys.executable, address=_zygote().address))
    script.chmod(0o755)
    return folder


class Forked(subprocess.Popen[str]):
    """A Popen whose child is forked by this worker's zygote (see the module docstring)."""

    _zygote: _Zygote

    def _execute_child(  # type: ignore[override]
        self,
        args: Sequence[str],
        executable: object,
        preexec_fn: object,
        close_fds: bool,
        pass_fds: Sequence[int],
        cwd: str | os.PathLike[str] | None,
        env: Mapping[str, str] | None,
        *rest: Any,
    ) -> None:
        p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite = rest[3:9]
        assert not pass_fds and preexec_fn is None, "a forked run takes only its three streams"
        fds = [fd if fd != -1 else n for n, fd in enumerate((p2cread, c2pwrite, errwrite))]
        self._zygote = _zygote()
        environ = os.environ if env is None else env
        self.pid = self._zygote.spawn(
            [os.fsdecode(a) for a in args],
            {str(k): str(v) for k, v in environ.items()},
            os.fsdecode(cwd or os.getcwd()),
            fds,
        )
        self._child_created = True
        self._close_pipe_fds(p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite)  # type: ignore[attr-defined]

    def _internal_poll(self, _deadstate: object = None, *_: object, **__: object) -> int | None:
        if self.returncode is None:
            status = self._zygote.status(self.pid)
            if status is not None:
                self.returncode = status
        return self.returncode

    def _wait(self, timeout: float | None) -> int:
        if self.returncode is None:
            status = self._zygote.wait(self.pid, timeout)
            if status is None:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            self.returncode = status
        return self.returncode


# -- the zygote (this module, started by _Zygote) ---------------------------------------------


def serve(control_fd: int, listener_fd: int) -> None:
    """Import PRELOAD, then fork a child per request until the worker goes away.

    Requests come from the worker (`control`, Popen's) and from console scripts
    (`listener`, one connection per run, told of its run's end). Returns only in a child,
    which then becomes `python -m elb_upgrade` or the console script (`_become`)."""
    import importlib

    base_path = sys.path[2:]  # past '' (from -c) and TESTS: stdlib and site-packages
    for name in PRELOAD:
        importlib.import_module(name)
    # What the zygote imported is never garbage: out of the collector's sight, a child's
    # collections and its exit do not touch (and so copy) those pages. A child's exit costs
    # about 25 ms of CPU then, 80 ms without.
    gc.collect()
    gc.freeze()
    control = socket.socket(fileno=control_fd)
    listener = socket.socket(fileno=listener_fd)
    owners: dict[int, socket.socket] = {}  # pid -> where its end is reported
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    old_wakeup = signal.set_wakeup_fd(wake_write)
    old_chld = signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ)
    selector.register(listener, selectors.EVENT_READ)
    selector.register(wake_read, selectors.EVENT_READ)
    while True:
        for key, _ in selector.select():
            if key.fileobj is listener:
                selector.register(listener.accept()[0], selectors.EVENT_READ)
            elif isinstance(key.fileobj, socket.socket):
                asker = key.fileobj
                data, fds, _flags, _addr = socket.recv_fds(asker, PACKET, 3)
                if not data and asker is control:
                    os._exit(0)  # the worker is gone; running children carry on alone
                if not data:
                    selector.unregister(asker)
                    asker.close()
                    continue
                number, _, body = data.partition(b" ")
                pid = os.fork()
                if pid == 0:
                    for sock in [k.fileobj for k in selector.get_map().values()]:
                        if isinstance(sock, socket.socket):
                            sock.close()
                    selector.close()
                    signal.set_wakeup_fd(old_wakeup)
                    signal.signal(signal.SIGCHLD, old_chld)
                    os.close(wake_read)
                    os.close(wake_write)
                    _become(json.loads(body), fds, base_path)
                    return
                for fd in fds:
                    os.close(fd)
                owners[pid] = asker
                asker.send(f"pid {int(number)} {pid}".encode())
            else:
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_read, 4096)
        _reap(control, owners)


def _reap(control: socket.socket, owners: dict[int, socket.socket]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        owner = owners.pop(pid, control)
        with contextlib.suppress(OSError):  # a console script killed meanwhile
            owner.send(f"exit {pid} {os.waitstatus_to_exitcode(status)}".encode())


def _become(run: dict[str, Any], fds: list[int], base_path: list[str]) -> None:
    """Turn this fresh fork into `python -m elb_upgrade ARGV` (or `python -c CODE ARGV`, or
    for a console script `elb-upgrade ARGV`) in `cwd` with `env`."""
    import runpy

    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    os.environ.clear()
    os.environ.update(run["env"])
    os.chdir(run["cwd"])
    tempfile.tempdir = None  # found again from this run's $TMPDIR
    extra = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    argv = list(run["argv"])
    if run.get("mode") == "console":  # as the installed script: its folder is sys.path[0]
        sys.path[:] = [os.path.dirname(argv[0]), *extra, *base_path]
        sys.argv = argv
        from elb_upgrade.cli.fast import main

        sys.exit(main())
    if argv[1:2] == ["-c"]:  # `python -c CODE ARGS`: CODE in a fresh __main__
        sys.path[:] = ["", *extra, *base_path]
        sys.argv = ["-c", *argv[3:]]
        main_module = types.ModuleType("__main__")
        sys.modules["__main__"] = main_module
        exec(compile(argv[2], "<string>", "exec"), main_module.__dict__)
        return
    sys.path[:] = [os.getcwd(), *extra, *base_path]
    assert argv[1:3] == ["-m", "elb_upgrade"], f"a forked run is `-m elb_upgrade` or `-c`: {argv}"
    sys.argv = [argv[2], *argv[3:]]  # runpy puts the module's path at [0]
    runpy.run_module("elb_upgrade", run_name="__main__", alter_sys=True)
