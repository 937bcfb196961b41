"""The `azure-blob` state backend: one Azure Blob container shared by every operator and
CI runner that deploys the app.

    <app>/lock                       an empty block blob; the lock is a lease on it, and
                                     the holder record (user, host, pid, scope, started,
                                     run id, renewed) is its metadata
    <app>/releases/snapshot.json     the rollback snapshot; any document is <app>/<key>,
                                     written on a condition (ETag / If-None-Match: *)
    <app>/history.jsonl              an append blob, one history line per append block;
    <app>/history.000002.jsonl       … and the next ones once a blob holds `roll_at` lines

The lease is finite (15–60 s, Azure's rule) and renewed by a background thread every
third of its length, so a holder killed with `kill -9` frees the lock within one lease
time. A renewal refused (the lease was broken or taken) or failing for longer than the
lease marks the lease lost; the sequencer asks `lost()` before each side effect.

Appends are conditional on the append position the writer read, so concurrent writers
interleave whole lines and never tear, and each line's `prev` hashes the line really
before it. A blob takes appends only while it holds fewer than `roll_at` lines (Azure
allows 50,000 blocks): the writer that finds it full creates the next blob, whose first
line chains to the full blob's last line.

Credentials: `$AZURE_STORAGE_CONNECTION_STRING` (its account key or SAS; the container
URL still says where) else `DefaultAzureCredential`. Vendor types never leave this
module: every storage failure becomes a StateUnavailable naming the fix.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from elb_upgrade import snapshot
from elb_upgrade.clock import Clock, iso_z, moment
from elb_upgrade.errors import ConfigError, ElbUpgradeError, LockHeldError, SnapshotError
from elb_upgrade.history import read
from elb_upgrade.history.record import Entry
from elb_upgrade.lock import Holder
from elb_upgrade.state import chain, spool
from elb_upgrade.state.base import (
    AZURE_BLOB,
    SNAPSHOT_KEY,
    FlushReport,
    LockView,
    RunMeta,
    StateConflictError,
    StateSettings,
    StateUnavailable,
    VerifyReport,
)

ROLL_AT = 49_000  # lines per history blob; Azure refuses the 50,001st append block
TAIL = 16_384  # bytes read back to find a blob's last line (a line is under 5 KiB)
_HISTORY = re.compile(r"^([^/]+)/history(?:\.(\d{6}))?\.jsonl$")
_HOLDER_KEYS = ("user", "host", "pid", "scope", "started", "run_id")
_FALLBACK = "rerun with --state local to deploy with this machine's lock and history only"


def open_backend(settings: StateSettings, environ: Mapping[str, str]) -> AzureBlobBackend:
    if not settings.container_url:
        raise ConfigError(
            '[state] backend = "azure-blob" needs container_url',
            hint='add container_url = "https://<account>.blob.core.windows.net/<container>"',
        )
    return AzureBlobBackend(settings.container_url, settings.lease_seconds, environ)


def _sdk() -> Any:
    try:
        from azure.storage import blob
    except ImportError as exc:  # pragma: no cover - the [azure] extra is missing
        raise ConfigError(
            '[state] backend = "azure-blob" needs the Azure SDK, which is not installed',
            hint="pip install 'elb-upgrade[azure]', or run with --state local",
        ) from exc
    return blob


def _credential(environ: Mapping[str, str]) -> Any:
    text = environ.get("AZURE_STORAGE_CONNECTION_STRING")
    if not text:
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential()
    parts = dict(p.split("=", 1) for p in text.split(";") if "=" in p)
    if parts.get("AccountName") and parts.get("AccountKey"):
        return {"account_name": parts["AccountName"], "account_key": parts["AccountKey"]}
    if parts.get("SharedAccessSignature"):
        return parts["SharedAccessSignature"]
    raise ConfigError(
        "$AZURE_STORAGE_CONNECTION_STRING has neither AccountName+AccountKey nor "
        "SharedAccessSignature",
        hint="copy it from `az storage account show-connection-string`, or unset it to "
        "sign in with DefaultAzureCredential",
    )


class _Storage:
    """Turns a vendor exception into StateUnavailable naming the fix."""

    def __init__(self, url: str, what: str) -> None:
        self.url, self.what = url, what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        from azure.core.exceptions import AzureError

        if exc is None or not isinstance(exc, AzureError):
            return
        raise unavailable(self.url, self.what, exc) from None


def unavailable(url: str, what: str, exc: BaseException) -> StateUnavailable:
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

    reason = str(getattr(exc, "message", "") or exc).splitlines()[0][:200]
    code = str(getattr(exc, "error_code", "") or "")
    status = getattr(exc, "status_code", None) if isinstance(exc, HttpResponseError) else None
    if code == "ContainerNotFound":
        name = urlsplit(url).path.rstrip("/").rpartition("/")[2]
        return StateUnavailable(
            f"state container {url} does not exist ({what}); nothing was changed",
            hint=f"create it: az storage container create --name {name} "
            "--account-name <account> --auth-mode login",
        )
    if isinstance(exc, ClientAuthenticationError) or status in (401, 403):
        return StateUnavailable(
            f"state storage {url} refused us while {what} ({reason}); nothing was changed",
            hint="grant your identity the role Storage Blob Data Contributor on the container "
            "(docs/operate/upgrade.md, Team mode), or set AZURE_STORAGE_CONNECTION_STRING; "
            + _FALLBACK,
        )
    return StateUnavailable(
        f"state storage {url} cannot be reached while {what} ({reason}); nothing was changed",
        hint=f"check the network and the account, then rerun; {_FALLBACK}",
    )


def _quote(value: str) -> str:
    return quote(value, safe="@:.+-_")


@dataclass
class _LeaseKeeper:
    """Keeps one lease: renewed in the background every third of its length, and once
    more whenever the sequencer asks `lost()` before a side effect, so a lease broken a
    moment ago stops the run before that step, not at the next timer tick."""

    lease: Any  # BlobLeaseClient on a client of its own (the run's requests never share it)
    blob: Any
    seconds: int
    metadata: dict[str, str]

    def __post_init__(self) -> None:
        self._last_ok = time.monotonic()
        self._why: str | None = None
        self._stop = threading.Event()
        self._renewing = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="elb-lease", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def lost(self) -> str | None:
        if not self._why:
            self._renew()
        if self._why:
            return self._why
        silent = time.monotonic() - self._last_ok
        if silent >= self.seconds - max(2.0, self.seconds / 5):
            return (
                f"the {self.seconds} s lease could not be renewed for {silent:.0f} s "
                "(storage unreachable) and may have run out"
            )
        return None

    def _renew(self) -> bool:
        """Renew once; False when storage did not answer (the lease may still be ours)."""
        from azure.core.exceptions import AzureError, HttpResponseError

        with self._renewing:
            if self._why:
                return False
            try:
                self.lease.renew()
            except HttpResponseError as exc:
                if exc.status_code in (409, 412):  # broken, expired and taken, or gone
                    code = getattr(exc, "error_code", None) or exc.status_code
                    self._why = f"the lease was ended by someone else ({code})"
                return False
            except AzureError:
                return False
            self._last_ok = time.monotonic()
            self.metadata["renewed"] = iso_z(dt.datetime.now(dt.UTC))
            with contextlib.suppress(AzureError):
                self.blob.set_blob_metadata(self.metadata, lease=self.lease.id)
            return True

    def _loop(self) -> None:
        interval = self.seconds / 3
        wait = interval
        while not self._stop.wait(wait) and not self._why:
            wait = interval if self._renew() else 1.0

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


class AzureBlobBackend:
    name = AZURE_BLOB

    def __init__(
        self,
        container_url: str,
        lease_seconds: int,
        environ: Mapping[str, str],
        roll_at: int = ROLL_AT,
    ) -> None:
        self.url = container_url.rstrip("/")
        self.lease_seconds = lease_seconds
        self.environ = dict(environ)
        self.roll_at = roll_at
        self.spool_path = spool.spool_path(environ)
        self._container = self._client()
        self._seq: dict[str, int] = {}

    def _client(self) -> Any:
        sdk = _sdk()
        try:
            return sdk.ContainerClient.from_container_url(
                self.url,
                credential=_credential(self.environ),
                retry_policy=sdk.LinearRetry(backoff=1, retry_total=2, random_jitter_range=1),
                connection_timeout=5,
                read_timeout=20,
            )
        except ValueError as exc:  # no container in the path, not a URL
            raise ConfigError(
                f"[state] container_url {self.url[:120]!r} is not a container URL ({exc})",
                hint="use https://<account>.blob.core.windows.net/<container>",
            ) from None

    def where(self, app: str) -> str:
        return f"{self.url}/{app}/lock"

    def _blob(self, name: str) -> Any:
        return self._container.get_blob_client(name)

    # -- lock ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(
        self,
        app: str,
        holder: Holder,
        run_id: str,
        wait: float,
        clock: Clock,
        on_wait: Callable[[str], None],
    ) -> Iterator[_LeaseKeeper]:
        deadline, told = clock.monotonic() + wait, False
        while True:
            try:
                keeper = self._try_lock(app, holder, run_id)
                break
            except LockHeldError as exc:
                if clock.monotonic() >= deadline:
                    raise
                if not told:
                    on_wait(f"{exc.message}; waiting up to {wait:g}s")
                    told = True
                clock.sleep(min(1.0, max(0.0, deadline - clock.monotonic())))
        keeper.start()
        try:
            yield keeper
        finally:
            keeper.stop()
            self._release(app, keeper, on_wait)

    def _try_lock(self, app: str, holder: Holder, run_id: str) -> _LeaseKeeper:
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

        # The renewer gets a client of its own: the run's thread never shares one.
        blob = self._client().get_blob_client(f"{app}/lock")
        lease = _sdk().BlobLeaseClient(blob, lease_id=str(uuid.uuid4()))
        with _Storage(self.url, "taking the lock"):
            try:
                lease.acquire(lease_duration=self.lease_seconds)
            except ResourceNotFoundError as exc:
                if getattr(exc, "error_code", "") == "ContainerNotFound":
                    raise
                with contextlib.suppress(ResourceExistsError):
                    blob.upload_blob(b"", overwrite=False)
                return self._try_lock(app, holder, run_id)
            except ResourceExistsError:
                view = self.lock_view(app)
                who = f" ({_describe(view.holder)})" if view.holder else ""
                raise LockHeldError(
                    f"another elb-upgrade run holds {self.where(app)}{who}",
                    path=Path(app) / "lock",
                    holder=_describe(view.holder) if view.holder else "",
                ) from None
            record = {k: str(v) for k, v in vars(holder).items()}
            record["run_id"] = run_id
            metadata = {f"holder_{k}": _quote(record[k]) for k in _HOLDER_KEYS}
            metadata["lease_seconds"] = str(self.lease_seconds)
            metadata["renewed"] = iso_z(dt.datetime.now(dt.UTC))
            try:
                blob.set_blob_metadata(metadata, lease=lease.id)
            except BaseException:
                with contextlib.suppress(Exception):
                    lease.release()
                raise
        return _LeaseKeeper(lease, blob, self.lease_seconds, metadata)

    def _release(self, app: str, keeper: _LeaseKeeper, warn: Callable[[str], None]) -> None:
        from azure.core.exceptions import AzureError

        if keeper._why:  # not ours any more: leave the record and lease to their owner
            return
        try:
            # Clear the record first so `lock status` never shows a finished run.
            keeper.blob.set_blob_metadata({}, lease=keeper.lease.id)
            keeper.lease.release()
        except AzureError as exc:
            warn(
                f"could not release the lock {self.where(app)} ({str(exc).splitlines()[0]}); "
                f"its lease runs out on its own within {self.lease_seconds} s"
            )

    def lock_view(self, app: str) -> LockView:
        from azure.core.exceptions import ResourceNotFoundError

        with _Storage(self.url, "reading the lock"):
            try:
                props = self._blob(f"{app}/lock").get_blob_properties()
            except ResourceNotFoundError as exc:
                if getattr(exc, "error_code", "") == "ContainerNotFound":
                    raise
                return LockView(AZURE_BLOB, self.where(app), False)
        meta = props.metadata or {}
        holder = {k: unquote(meta[f"holder_{k}"]) for k in _HOLDER_KEYS if f"holder_{k}" in meta}
        held = props.lease.state == "leased"
        expires = None
        renewed = moment(meta.get("renewed"))
        if held and renewed is not None:
            seconds = int(meta.get("lease_seconds", "60"))
            expires = iso_z(renewed + dt.timedelta(seconds=seconds))
        return LockView(AZURE_BLOB, self.where(app), held, holder or None, expires)

    def break_lock(self, app: str, meta: RunMeta) -> LockView:
        view = self.lock_view(app)
        if view.held:
            with _Storage(self.url, "breaking the lock"):
                _sdk().BlobLeaseClient(self._blob(f"{app}/lock")).break_lease(lease_break_period=0)
        return view

    # -- documents -------------------------------------------------------------------------
    def get_document(self, app: str, key: str) -> tuple[bytes, str] | None:
        from azure.core.exceptions import ResourceNotFoundError

        with _Storage(self.url, f"reading {app}/{key}"):
            try:
                download = self._blob(f"{app}/{key}").download_blob()
            except ResourceNotFoundError as exc:
                if getattr(exc, "error_code", "") == "ContainerNotFound":
                    raise
                return None
            return download.readall(), str(download.properties.etag)

    def put_document(self, app: str, key: str, data: bytes, etag: str | None) -> str:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError

        blob = self._blob(f"{app}/{key}")
        with _Storage(self.url, f"writing {app}/{key}"):
            try:
                if etag is None:  # If-None-Match: * — only if nobody wrote it meanwhile
                    answer = blob.upload_blob(data, overwrite=False)
                else:
                    answer = blob.upload_blob(
                        data,
                        overwrite=True,
                        etag=etag,
                        match_condition=MatchConditions.IfNotModified,
                    )
            except (ResourceExistsError, ResourceModifiedError):
                raise StateConflictError(
                    f"{self.url}/{app}/{key} was changed by someone else since it was read; "
                    "nothing was overwritten",
                    hint="another run wrote it (was the lock broken?); check `elb-upgrade "
                    "history` and `elb-upgrade lock status`, then rerun",
                ) from None
        return str(answer["etag"])

    # -- snapshot --------------------------------------------------------------------------
    def snapshot_where(self, app: str) -> str:
        return f"{self.url}/{app}/{SNAPSHOT_KEY}"

    def write_snapshot(self, snap: snapshot.Snapshot) -> None:
        current = self.get_document(snap.app, SNAPSHOT_KEY)
        data = (snap.to_json() + "\n").encode()
        self.put_document(snap.app, SNAPSHOT_KEY, data, current[1] if current else None)

    def read_snapshot(self, app: str) -> snapshot.Snapshot:
        where = self.snapshot_where(app)
        found = self.get_document(app, SNAPSHOT_KEY)
        if found is None:
            raise SnapshotError(
                f"no snapshot at {where}: no upgrade of {app} has written one to this container",
                hint="nothing to roll back to; redeploy a known-good tag with --tag",
            )
        return snapshot.loads(found[0], where, app)

    # -- history: append -------------------------------------------------------------------
    def append_history(self, entry: Entry, meta: RunMeta) -> str | None:
        self.flush()  # older spooled lines first; what cannot go stays spooled
        try:
            self.append_line(entry.app, entry, meta)
            return None
        except (StateUnavailable, ElbUpgradeError) as exc:
            reason = exc.message
        problem = spool.add(self.spool_path, self.url, entry.app, entry, meta)
        if problem:
            return f"deploy history line lost: not appended ({reason}) and not spooled ({problem})"
        return (
            f"deploy history line not appended yet ({reason}); spooled to {self.spool_path}: "
            "the next run or `elb-upgrade history --flush` appends it (the result stands)"
        )

    def append_line(self, app: str, entry: Entry, meta: RunMeta) -> None:
        """Append one line at the end of the app's current history blob, chained."""
        from azure.core.exceptions import HttpResponseError

        with _Storage(self.url, "appending to the deploy history"):
            seq = self._seq.get(app) or self._latest(app)
            for attempt in range(200):
                blob = self._blob(_history_name(app, seq))
                props = self._properties(blob)
                if props is None or props.append_blob_committed_block_count >= self.roll_at:
                    seq += props is not None
                    self._create_append(_history_name(app, seq))
                    continue
                extra = (
                    ("run_id", meta.run_id),
                    ("host", meta.host),
                    ("user", meta.user),
                    ("prev", self._prev(app, seq, props.size)),
                )
                line = replace(entry, extra=extra).to_line()
                try:
                    blob.append_block(line, appendpos_condition=props.size)
                except HttpResponseError as exc:
                    if exc.status_code != 412:
                        raise
                    time.sleep(random.uniform(0, min(0.25, 0.01 * (attempt + 1))))
                    continue
                self._seq[app] = seq
                return
        raise StateUnavailable(
            f"gave up appending to {self.url}/{app} after 200 contended tries",
            hint="rerun `elb-upgrade history --flush` later",
        )

    def _properties(self, blob: Any) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return blob.get_blob_properties()
        except ResourceNotFoundError as exc:
            if getattr(exc, "error_code", "") == "ContainerNotFound":
                raise
            return None

    def _create_append(self, name: str) -> None:
        from azure.core.exceptions import ResourceExistsError

        with contextlib.suppress(ResourceExistsError):  # another writer made it first
            self._blob(name).create_append_blob(if_none_match="*")

    def _prev(self, app: str, seq: int, size: int) -> str:
        """The `prev` of a line appended at `size` of blob `seq`."""
        if size == 0:
            if seq == 1:
                return chain.GENESIS
            before = self._properties(self._blob(_history_name(app, seq - 1)))
            return (
                self._prev(app, seq - 1, before.size) if before and before.size else chain.GENESIS
            )
        offset = max(0, size - TAIL)
        blob = self._blob(_history_name(app, seq))
        tail = blob.download_blob(offset=offset, length=size - offset).readall()
        line = chain.last_line(tail, whole=offset == 0)
        return chain.digest(line) if line else chain.GENESIS

    def _latest(self, app: str) -> int:
        numbers = [seq for _, seq in self._history_blobs([app])]
        return max(numbers, default=1)

    # -- history: read, verify, flush ------------------------------------------------------
    def _history_blobs(self, apps: Iterable[str]) -> list[tuple[str, int]]:
        """(blob name, sequence) of the apps' history blobs (all apps when none named)."""
        wanted = set(apps)
        found = []
        with _Storage(self.url, "listing the deploy history"):
            prefixes: list[str | None] = [f"{a}/history" for a in sorted(wanted)] or [None]
            for prefix in prefixes:
                for item in self._container.list_blobs(name_starts_with=prefix):
                    match = _HISTORY.match(item.name)
                    if match and (not wanted or match.group(1) in wanted):
                        found.append((item.name, int(match.group(2) or 1)))
        return sorted(found, key=lambda f: (f[0].partition("/")[0], f[1]))

    def _download(self, name: str) -> bytes:
        with _Storage(self.url, f"reading {name}"):
            data: bytes = self._blob(name).download_blob(max_concurrency=4).readall()
            return data

    def history_scan(self, apps: Iterable[str]) -> BlobScan:
        return BlobScan(self.url, self._history_blobs(apps), self._download)

    def verify(self, apps: Iterable[str]) -> list[VerifyReport]:
        blobs = self._history_blobs(apps)
        reports = []
        for app in sorted({name.partition("/")[0] for name, _ in blobs}):
            mine = [name for name, _ in blobs if name.startswith(f"{app}/")]
            lines, count, problem = chain.first_problem((n, self._download(n)) for n in mine)
            reports.append(VerifyReport(f"{self.url}/{app}", lines, count, problem))
        return reports

    def run_ids(self, app: str) -> set[str]:
        ids = set()
        for name, _ in self._history_blobs([app]):
            for raw in self._download(name).splitlines():
                entry = read.parse_line(raw)
                if entry and isinstance(entry.get("run_id"), str):
                    ids.add(entry["run_id"])
        return ids

    def flush(self) -> FlushReport:
        return spool.flush(self.spool_path, self.url, self.run_ids, self.append_line)


