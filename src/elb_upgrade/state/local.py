"""The `local` state backend: today's files on this machine, every contract unchanged.

The lock is `elb_upgrade.lock` (a kernel flock, freed when its process dies, never
lost while the process lives), the snapshot is `elb_upgrade.snapshot`'s file, the
history is `elb_upgrade.history.record`'s JSONL file (no chain fields). Other documents
are files under `~/.elb-upgrade/state/<app>/` (`$ELB_UPGRADE_STATE_DIR`), their ETag the
SHA-256 of their bytes, compared and replaced under an flock.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

from elb_upgrade import lock, snapshot
from elb_upgrade.clock import Clock
from elb_upgrade.errors import ElbUpgradeError
from elb_upgrade.history import read, record
from elb_upgrade.safefile import open_private
from elb_upgrade.state.base import (
    LOCAL,
    FlushReport,
    Lease,
    LockView,
    RunMeta,
    StateConflictError,
    VerifyReport,
)


class _FlockLease:
    def lost(self) -> str | None:
        return None  # the kernel keeps a flock for as long as its process lives


class LocalBackend:
    name = LOCAL

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = dict(environ)

    def where(self, app: str) -> str:
        return str(lock.lock_file(app, self.environ))

    # -- lock ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(
        self,
        app: str,
        holder: lock.Holder,
        run_id: str,
        wait: float,
        clock: Clock,
        on_wait: Callable[[str], None],
    ) -> Iterator[Lease]:
        with lock.acquire(lock.lock_file(app, self.environ), holder, wait, clock, on_wait):
            yield _FlockLease()

    def lock_view(self, app: str) -> LockView:
        state = lock.inspect_lock(lock.lock_file(app, self.environ))
        holder = (
            None if state.holder is None else {k: str(v) for k, v in vars(state.holder).items()}
        )
        return LockView(LOCAL, str(state.path), state.held, holder)

    def break_lock(self, app: str, meta: RunMeta) -> LockView:
        view = self.lock_view(app)
        pid = view.holder.get("pid") if view.holder else None
        raise ElbUpgradeError(
            f"the local lock {view.where} is a kernel flock: it cannot be broken, and it frees "
            "itself when its process ends; nothing was changed",
            hint=f"stop that run (pid {pid}) if it is stuck" if view.held and pid else "it is free",
        )

    # -- documents -------------------------------------------------------------------------
    def _doc(self, app: str, key: str) -> Path:
        base = self.environ.get("ELB_UPGRADE_STATE_DIR") or str(
            Path(self.environ.get("HOME", "/tmp")) / ".elb-upgrade" / "state"
        )
        if ".." in key.split("/") or key.startswith("/"):
            raise ElbUpgradeError(f"bad document key {key!r}", hint="this is a bug; report it")
        return Path(base).expanduser() / app / key

    def get_document(self, app: str, key: str) -> tuple[bytes, str] | None:
        path = self._doc(app, key)
        try:
            fd = open_private(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        with os.fdopen(fd, "rb") as handle:
            data = handle.read()
        return data, hashlib.sha256(data).hexdigest()

    def put_document(self, app: str, key: str, data: bytes, etag: str | None) -> str:
        path = self._doc(app, key)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        guard = open_private(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(guard, fcntl.LOCK_EX)
            current = self.get_document(app, key)
            now = current[1] if current else None
            if now != etag:
                raise StateConflictError(
                    f"{path} changed since it was read; nothing was overwritten",
                    hint="read it again and retry",
                )
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            fd = open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        finally:
            os.close(guard)
        return hashlib.sha256(data).hexdigest()

    # -- snapshot --------------------------------------------------------------------------
    def snapshot_where(self, app: str) -> str:
        return str(snapshot.default_path(app, self.environ))

    def write_snapshot(self, snap: snapshot.Snapshot) -> None:
        snapshot.write(snapshot.default_path(snap.app, self.environ), snap)

    def read_snapshot(self, app: str) -> snapshot.Snapshot:
        return snapshot.read(snapshot.default_path(app, self.environ), app)

    # -- history ---------------------------------------------------------------------------
    def append_history(self, entry: record.Entry, meta: RunMeta) -> str | None:
        return record.append(record.default_path(self.environ), entry)

    def history_scan(self, apps: Iterable[str]) -> read.Scan:
        path = record.default_path(self.environ)
        if path is None:
            raise ElbUpgradeError(
                "no deploy history path: $HOME is not set", hint="set $ELB_UPGRADE_HISTORY"
            )
        return read.Scan(path)

    def verify(self, apps: Iterable[str]) -> list[VerifyReport]:
        raise ElbUpgradeError(
            "history --verify checks the hash chain of a shared history; the local backend "
            "writes none (nothing was checked)",
            hint='use it with [state] backend = "azure-blob"',
        )

    def flush(self) -> FlushReport:
        return FlushReport()
