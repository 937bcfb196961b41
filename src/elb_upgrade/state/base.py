"""The state backend interface: where a run's lock, documents and deploy history live.

A backend gives the sequencer three things, the same way for every operator and CI
runner that shares it:

- a **lock** per app (`lock()`), held for the whole run. A lease that can be lost (the
  `azure-blob` lease whose renewal failed, or one `lock break` ended) says so through
  `Lease.lost()`; the sequencer asks before each side effect and stops when it is lost;
- **documents** (`get_document` / `put_document`): opaque bytes per key under the app,
  written conditionally on an ETag so two writers never silently overwrite each other.
  The rollback snapshot is the document `releases/snapshot.json`;
- the **deploy history**: one line per run, appended whole (`append_history`), read in
  order (`history_scan`), and, for backends with a hash chain, checked (`verify`).

`local` (elb_upgrade.state.local) wraps today's files and keeps their contracts;
`azure-blob` (elb_upgrade.state.azure_blob) keeps them in one Azure Blob container.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import os
import socket
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from elb_upgrade.errors import ElbUpgradeError, PreflightError
from elb_upgrade.history.record import Entry

if TYPE_CHECKING:
    from elb_upgrade.clock import Clock
    from elb_upgrade.lock import Holder
    from elb_upgrade.snapshot import Snapshot

LOCAL = "local"
AZURE_BLOB = "azure-blob"
BACKENDS = (LOCAL, AZURE_BLOB)
LEASE_MIN, LEASE_MAX = 15, 60  # Azure's rule for a finite blob lease (Azurite enforces it)
SNAPSHOT_KEY = "releases/snapshot.json"


@dataclass(frozen=True)
class StateSettings:
    """The `[state]` table of elb-upgrade.toml."""

    backend: str = LOCAL
    container_url: str = ""
    lease_seconds: int = 30


# -- errors ------------------------------------------------------------------------------
class StateUnavailable(PreflightError):
    """The state backend cannot be reached or used at the start of a run (exit 1)."""


class StateConflictError(ElbUpgradeError):
    """A conditional write of a document lost: someone else changed it first."""


class LockLostError(ElbUpgradeError):
    """The run's lease ended (renewal failed, or `lock break`); it stops before the next
    side effect."""


# -- who runs ----------------------------------------------------------------------------
@dataclass(frozen=True)
class RunMeta:
    """The additive fields of a shared history line: which run, on which machine, by whom."""

    run_id: str
    host: str
    user: str

    @classmethod
    def current(cls, run_id: str, environ: Mapping[str, str]) -> RunMeta:
        return cls(run_id, host_name(environ), user_name())


def host_name(environ: Mapping[str, str]) -> str:
    """`$ELB_UPGRADE_HOST` (a CI runner's stable name), else the machine's host name."""
    return environ.get("ELB_UPGRADE_HOST") or socket.gethostname()


def user_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


# -- the lock ----------------------------------------------------------------------------
class Lease(Protocol):
    def lost(self) -> str | None:
        """Why the lock is no longer ours (None while it is)."""


@dataclass(frozen=True)
class LockView:
    """The lock as `lock status` shows it, from any machine."""

    backend: str
    where: str
    held: bool
    holder: dict[str, str] | None = None  # user, host, pid, scope, started, run_id
    expires: str | None = None  # the latest the lease runs to, if its holder stops renewing

    @property
    def state(self) -> str:
        if self.held:
            return "held"
        return "leftover" if self.holder else "free"

    def to_json(self, now: dt.datetime) -> dict[str, Any]:
        from elb_upgrade.clock import moment

        started = moment(self.holder.get("started")) if self.holder else None
        held_for = round((now - started).total_seconds()) if started and self.held else None
        return {
            "backend": self.backend,
            "path": self.where,
            "state": self.state,
            "held": self.held,
            "holder": self.holder,
            "held_for_seconds": held_for,
            "expires": self.expires if self.held else None,
        }


# -- history -----------------------------------------------------------------------------
@dataclass
class VerifyReport:
    """What `history --verify` found: how many lines, and the first bad one."""

    where: str
    lines: int = 0
    blobs: int = 0
    problem: str | None = None


@dataclass
class FlushReport:
    appended: int = 0
    duplicates: int = 0
    kept: int = 0  # for another container, or storage still unreachable
    errors: list[str] = field(default_factory=list)


class HistoryScan(Protocol):
    """What `elb-upgrade history` reads: entries in order, plus counts for its messages."""

    path: Any
    skipped: int
    valid: int
    found: bool

    def __iter__(self) -> Iterator[dict[str, Any]]: ...


# -- the backend -------------------------------------------------------------------------
class StateBackend(Protocol):
    name: str

    def where(self, app: str) -> str:
        """Where the app's state lives, for messages."""

    def lock(
        self,
        app: str,
        holder: Holder,
        run_id: str,
        wait: float,
        clock: Clock,
        on_wait: Callable[[str], None],
    ) -> contextlib.AbstractContextManager[Lease]:
        """Hold the app's lock for the block (waiting up to `wait` s); LockHeldError names
        the holder, StateUnavailable says the backend cannot be reached."""

    def lock_view(self, app: str) -> LockView: ...

    def break_lock(self, app: str, meta: RunMeta) -> LockView:
        """End the app's lease now and record who did; the view before the break."""

    def get_document(self, app: str, key: str) -> tuple[bytes, str] | None:
        """The document's bytes and ETag, or None when there is none."""

    def put_document(self, app: str, key: str, data: bytes, etag: str | None) -> str:
        """Write if the document still has `etag` (None: only if it does not exist yet);
        StateConflictError otherwise. Returns the new ETag."""

    def snapshot_where(self, app: str) -> str: ...

    def write_snapshot(self, snap: Snapshot) -> None: ...

    def read_snapshot(self, app: str) -> Snapshot:
        """The app's rollback snapshot; SnapshotError when there is none or it is bad."""

    def append_history(self, entry: Entry, meta: RunMeta) -> str | None:
        """Append one line; a warning instead of an exception when it cannot be."""

    def history_scan(self, apps: Iterable[str]) -> HistoryScan: ...

    def verify(self, apps: Iterable[str]) -> list[VerifyReport]: ...

    def flush(self) -> FlushReport: ...
