"""Helpers for the reliability suite: runs watched from outside, pause points, a misbehaving
readiness server (the clock whose sleeps cost nothing is fakes/clock.py's `real=True`)."""

from __future__ import annotations

import codecs
import json
import os
import socket
import socketserver
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from elb_upgrade import lock, snapshot
from elb_upgrade.platforms.base import AppState, ContainerImage
from fakes.app import App
from fakes.platform import load_state, marks_path, readiness_answer, release_path
from fakes.wait import wait_until

V0 = {"api": "demo-api:v0", "worker": "demo-api:v0", "frontend": "demo-frontend:v0"}
V1 = {"api": "demo-api:v1", "worker": "demo-api:v1", "frontend": "demo-frontend:v1"}
V2 = {"api": "demo-api:v2", "worker": "demo-api:v2", "frontend": "demo-frontend:v2"}


# -- the app's files -------------------------------------------------------------------


def write_snapshot(app: App, images: Mapping[str, str], revision: str) -> None:
    state = AppState(revision, tuple(ContainerImage(n, i) for n, i in images.items()))
    snapshot.write(app.snapshot, snapshot.Snapshot(app.name, "fake", "2026-05-23T00:00:00Z", state))


def snapshot_images(app: App) -> dict[str, str]:
    """The snapshot's images; raises if it is not a whole, valid snapshot."""
    snap = snapshot.read(app.snapshot, app.name)
    return {c.name: c.image for c in snap.state.images}


def lock_is_free(app: App) -> bool:
    return not lock.is_held(app.lock)


def untouched(app: App, images: Mapping[str, str] = V1) -> bool:
    """Nothing built or deployed, and the app runs `images`."""
    state = app.get()
    return state["built"] == [] and state["deploys"] == [] and state["images"] == dict(images)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "ERROR" in line or "Error:" in line]


# -- pause points ----------------------------------------------------------------------


def wait_mark(app: App, point: str, timeout: float = 60.0) -> None:
    """Block until the run reached `point` (see tests/fakes/platform.py)."""
    marks = marks_path(app.state)
    wait_until(
        lambda: marks.exists() and point in marks.read_text().splitlines(),
        timeout,
        what=f"the run reached {point!r}",
        every=0.01,
    )


def release(app: App, point: str) -> None:
    release_path(app.state, point).touch()


# -- a run watched from outside --------------------------------------------------------


class Watched:
    """A CLI run whose stderr is collected as it comes (prompts end without a newline)."""

    def __init__(self, app: App, *args: str, **env: str) -> None:
        self.proc = app.popen(*args, **env)
        self.stdout = ""
        self._text = ""
        self._got = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        fd = self.proc.stderr.fileno()
        while chunk := os.read(fd, 65536):
            with self._got:
                self._text += decoder.decode(chunk)
                self._got.notify_all()

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def stderr(self) -> str:
        with self._got:
            return self._text

    def wait_for(self, text: str, count: int = 1, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        with self._got:
            while self._text.count(text) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{text!r} never appeared in:\n{self._text}"
                self._got.wait(left)

    def answer(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text)
        self.proc.stdin.flush()

    def finish(self, timeout: float = 60.0) -> int:
        assert self.proc.stdout is not None
        self.stdout = self.proc.stdout.read()
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout)
        if self.proc.stdin:
            self.proc.stdin.close()
        return code


# -- time ------------------------------------------------------------------------------


# -- a readiness server that misbehaves on purpose ---------------------------------------

HOSTILE = (
    b"\x1b[2J\x1b[H\x1b]0;pwned\x07\x1b]8;;http://evil.invalid\x1b\\click\x1b]8;;\x1b\\"
    b"\rOVERWRITTEN\x9b31m\xc2\x9b0m\xe2\x80\xaeesrever\x00\x08\x7f"
)


def _json(status: int, body: object) -> tuple[int, bytes]:
    return status, json.dumps(body).encode()


