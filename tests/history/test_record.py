"""The history line contract and its writer's guarantees."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from elb_upgrade.history import read as history_read
from elb_upgrade.history import record as history
from elb_upgrade.history.record import Entry
from elb_upgrade.results import RECORDED

SAMPLE = (
    '{"ts":"2026-05-23T03:22:48Z","scope":"full","app":"ca-elb-dashboard",'
    '"tag":"20260523122407-58cc179","head_sha":"58cc179","result":"success",'
    '"elapsed_seconds":127,"message":"","exit_code":0}\n'
)


def entry(message: str = "") -> Entry:
    return Entry(
        "2026-05-23T03:22:48Z",
        "full",
        "ca-elb-dashboard",
        "20260523122407-58cc179",
        "58cc179",
        "success",
        127,
        message,
        0,
    )


def test_line_matches_the_design_sample_byte_for_byte() -> None:
    assert entry().to_line().decode() == SAMPLE


def test_result_values_are_the_designed_set() -> None:
    assert set(RECORDED) == {
        "success",
        "parity_rejected",
        "preflight_failed",
        "lock_held",
        "build_in_progress",
        "upgrade_failed",
        "upgrade_failed_rolled_back",
        "rollback_failed",
        "rollback_success",
        "aborted_by_user",
        "aborted",
        "lock_broken",
    }


def test_long_message_is_truncated_never_split(tmp_path: Path) -> None:
    line = entry("é" * 10_000).to_line()
    assert len(line) < history.MAX_LINE and line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line)["message"].endswith("…")


@given(st.text(max_size=300))
def test_any_message_stays_one_valid_json_line(message: str) -> None:
    line = entry(message + "\n\r\x00\"'\udcff").to_line()
    assert line.count(b"\n") == 1
    assert json.loads(line)["result"] == "success"


def test_append_creates_private_file_and_appends(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    assert history.append(path, entry()) is None
    assert history.append(path, entry()) is None
    assert path.read_text() == SAMPLE * 2
    assert (path.stat().st_mode & 0o777) == 0o600


def test_directory_at_history_path_is_a_warning(tmp_path: Path) -> None:
    warning = history.append(tmp_path, entry())
    assert warning and "not written" in warning


def test_no_home_is_a_warning() -> None:
    assert history.default_path({}) is None
    assert "HOME" in (history.append(None, entry()) or "")
    assert history.default_path({"HOME": "/h"}) == Path("/h/.elb-upgrade-history.jsonl")
    assert history.default_path({"ELB_UPGRADE_HISTORY": "/x.jsonl", "HOME": "/h"}) == Path(
        "/x.jsonl"
    )


def test_load_skips_and_counts_corrupt_lines(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_bytes(SAMPLE.encode() + b'garbage\n\xff\xfe\n[1]\n{"a": 1}\n' + SAMPLE.encode())
    scan = history_read.Scan(path)
    entries = list(scan)
    assert len(entries) == 2 and scan.skipped == 4
