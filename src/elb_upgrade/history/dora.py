"""The DORA software-delivery metrics of deploy history, per app, for a period and the
period of equal length before it. Pure: entries in, numbers out; `now` is the caller's.

Definitions (docs/operate/upgrade.md, "The DORA metrics", repeats them for operators):
- a *deployment* is a run of an upgrade scope (any scope but `rollback`) that got as
  far as changing the app: result `success`, `upgrade_failed`,
  `upgrade_failed_rolled_back`, `rollback_failed` or `build_in_progress` (the line cannot
  tell a failed build from a deploy cut short, so it counts: the metrics never flatter).
  Runs that changed nothing (`parity_rejected`, `preflight_failed`, `lock_held`,
  `aborted_by_user`) and `aborted` runs (a config error, a refusal or Ctrl+C: the line
  cannot say whether anything changed) are not deployments;
- a run belongs to the period its `ts` (start) falls in: `start <= ts < end`;
- *deployment frequency*: deployments per day of the period;
- *change lead time*: median, over the period's successful deployments whose line has
  `commit_ts`, of the run's end (`ts` + `elapsed_seconds`) minus `commit_ts`; lines
  without it (written before elb-upgrade recorded it) are counted in `lead_time_missing`;
- *change fail rate*: deployments that did not end in `success` / deployments;
- *failed deployment recovery time*: median over the period's outages. An outage starts
  with a failed deployment while the app was healthy and ends at the end of the app's
  next run that ended in `success` or `rollback_success` (a later period's run if need
  be: a failure belongs to the period it started in). `upgrade_failed_rolled_back`
  restored the app itself, so its outage ends at its own end. Outages never restored are
  counted in `unrestored` and left out of the median;
- *deployment rework rate*: rework deployments / deployments, where a rework deployment
  is the next deployment of an app after a failed one that starts within
  `rework_window` (default 24 hours) of the failed run's end.
"""

from __future__ import annotations

import datetime as dt
import enum
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field

from elb_upgrade.clock import moment
from elb_upgrade.history.read import Entry

DEPLOYED = frozenset(
    {
        "success",
        "upgrade_failed",
        "upgrade_failed_rolled_back",
        "rollback_failed",
        "build_in_progress",
    }
)
RESTORING = frozenset({"success", "rollback_success"})
SELF_RESTORED = "upgrade_failed_rolled_back"
ROLLBACK_SCOPE = "rollback"
REWORK_WINDOW = dt.timedelta(hours=24)
DAY = 86400.0
WEEK = 7 * DAY
MONTH = 30 * DAY


class Band(enum.StrEnum):
    """The 2024 Accelerate State of DevOps report's performance levels."""

    ELITE = "elite"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


@dataclass(frozen=True)
class Period:
    start: dt.datetime
    end: dt.datetime

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / DAY

    def before(self) -> Period:
        """The period of equal length that ends where this one starts."""
        return Period(self.start - (self.end - self.start), self.start)

    def holds(self, when: dt.datetime) -> bool:
        return self.start <= when < self.end


@dataclass
class Metrics:
    """One app's (or all apps') numbers for one period, with the raw values behind them."""

    days: float
    deployments: int = 0
    failed: int = 0
    rework: int = 0
    lead_times: list[float] = field(default_factory=list)
    lead_time_missing: int = 0
    recoveries: list[float] = field(default_factory=list)
    unrestored: int = 0

    @property
    def frequency(self) -> float:
        """Deployments per day."""
        return self.deployments / self.days if self.days > 0 else 0.0

    @property
    def lead_time(self) -> float | None:
        return statistics.median(self.lead_times) if self.lead_times else None

    @property
    def fail_rate(self) -> float | None:
        return self.failed / self.deployments if self.deployments else None

    @property
    def recovery_time(self) -> float | None:
        return statistics.median(self.recoveries) if self.recoveries else None

    @property
    def rework_rate(self) -> float | None:
        return self.rework / self.deployments if self.deployments else None

    def merged(self, other: Metrics) -> Metrics:
        return Metrics(
            self.days,
            self.deployments + other.deployments,
            self.failed + other.failed,
            self.rework + other.rework,
            self.lead_times + other.lead_times,
            self.lead_time_missing + other.lead_time_missing,
            self.recoveries + other.recoveries,
            self.unrestored + other.unrestored,
        )


@dataclass
class AppMetrics:
    app: str
    current: Metrics
    previous: Metrics


# -- bands ------------------------------------------------------------------------------------
def frequency_band(per_day: float) -> Band:
    """Elite: on demand (more than once a day on average counts from once a day);
    high: once a day to once a week; medium: once a week to once a month; low: less."""
    if per_day >= 1:
        return Band.ELITE
    if per_day * 7 >= 1:
        return Band.HIGH
    if per_day * 30 >= 1:
        return Band.MEDIUM
    return Band.LOW


def lead_time_band(seconds: float | None) -> Band | None:
    """Elite under a day, high under a week, medium under a month, low beyond."""
    return _under(seconds, DAY, WEEK, MONTH)


def fail_rate_band(rate: float | None) -> Band | None:
    """The best level whose published rate this meets: elite 5%, high 20%, low 40%.

    The 2024 report's medium cluster has 10%, better than high's 20%; anything at or
    under 10% already meets high, so medium is never given for this metric.
    """
    if rate is None:
        return None
    if rate <= 0.05:
        return Band.ELITE
    if rate <= 0.20:
        return Band.HIGH
    return Band.LOW


