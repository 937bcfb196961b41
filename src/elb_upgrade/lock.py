"""The per-app exclusive lock: `fcntl.flock` on `<snapshot>.lock`, held for the whole run.

Why flock and not a PID file: the kernel drops the lock when the holding process dies,
`kill -9` included, so a crashed run never blocks the next one and nobody has to clean
up by hand. The holder writes who it is into the file for the next operator to read;
that record may outlive its holder, and is then only a harmless leftover.

The descriptor is opened close-on-exec (Python's default) so a child process (git, a
build tool, the docker CLI) that outlives us can never keep the lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import getpass
import json
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from elb_upgrade.clock import Clock, SystemClock, iso_z
from elb_upgrade.errors import LockHeldError, UnsafePathError


@dataclass(frozen=True)
class Holder:
    """Who holds (or last held) the lock."""

    pid: int
    user: str
    host: str
    scope: str
    started: str

    def describe(self) -> str:
        return f"pid {self.pid}, {self.user}@{self.host}, scope {self.scope}, since {self.started}"

    @classmethod
    def current(cls, scope: str, clock: Clock) -> Holder:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = str(os.getuid())
        return cls(os.getpid(), user, socket.gethostname(), scope, iso_z(clock.utcnow()))


def lock_path(snapshot: Path) -> Path:
    return snapshot.with_name(snapshot.name + ".lock")


def open_private(path: Path, flags: int) -> int:
    """Open `path` without following a symlink; refuse a file another user owns."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePathError(
                f"{path} is a symlink; refusing to follow it",
                hint=f"someone planted it: inspect and remove {path}",
            ) from exc
        raise
    info = os.fstat(fd)
    if info.st_uid != os.getuid():
        os.close(fd)
        raise UnsafePathError(
            f"{path} is owned by uid {info.st_uid}, not you; refusing to use it",
            hint=f"remove it or point $ELB_UPGRADE_SNAPSHOT elsewhere ({path})",
        )
    return fd


def read_holder(path: Path) -> Holder | None:
    """The holder record in the lock file, if it holds a readable one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Holder(**{k: data[k] for k in Holder.__dataclass_fields__})
    except (OSError, ValueError, KeyError, TypeError):
        return None


def is_held(path: Path) -> bool:
    """Whether a live process holds the lock at `path` right now."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


class Lock:
    """An acquired lock; release it with `release()` or by leaving `acquire()`'s block."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self._fd = path, fd

    def release(self) -> None:
        if self._fd < 0:
            return
        # Clear the record first so `lock status` never shows a finished run as a leftover.
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = -1


def try_acquire(path: Path, holder: Holder) -> Lock:
    """Take the lock now or raise LockHeldError naming the holder."""
    fd = open_private(path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        other = read_holder(path)
        who = f" ({other.describe()})" if other else ""
        raise LockHeldError(
            f"another elb-upgrade run holds {path}{who}",
            path=path,
            holder=other.describe() if other else "",
        ) from None
    record = json.dumps(asdict(holder)).encode() + b"\n"
    os.ftruncate(fd, 0)
    os.pwrite(fd, record, 0)
    return Lock(path, fd)


@contextlib.contextmanager
def acquire(
    path: Path,
    holder: Holder,
    wait: float = 0.0,
    clock: Clock | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[Lock]:
    """Hold the lock for the block; wait up to `wait` seconds for it first."""
    clock = clock or SystemClock()
    deadline = clock.monotonic() + wait
    told = False
    while True:
        try:
            lock = try_acquire(path, holder)
            break
        except LockHeldError as exc:
            if clock.monotonic() >= deadline:
                raise
            if on_wait and not told:
                on_wait(f"{exc.message}; waiting up to {wait:g}s")
                told = True
            clock.sleep(min(0.2, max(0.0, deadline - clock.monotonic())))
    try:
        yield lock
    finally:
        lock.release()