def _history_name(app: str, seq: int) -> str:
    return f"{app}/history.jsonl" if seq == 1 else f"{app}/history.{seq:06d}.jsonl"


def _describe(holder: Mapping[str, str] | None) -> str:
    if not holder:
        return ""
    return (
        f"pid {holder.get('pid', '?')}, {holder.get('user', '?')}@{holder.get('host', '?')}, "
        f"scope {holder.get('scope', '?')}, since {holder.get('started', '?')}, "
        f"run {holder.get('run_id', '?')}"
    )


class BlobScan:
    """The entries of the apps' history blobs, in order (one app: append order; several:
    by `ts`). Same counters as `elb_upgrade.history.read.Scan` for `history`'s messages."""

    def __init__(self, url: str, blobs: list[tuple[str, int]], download: Callable[[str], bytes]):
        self.path = url
        self.blobs = blobs
        self.download = download
        self.skipped = self.valid = 0
        self.found = bool(blobs)

    def _entries(self, name: str) -> Iterator[dict[str, Any]]:
        for raw in self.download(name).splitlines():
            entry = read.parse_line(raw)
            if entry is None:
                self.skipped += raw.strip() != b""
            else:
                self.valid += 1
                yield entry

    def __iter__(self) -> Iterator[dict[str, Any]]:
        apps = {name.partition("/")[0] for name, _ in self.blobs}
        if len(apps) <= 1:
            for name, _ in self.blobs:
                yield from self._entries(name)
            return
        everything = [e for name, _ in self.blobs for e in self._entries(name)]
        yield from sorted(everything, key=lambda e: str(e.get("ts", "")))