def recovery_band(seconds: float | None) -> Band | None:
    """Elite under an hour, high under a day (medium's is the same), low beyond."""
    if seconds is None:
        return None
    if seconds < 3600:
        return Band.ELITE
    if seconds < DAY:
        return Band.HIGH
    return Band.LOW


def _under(value: float | None, elite: float, high: float, medium: float) -> Band | None:
    if value is None:
        return None
    if value < elite:
        return Band.ELITE
    if value < high:
        return Band.HIGH
    if value < medium:
        return Band.MEDIUM
    return Band.LOW


# -- the computation ------------------------------------------------------------------------
def compute(
    entries: Iterable[Entry],
    period: Period,
    rework_window: dt.timedelta = REWORK_WINDOW,
) -> list[AppMetrics]:
    """The metrics of every app with a run in `period` or the one before, by app name.

    `entries` are read once, in history order (each app's runs are serialised by its
    lock, so file order is each app's run order). Runs dated at or after `period.end`
    are ignored.
    """
    tally = DoraTally(period, rework_window)
    for entry in entries:
        tally.add(entry)
    return tally.finish()


def combined(apps: list[AppMetrics], period: Period) -> AppMetrics:
    """All apps together: counts add up, medians are over every app's values."""
    current, previous = Metrics(period.days), Metrics(period.before().days)
    for app in apps:
        current, previous = current.merged(app.current), previous.merged(app.previous)
    return AppMetrics("all apps", current, previous)


@dataclass
class _AppState:
    outage: float | None = None  # start of the open outage (POSIX seconds)
    outage_in: Metrics | None = None  # the period it counts in
    rework_until: float | None = None


def start_of(entry: Entry) -> float | None:
    """When a run started, in POSIX seconds; None when its `ts` is unreadable."""
    when = moment(entry.get("ts"))
    return None if when is None else when.timestamp()


class DoraTally:
    """Feed entries one by one (`add`), then `finish`; streaming, O(apps) state plus the
    lead and recovery times of the two periods. Times are POSIX seconds inside: the hot
    loop of a 100,000-line report does no datetime arithmetic."""

    def __init__(self, period: Period, rework_window: dt.timedelta = REWORK_WINDOW) -> None:
        self.period, self.previous = period, period.before()
        self.window = rework_window.total_seconds()
        self.bounds = (
            self.previous.start.timestamp(),
            period.start.timestamp(),
            period.end.timestamp(),
        )
        self.apps: dict[str, tuple[Metrics, Metrics]] = {}
        self.state: dict[str, _AppState] = {}

    def add(self, entry: Entry, start: float | None = None) -> None:
        """Count one run; `start` is its `start_of` when the caller has it already."""
        if start is None:
            start = start_of(entry)
        if start is None or start >= self.bounds[2]:
            return
        result = entry.get("result")
        if result not in DEPLOYED and result not in RESTORING:
            if start >= self.bounds[0]:
                self._metrics(str(entry.get("app", "")))  # the app shows, with no deployment
            return
        app = str(entry.get("app", ""))
        state = self.state.get(app)
        if state is None:
            state = self.state[app] = _AppState()
        bucket = self._bucket(app, start)
        end = start + float(entry.get("elapsed_seconds") or 0)
        if result in DEPLOYED and entry.get("scope") != ROLLBACK_SCOPE:
            self._deployment(entry, state, bucket, str(result), start, end)
        elif result in RESTORING:
            self._restored(state, end)

    def _bucket(self, app: str, start: float) -> Metrics | None:
        before, begin, _ = self.bounds
        if start >= begin:
            return self._metrics(app)[0]
        if start >= before:
            return self._metrics(app)[1]
        return None

    def _metrics(self, app: str) -> tuple[Metrics, Metrics]:
        if app not in self.apps:
            self.apps[app] = (Metrics(self.period.days), Metrics(self.previous.days))
        return self.apps[app]

    def _deployment(
        self,
        entry: Entry,
        state: _AppState,
        bucket: Metrics | None,
        result: str,
        start: float,
        end: float,
    ) -> None:
        rework = state.rework_until is not None and start <= state.rework_until
        state.rework_until = None
        if bucket is not None:
            bucket.deployments += 1
            bucket.rework += rework
        if result == "success":
            if bucket is not None:
                self._lead_time(entry, bucket, end)
            self._restored(state, end)
            return
        if bucket is not None:
            bucket.failed += 1
        state.rework_until = end + self.window
        if state.outage is not None:
            return  # the app was already down: the same outage goes on
        if result == SELF_RESTORED:
            if bucket is not None:
                bucket.recoveries.append(end - start)
            return
        state.outage, state.outage_in = start, bucket

    def _lead_time(self, entry: Entry, bucket: Metrics, end: float) -> None:
        committed = moment(entry.get("commit_ts")) if entry.get("commit_ts") else None
        if committed is None:
            bucket.lead_time_missing += 1
        else:
            bucket.lead_times.append(max(0.0, end - committed.timestamp()))

    def _restored(self, state: _AppState, end: float) -> None:
        if state.outage is None:
            return
        if state.outage_in is not None:
            state.outage_in.recoveries.append(max(0.0, end - state.outage))
        state.outage, state.outage_in = None, None

    def finish(self) -> list[AppMetrics]:
        for state in self.state.values():
            if state.outage is not None and state.outage_in is not None:
                state.outage_in.unrestored += 1
        return [
            AppMetrics(app, current, previous)
            for app, (current, previous) in sorted(self.apps.items())
        ]
