"""The exclusive locks of a run, held for the whole run, and their inspection (`lock
status`, `status`): `fcntl.flock` on `<snapshot>.lock` (the path operators' scripts know)
and on the per-app lock `<state dir>/elb-upgrade-<app>.lock`, which every checkout of
the app on this host shares whatever its `$ELB_UPGRADE_SNAPSHOT`. A run holds both.

Why flock and not a PID file: the kernel drops the lock when the holding process dies,
`kill -9` included, so a crashed run never blocks the next one and nobody has to clean
up by hand. The holder writes who it is into the file for the next operator to read;
that record may outlive its holder, and is then only a harmless leftover.

The descriptor is opened close-on-exec (Python's default) so a child process (git, a
build tool, the docker CLI) that outlives us can never keep the lock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import getpass
import json
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from elb_upgrade import snapshot
from elb_upgrade.clock import Clock, SystemClock, iso_z, moment
from elb_upgrade.errors import ElbUpgradeError, LockHeldError
from elb_upgrade.safefile import open_private


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


def app_lock_path(app: str, environ: Mapping[str, str]) -> Path:
    """The per-app lock: `$ELB_UPGRADE_STATE_DIR/elb-upgrade-<app>.lock` (default /tmp)."""
    from elb_upgrade.releases import state_dir

    return state_dir(environ) / f"elb-upgrade-{app}.lock"


def read_holder(path: Path) -> Holder | None:
    """The holder record in the lock file, if it holds a readable one."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        return _parse_holder(os.pread(fd, 4096, 0))
    except OSError:
        return None
    finally:
        os.close(fd)


def _parse_holder(raw: bytes) -> Holder | None:
    try:
        data = json.loads(raw)
        return Holder(**{k: data[k] for k in Holder.__dataclass_fields__})
    except (ValueError, KeyError, TypeError):
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
    if not _flock_briefly(fd):
        other = _holder_record(fd)
        os.close(fd)
        who = f" ({other.describe()})" if other else ""
        raise LockHeldError(
            f"another elb-upgrade run holds {path}{who}",
            path=path,
            holder=other.describe() if other else "",
        ) from None
    record = json.dumps(asdict(holder)).encode() + b"\n"
    # Write, then cut: a reader never sees an empty file while we hold the lock.
    os.pwrite(fd, record, 0)
    os.ftruncate(fd, len(record))
    return Lock(path, fd)


def _flock_briefly(fd: int, tries: int = 5) -> bool:
    """Take the exclusive lock, trying a few times over ~40 ms.

    `is_held` (behind `lock status` and `status`) holds a shared lock for microseconds
    to look; a run starting at that instant must not be refused because of it. A real
    holder keeps the lock for seconds, so the retries never hide one.
    """
    for attempt in range(tries):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if attempt < tries - 1:
                time.sleep(0.01)
    return False


def _holder_record(fd: int) -> Holder | None:
    """The holder's record, read through our own descriptor (no path, no symlink).

    A run that has just taken the lock writes its record a moment later: an empty or
    half-written file is read again for up to half a second so the refusal names it.
    """
    for _ in range(25):
        try:
            holder = _parse_holder(os.pread(fd, 4096, 0))
        except OSError:
            return None
        if holder is not None:
            return holder
        time.sleep(0.02)
    return None


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


# -- inspection (`lock status`, `status`): never holds the lock longer than a probe --
@dataclass(frozen=True)
class LockState:
    path: Path
    held: bool
    holder: Holder | None

    @property
    def state(self) -> str:
        """`held`, `leftover` (a dead run's record; the lock is free) or `free`."""
        if self.held:
            return "held"
        return "leftover" if self.holder else "free"

    def held_for(self, now: dt.datetime) -> float | None:
        started = moment(self.holder.started) if self.holder else None
        return (now - started).total_seconds() if started and self.held else None

    def to_json(self, now: dt.datetime) -> dict[str, Any]:
        holder = self.holder
        seconds = self.held_for(now)
        return {
            "path": str(self.path),
            "state": self.state,
            "held": self.held,
            "holder": None if holder is None else vars(holder).copy(),
            "held_for_seconds": None if seconds is None else round(seconds),
        }


def lock_file(app: str, environ: Mapping[str, str]) -> Path:
    """`<snapshot path>.lock`; the snapshot path honours `$ELB_UPGRADE_SNAPSHOT`."""
    return lock_path(snapshot.default_path(app, environ))


def inspect_lock(path: Path) -> LockState:
    """Whether a live run holds the lock at `path`, and the record in it."""
    if path.exists() and not os.access(path, os.R_OK):
        raise ElbUpgradeError(
            f"cannot read lock file {path}: permission denied",
            hint=f"run as its owner, or point $ELB_UPGRADE_SNAPSHOT elsewhere ({path})",
        )
    return LockState(path, is_held(path), read_holder(path))
