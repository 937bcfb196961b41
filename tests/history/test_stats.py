"""`history --stats` on a known history: exact counts, rates, percentiles and recovery times."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from elb_upgrade.clock import human
from elb_upgrade.history.read import Filter, Scan
from elb_upgrade.history.stats import percentile, summarise
from fakes.sandbox import KNOWN, Env, entry

NOW = dt.datetime(2026, 5, 5, 8, 2, 20, tzinfo=dt.UTC)  # one day after the last success ended

EXPECTED = {
    "version": 1,
    "runs": 9,
    "succeeded": 4,
    "success_rate": 0.4444,
    "results": {
        "success": 3,
        "upgrade_failed_rolled_back": 1,
        "lock_held": 1,
        "build_in_progress": 1,
        "rollback_success": 1,
        "rollback_failed": 1,
        "aborted_by_user": 1,
    },
    "scopes": [
        {
            "scope": "api",
            "runs": 4,
            "succeeded": 1,
            "elapsed_mean": 65.0,
            "elapsed_p50": 0,
            "elapsed_p95": 200,
        },
        {
            "scope": "full",
            "runs": 4,
            "succeeded": 2,
            "elapsed_mean": 80.0,
            "elapsed_p50": 50,
            "elapsed_p95": 140,
        },
        {
            "scope": "rollback",
            "runs": 1,
            "succeeded": 1,
            "elapsed_mean": 40.0,
            "elapsed_p50": 40,
            "elapsed_p95": 40,
        },
    ],
    "last_success": json.loads(KNOWN[7]),
    "seconds_since_last_success": 86400,
    "recoveries": 2,
    "mttr_seconds": 4550,
    "failing_since": {"blog": "2026-05-04T09:00:00Z"},
}


def test_summary_of_the_known_history_is_exact(sandbox: Env) -> None:
    scan = Scan(sandbox.write_history(KNOWN))
    stats = summarise(scan, NOW)
    assert stats.to_json() == EXPECTED
    assert stats.recoveries == [7260.0, 1840.0]
    assert scan.skipped == 2


def test_stats_json_from_the_cli_matches_except_the_clock(sandbox: Env) -> None:
    sandbox.write_history(KNOWN)
    done = sandbox.run("history", "--stats", "--json")
    assert done.returncode == 0
    data = json.loads(done.stdout)
    ago = (
        dt.datetime.now(dt.UTC) - dt.datetime(2026, 5, 4, 8, 2, 20, tzinfo=dt.UTC)
    ).total_seconds()
    assert abs(data.pop("seconds_since_last_success") - ago) < 30
    assert data == {k: v for k, v in EXPECTED.items() if k != "seconds_since_last_success"}


def test_stats_text_names_every_number(sandbox: Env) -> None:
    sandbox.write_history(KNOWN)
    out = sandbox.run("history", "--stats").stdout.splitlines()
    assert out[0] == f"9 runs in {sandbox.history}"
    assert "  success                           3   33.3%" in out
    assert "success rate: 44.4% (4 of 9 runs ended in success or rollback_success)" in out
    assert "  api                   4      1     65.0        0      200" in out
    assert "  full                  4      2     80.0       50      140" in out
    assert any(
        line.startswith("last success: 2026-05-04T08:00:00Z success full of shop, tag ")
        for line in out
    )
    assert "mean time to recovery: 1h 15m over 2 recoveries" in out
    assert out[-1] == (
        "unrecovered: blog has had no successful run since its failure at 2026-05-04T09:00:00Z"
    )


def test_stats_honour_the_filters(sandbox: Env) -> None:
    sandbox.write_history(KNOWN)
    data = json.loads(sandbox.run("history", "--stats", "--json", "--app", "blog").stdout)
    assert (data["runs"], data["succeeded"], data["last_success"]) == (1, 0, None)
    data = json.loads(sandbox.run("history", "--stats", "--json", "--scope", "full").stdout)
    assert data["results"] == {"success": 2, "build_in_progress": 1, "rollback_failed": 1}
    assert (
        data["recoveries"] == 1 and data["mttr_seconds"] == 23 * 3600 + 140
    )  # 05-03 09:00 → 05-04 08:02:20
    since = json.loads(sandbox.run("history", "--stats", "--json", "--since", "2026-05-04").stdout)
    assert since["runs"] == 3


def test_a_failure_streak_counts_from_its_first_failure() -> None:
    rows = [
        json.loads(entry("2026-05-01T10:00:00Z", "api", "upgrade_failed", 10)),
        json.loads(entry("2026-05-01T10:10:00Z", "api", "rollback_failed", 10)),
        json.loads(entry("2026-05-01T10:20:00Z", "api", "aborted", 10)),
        json.loads(entry("2026-05-01T10:30:00Z", "api", "success", 30)),
    ]
    stats = summarise(rows, NOW)
    assert stats.recoveries == [30 * 60 + 30]
    assert stats.failing_since == {}


@pytest.mark.parametrize(
    ("values", "p50", "p95"),
    [([7], 7, 7), ([1, 2], 1, 2), ([1, 2, 3, 4], 2, 4), (list(range(1, 101)), 50, 95)],
)
def test_percentiles_are_nearest_rank(values: list[float], p50: float, p95: float) -> None:
    assert (percentile(values, 50), percentile(values, 95)) == (p50, p95)


def test_entries_with_unparsable_timestamps_count_but_time_nothing() -> None:
    rows = [{"ts": "yesterday", "scope": "api", "result": "upgrade_failed"}]
    rows.append({"ts": "soon", "scope": "api", "result": "success", "elapsed_seconds": 3})
    stats = summarise(rows, NOW)
    assert (stats.runs, stats.succeeded, stats.recoveries, stats.since_last_success) == (
        2, 1, [], None,
    )  # fmt: skip
    assert not Filter(since=NOW)(rows[0])


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (59.6, "1m 0s"), (192, "3m 12s"), (11520, "3h 12m"), (187200, "2d 4h")],
)
def test_durations_read_at_a_glance(seconds: float, text: str) -> None:
    assert human(seconds) == text
