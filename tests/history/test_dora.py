"""The DORA metrics against hand-worked histories (each expected number worked out in the
comment beside it), including no failures, a failure never restored and runs across the
period boundary; and the band edges of the 2024 report."""

from __future__ import annotations

import datetime as dt

import pytest

from elb_upgrade.history.dora import (
    AppMetrics,
    Band,
    Period,
    combined,
    compute,
    fail_rate_band,
    frequency_band,
    lead_time_band,
    recovery_band,
)
from fakes.history import entry

UTC = dt.UTC
MAY = Period(dt.datetime(2026, 5, 1, tzinfo=UTC), dt.datetime(2026, 5, 31, tzinfo=UTC))


def only(apps: list[AppMetrics], name: str = "billing") -> AppMetrics:
    assert [a.app for a in apps] == [name]
    return apps[0]


def test_no_failures() -> None:
    # Three successes, each committed 2 h before it started and taking 10 min:
    # lead time = 2 h + 10 min = 7800 s each; 3 deployments in 30 days = 0.1/day.
    runs = [
        entry(
            f"2026-05-{day:02d}T10:00:00Z",
            "api",
            "success",
            600,
            commit_ts=f"2026-05-{day:02d}T08:00:00Z",
        )
        for day in (2, 9, 16)
    ]
    m = only(compute(runs, MAY)).current
    assert (m.deployments, m.failed, m.rework, m.unrestored) == (3, 0, 0, 0)
    assert m.frequency == pytest.approx(0.1)
    assert frequency_band(m.frequency) is Band.MEDIUM  # 0.7 a week, 3 a month
    assert m.lead_times == [7800.0] * 3 and m.lead_time == 7800.0
    assert lead_time_band(m.lead_time) is Band.ELITE
    assert m.fail_rate == 0.0 and fail_rate_band(m.fail_rate) is Band.ELITE
    assert m.recovery_time is None and recovery_band(m.recovery_time) is None
    assert m.rework_rate == 0.0


def test_a_failure_never_restored() -> None:
    # success, then upgrade_failed (auto-rollback off); nothing after restores it: a
    # lock_held and a preflight_failed change nothing, an aborted run is not a deployment.
    runs = [
        entry("2026-05-02T10:00:00Z", "api", "success", 60),
        entry("2026-05-10T10:00:00Z", "api", "upgrade_failed", 120),
        entry("2026-05-11T10:00:00Z", "api", "lock_held", 0),
        entry("2026-05-12T10:00:00Z", "api", "preflight_failed", 3),
        entry("2026-05-13T10:00:00Z", "api", "aborted", 3),
    ]
    m = only(compute(runs, MAY)).current
    assert (m.deployments, m.failed) == (2, 1)
    assert m.fail_rate == 0.5 and fail_rate_band(m.fail_rate) is Band.LOW
    assert m.recoveries == [] and m.unrestored == 1
    assert m.recovery_time is None
    assert m.lead_time is None and m.lead_time_missing == 1  # the success had no commit_ts


def test_runs_across_the_period_boundary() -> None:
    # 30 Apr 23:00 build_in_progress (5 min) opens an outage in April (the previous period);
    # 1 May 00:30 `rollback` scope rollback_success (2 min) ends it at 00:32:
    #   recovery = 00:32 - 23:00 = 1 h 32 min = 5520 s, counted in April, where it began.
    # 1 May 02:00 success: the next deployment after the failure, 2 h 55 min after its end
    #   (inside 24 h): rework, counted in May. A run at exactly May's end is not in May.
    runs = [
        entry("2026-04-30T23:00:00Z", "full", "build_in_progress", 300),
        entry("2026-05-01T00:30:00Z", "rollback", "rollback_success", 120),
        entry("2026-05-01T02:00:00Z", "full", "success", 60),
        entry("2026-05-31T00:00:00Z", "full", "upgrade_failed", 60),
    ]
    app = only(compute(runs, MAY))
    april, may = app.previous, app.current
    assert (april.deployments, april.failed, april.rework) == (1, 1, 0)
    assert april.recoveries == [5520.0] and april.unrestored == 0
    assert recovery_band(april.recovery_time) is Band.HIGH  # under a day, not under an hour
    assert (may.deployments, may.failed, may.rework) == (1, 0, 1)
    assert may.rework_rate == 1.0 and may.recoveries == []
    assert april.days == may.days == 30


def test_a_run_at_the_start_of_the_period_is_in_it() -> None:
    apps = compute([entry("2026-05-01T00:00:00Z", "api", "success", 1)], MAY)
    assert (only(apps).current.deployments, only(apps).previous.deployments) == (1, 0)


def test_an_auto_rollback_restores_at_its_own_end() -> None:
    # upgrade_failed_rolled_back took 400 s: the app was back when it ended, recovery 400 s.
    # 14:00 success is the next deployment, within 24 h of the failure: rework.
    # 7 May success: not after a failure: not rework. CFR 1/3, rework 1/3.
    runs = [
        entry("2026-05-05T12:00:00Z", "api", "upgrade_failed_rolled_back", 400),
        entry("2026-05-05T14:00:00Z", "api", "success", 60),
        entry("2026-05-07T14:00:00Z", "api", "success", 60),
    ]
    m = only(compute(runs, MAY)).current
    assert m.recoveries == [400.0] and recovery_band(m.recovery_time) is Band.ELITE
    assert (m.deployments, m.failed, m.rework) == (3, 1, 1)
    assert m.fail_rate == pytest.approx(1 / 3) and m.rework_rate == pytest.approx(1 / 3)


