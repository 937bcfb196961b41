"""The azure-blob backend in process, against a private Azurite: conditional documents,
concurrent chained appends, roll-over across blobs, lease renewal, spool dedupe."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from elb_upgrade.clock import SystemClock
from elb_upgrade.errors import LockHeldError
from elb_upgrade.history.record import Entry
from elb_upgrade.lock import Holder
from elb_upgrade.state import spool
from elb_upgrade.state.azure_blob import AzureBlobBackend
from elb_upgrade.state.base import RunMeta, StateConflictError
from fakes.services import AzuriteService
from fakes.wait import wait_until
from state.statekit import LEASE, connection_string, entries, history_lines


def backend(url: str, storage: AzuriteService, tmp: Any = None, roll_at: int = 49_000) -> Any:
    env = {"AZURE_STORAGE_CONNECTION_STRING": connection_string(storage.blob_port)}
    if tmp is not None:
        env["ELB_UPGRADE_SPOOL"] = str(tmp / "spool.jsonl")
    return AzureBlobBackend(url, LEASE, env, roll_at=roll_at)


def entry(n: int) -> Entry:
    return Entry(f"2026-05-01T10:00:{n % 60:02d}Z", "api", "shop", "", "", "success", n, "", 0)


def test_documents_are_written_only_on_the_etag_the_writer_read(
    container: tuple[str, Any], storage: AzuriteService
) -> None:
    url, _ = container
    store = backend(url, storage)
    assert store.get_document("shop", "releases/r1.json") is None
    first = store.put_document("shop", "releases/r1.json", b"{}", None)
    with pytest.raises(StateConflictError, match="nothing was overwritten"):
        store.put_document("shop", "releases/r1.json", b"{1}", None)  # it exists now
    second = store.put_document("shop", "releases/r1.json", b'{"a":1}', first)
    with pytest.raises(StateConflictError):
        store.put_document("shop", "releases/r1.json", b'{"b":2}', first)  # stale ETag
    assert store.get_document("shop", "releases/r1.json") == (b'{"a":1}', second)


def test_concurrent_appends_interleave_whole_lines_in_one_valid_chain(
    container: tuple[str, Any], storage: AzuriteService
) -> None:
    url, client = container

    def writer(w: int) -> None:
        mine = backend(url, storage)  # a client per writer, as separate processes have
        for n in range(10):
            mine.append_line("shop", entry(n), RunMeta(f"w{w}-{n}", f"host{w}", "ci"))

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = history_lines(client, "shop")
    assert len(lines) == 60 and len({e["run_id"] for e in entries(client, "shop")}) == 60
    (report,) = backend(url, storage).verify(["shop"])
    assert (report.lines, report.problem) == (60, None)


def test_a_full_blob_rolls_over_and_the_chain_and_reads_run_across_blobs(
    container: tuple[str, Any], storage: AzuriteService
) -> None:
    url, client = container
    store = backend(url, storage, roll_at=3)
    for n in range(8):
        store.append_line("shop", entry(n), RunMeta(f"r{n}", "h", "u"))
    names = [b.name for b in client.list_blobs(name_starts_with="shop/")]
    assert names == ["shop/history.000002.jsonl", "shop/history.000003.jsonl", "shop/history.jsonl"]
    (report,) = store.verify(["shop"])
    assert (report.lines, report.blobs, report.problem) == (8, 3, None)
    scan = backend(url, storage).history_scan(["shop"])
    assert [e["run_id"] for e in scan] == [f"r{n}" for n in range(8)]


def test_the_lease_is_renewed_in_the_background_and_holds_off_others(
    container: tuple[str, Any], storage: AzuriteService
) -> None:
    url, client = container
    holder = Holder(1, "ana", "laptop", "api", "2026-05-01T10:00:00Z")
    mine, theirs = backend(url, storage), backend(url, storage)
    with mine.lock("shop", holder, "run1", 0, SystemClock(), print) as lease:
        blob = client.get_blob_client("shop/lock")
        first = blob.get_blob_properties().metadata["renewed"]
        wait_until(
            lambda: blob.get_blob_properties().metadata["renewed"] != first,
            what="the lease was renewed",
            every=0.2,
        )
        with (
            pytest.raises(LockHeldError, match="ana@laptop"),
            theirs.lock("shop", holder, "run2", 0, SystemClock(), print),
        ):
            pass
        assert lease.lost() is None
        view = theirs.lock_view("shop")
        assert view.held and view.holder["run_id"] == "run1" and view.expires
    assert theirs.lock_view("shop").state == "free"


def test_a_broken_lease_is_lost_at_the_next_check(
    container: tuple[str, Any], storage: AzuriteService
) -> None:
    url, _ = container
    holder = Holder(1, "ana", "laptop", "api", "2026-05-01T10:00:00Z")
    mine, theirs = backend(url, storage), backend(url, storage)
    with mine.lock("shop", holder, "run1", 0, SystemClock(), print) as lease:
        theirs.break_lock("shop", RunMeta("x", "ci", "bob"))
        assert "ended by someone else" in (lease.lost() or "")


def test_a_spooled_line_already_in_the_history_is_not_appended_again(
    container: tuple[str, Any], storage: AzuriteService, tmp_path: Any
) -> None:
    url, client = container
    store = backend(url, storage, tmp_path)
    meta = RunMeta("landed", "h", "u")
    store.append_line("shop", entry(1), meta)  # the append landed; its answer was lost
    assert spool.add(store.spool_path, url, "shop", entry(1), meta) is None
    assert spool.add(store.spool_path, url, "shop", entry(2), RunMeta("new", "h", "u")) is None
    assert spool.add(store.spool_path, "https://other/c", "shop", entry(3), meta) is None

    report = store.flush()

    assert (report.appended, report.duplicates, report.kept) == (1, 1, 1)
    assert [e["run_id"] for e in entries(client, "shop")] == ["landed", "new"]
    assert (tmp_path / "spool.jsonl").read_text().count("\n") == 1  # the other container's