class Misbehaving:
    """A readiness endpoint on a raw socket: `mode` (or `choose()`) picks how it answers.

    Modes: `fake` (the fake platform's answer), `ready:<rev>` (200 from that revision),
    `hang` (reads the request, never answers), `hang_body` (headers, then nothing),
    `trickle_headers` / `trickle_body` (one byte every 50 ms, for ever), `reset` (TCP RST),
    `garbage200` / `garbage503` (not JSON), `huge:<rev>` (200, 50 MB of valid JSON from
    <rev>), `hostile` (503 whose body rewrites terminals, 100 KB), `redirect` (302).
    """

    def __init__(self, state: Path | None = None) -> None:
        self.state = state
        self.mode = "fake"
        self.choose: Callable[[], str] | None = None
        self.sent = 0
        self.hits = 0
        self.stopping = threading.Event()
        kit = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                kit.hits += 1
                kit._serve(self.request)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/health/ready"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            conn.recv(65536)
            mode = self.choose() if self.choose else self.mode
            self._answer(conn, mode)
        except OSError:
            pass

    def _answer(self, conn: socket.socket, mode: str) -> None:
        name, _, arg = mode.partition(":")
        if name in ("hang", "hang_body"):
            if name == "hang_body":
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n{")
            self.stopping.wait(30)
        elif name == "trickle_headers":
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            self._trickle(conn, b"x-slow: " + b"a" * 100_000)
        elif name == "trickle_body":
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n")
            self._trickle(conn, b'{"status": "ready", ' + b" " * 100_000)
        elif name == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif name == "huge":
            self._huge(conn, arg)
        else:
            status, body = self._simple(name, arg)
            head = f"HTTP/1.1 {status} X\r\ncontent-length: {len(body)}\r\n"
            if name == "redirect":
                head += "location: http://127.0.0.1:9/\r\n"
            conn.sendall(head.encode() + b"connection: close\r\n\r\n" + body)

    def _simple(self, name: str, arg: str) -> tuple[int, bytes]:
        if name == "fake":
            assert self.state is not None
            return _json(*readiness_answer(load_state(self.state)))
        if name == "ready":
            return _json(200, {"status": "ready", "revision": arg, "components": {}})
        if name == "garbage200":
            return 200, b"<html>OK \xff\xfe not json"
        if name == "garbage503":
            return 503, b"<html>Service Unavailable</html>"
        if name == "hostile":
            return 503, (HOSTILE + b"\n") * 1500
        if name == "redirect":
            return 302, b""
        raise AssertionError(f"unknown mode {name}")

    def _trickle(self, conn: socket.socket, data: bytes) -> None:
        for i in range(len(data)):
            if self.stopping.wait(0.05):
                return
            conn.sendall(data[i : i + 1])

    def _huge(self, conn: socket.socket, revision: str) -> None:
        total = 50_000_000
        head = json.dumps({"status": "ready", "revision": revision, "pad": ""})[:-2].encode()
        tail = b'"}'
        conn.sendall(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            + f"content-length: {len(head) + total + len(tail)}\r\n\r\n".encode()
            + head
        )
        chunk = b"x" * 65536
        sent = 0
        while sent < total:
            conn.sendall(chunk[: total - sent])
            sent += min(len(chunk), total - sent)
            self.sent = sent
        conn.sendall(tail)


@contextmanager
def misbehaving(state: Path | None = None) -> Iterator[Misbehaving]:
    server = Misbehaving(state)
    try:
        yield server
    finally:
        server.close()


def point_readiness_at(app: App, url: str) -> None:
    """Make the app's config use `url` as its readiness URL (committed: the tree stays clean)."""
    config = app.root / "elb-upgrade.toml"
    config.write_text(config.read_text().replace(app.server.url, url))
    app.commit("readiness elsewhere")


def history_lines(app: App) -> list[dict[str, Any]]:
    """Every line of the history file, each of which must be one valid JSON object."""
    if not app.history.exists():
        return []
    raw = app.history.read_bytes()
    assert raw.endswith(b"\n") or not raw
    return [json.loads(line) for line in raw.splitlines()]


def child_fds(pid: int) -> list[str]:
    """Where each open descriptor of process `pid` points."""
    found = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with suppress(OSError):
            found.append(str(fd.readlink()))
    return found


def alive(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"


def run_quiet(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