def test_failures_in_a_row_are_one_outage() -> None:
    # 10:00 upgrade_failed, 11:00 upgrade_failed, 12:00 success taking 200 s:
    #   one outage 10:00 → 12:03:20 = 7400 s. Both later deployments follow a failed
    #   one within 24 h: rework 2 of 3; CFR 2 of 3.
    runs = [
        entry("2026-05-03T10:00:00Z", "api", "upgrade_failed", 100),
        entry("2026-05-03T11:00:00Z", "api", "upgrade_failed", 100),
        entry("2026-05-03T12:00:00Z", "api", "success", 200),
    ]
    m = only(compute(runs, MAY)).current
    assert m.recoveries == [7400.0]
    assert (m.deployments, m.failed, m.rework) == (3, 2, 2)


def test_the_rework_window_is_measured_from_the_failed_runs_end() -> None:
    # The failure ends 10:01; a deployment at 10:01 the next day is exactly 24 h later
    # (rework); with a 12 h window it is not.
    runs = [
        entry("2026-05-03T10:00:00Z", "api", "upgrade_failed_rolled_back", 60),
        entry("2026-05-04T10:01:00Z", "api", "success", 60),
    ]
    assert only(compute(runs, MAY)).current.rework == 1
    assert only(compute(runs, MAY, dt.timedelta(hours=12))).current.rework == 0


def test_one_apps_success_does_not_restore_another() -> None:
    runs = [
        entry("2026-05-03T10:00:00Z", "api", "upgrade_failed", 60, app="billing"),
        entry("2026-05-03T11:00:00Z", "api", "success", 60, app="portal"),
    ]
    billing, portal = compute(runs, MAY)
    assert (billing.app, billing.current.unrestored, billing.current.recoveries) == (
        "billing",
        1,
        [],
    )
    assert (portal.app, portal.current.rework) == ("portal", 0)
    both = combined([billing, portal], MAY).current
    assert (both.deployments, both.failed, both.unrestored) == (2, 1, 1)


def test_what_is_not_a_deployment() -> None:
    # Nothing changed, or the line cannot say: no deployment; a failed manual rollback
    # is a rollback, not a deployment.
    runs = [
        entry("2026-05-03T10:00:00Z", "api", result, 5)
        for result in (
            "parity_rejected",
            "preflight_failed",
            "lock_held",
            "aborted_by_user",
            "aborted",
        )
    ] + [entry("2026-05-03T11:00:00Z", "rollback", "rollback_failed", 60)]
    m = only(compute(runs, MAY)).current
    assert (m.deployments, m.failed, m.unrestored) == (0, 0, 0)
    assert m.fail_rate is None and m.rework_rate is None and m.frequency == 0.0


def test_bad_commit_ts_and_unreadable_ts_are_left_out() -> None:
    runs = [
        entry("2026-05-03T10:00:00Z", "api", "success", 60, commit_ts="yesterday"),
        entry("not a time", "api", "success", 60),
        entry("2026-05-04T10:00:00Z", "api", "success", 60, commit_ts="2026-05-04T12:00:00+02:00"),
    ]
    m = only(compute(runs, MAY)).current
    # 12:00+02:00 is 10:00Z: the end (10:01Z) minus it is 60 s.
    assert (m.deployments, m.lead_time_missing, m.lead_times) == (2, 1, [60.0])


@pytest.mark.parametrize(
    ("per_day", "band"),
    [
        (2.0, Band.ELITE),
        (1.0, Band.ELITE),
        (0.99, Band.HIGH),
        (1 / 7, Band.HIGH),
        (0.13, Band.MEDIUM),
        (1 / 30, Band.MEDIUM),
        (0.03, Band.LOW),
        (0.0, Band.LOW),
    ],
)
def test_frequency_bands(per_day: float, band: Band) -> None:
    assert frequency_band(per_day) is band


@pytest.mark.parametrize(
    ("seconds", "band"),
    [
        (86399, Band.ELITE),
        (86400, Band.HIGH),
        (7 * 86400, Band.MEDIUM),
        (30 * 86400, Band.LOW),
        (None, None),
    ],
)
def test_lead_time_bands(seconds: float | None, band: Band | None) -> None:
    assert lead_time_band(seconds) is band


@pytest.mark.parametrize(
    ("rate", "band"),
    [
        (0.0, Band.ELITE),
        (0.05, Band.ELITE),
        (0.051, Band.HIGH),
        (0.10, Band.HIGH),
        (0.20, Band.HIGH),
        (0.21, Band.LOW),
        (None, None),
    ],
)
def test_fail_rate_bands_never_give_medium(rate: float | None, band: Band | None) -> None:
    assert fail_rate_band(rate) is band


@pytest.mark.parametrize(
    ("seconds", "band"),
    [(3599, Band.ELITE), (3600, Band.HIGH), (86399, Band.HIGH), (86400, Band.LOW), (None, None)],
)
def test_recovery_bands(seconds: float | None, band: Band | None) -> None:
    assert recovery_band(seconds) is band
