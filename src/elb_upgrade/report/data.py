"""What a report shows, gathered in one streaming pass over the history (pure).

The pass keeps the DORA tallies (O(apps) state), the period's runs (for the timeline
and the run table) and per-week counts; runs outside the two periods are read and
dropped. Renderers (`report.html`, `report.markdown`) only format a `ReportData`.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from elb_upgrade.history.dora import (
    DEPLOYED,
    REWORK_WINDOW,
    ROLLBACK_SCOPE,
    AppMetrics,
    DoraTally,
    Period,
    combined,
    start_of,
)
from elb_upgrade.history.read import Entry

LAST_RUNS = 20
# Runs that restored, or tried to restore, a snapshot: `elb-upgrade rollback` and the
# automatic rollback after a failed gate.
ROLLED_BACK = frozenset({"rollback_success", "rollback_failed", "upgrade_failed_rolled_back"})
FAILED_DEPLOY = DEPLOYED - {"success"}
_COUNTED = FAILED_DEPLOY | ROLLED_BACK
WEEK_SECONDS = 7 * 86400


@dataclass
class Week:
    start: dt.date
    failures: int = 0
    rollbacks: int = 0


@dataclass
class ReportData:
    period: Period
    source: str
    apps: list[AppMetrics]
    runs: list[Entry]  # the period's runs, oldest first
    weeks: list[Week]
    skipped: int = 0
    found: bool = True
    apps_filter: tuple[str, ...] = ()
    rework_window: dt.timedelta = REWORK_WINDOW
    results: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> AppMetrics | None:
        """All apps together, when there is more than one."""
        return combined(self.apps, self.period) if len(self.apps) > 1 else None

    @property
    def last_runs(self) -> list[Entry]:
        return self.runs[-LAST_RUNS:]

    @property
    def lead_time_missing(self) -> int:
        return sum(a.current.lead_time_missing + a.previous.lead_time_missing for a in self.apps)


def gather(
    entries: Iterable[Entry],
    period: Period,
    apps: Iterable[str] = (),
    rework_window: dt.timedelta = REWORK_WINDOW,
) -> ReportData:
    """Everything the report shows about `period` (and the one before it, for DORA)."""
    wanted = frozenset(apps)
    tally = DoraTally(period, rework_window)
    runs: list[Entry] = []
    weeks = _weeks(period)
    week0 = dt.datetime.combine(weeks[0].start, dt.time(), dt.UTC).timestamp()
    begin, end = period.start.timestamp(), period.end.timestamp()
    results: Counter[str] = Counter()
    for entry in entries:
        if wanted and entry.get("app") not in wanted:
            continue
        start = start_of(entry)
        tally.add(entry, start)
        if start is None or not begin <= start < end:
            continue
        runs.append(entry)
        result = entry.get("result")
        results[str(result)] += 1
        if result in _COUNTED:
            _count_week(weeks[int((start - week0) // WEEK_SECONDS)], entry)
    return ReportData(
        period,
        "",
        tally.finish(),
        runs,
        weeks,
        apps_filter=tuple(sorted(wanted)),
        rework_window=rework_window,
        results=dict(results.most_common()),
    )


def week_of(when: dt.datetime) -> dt.date:
    """The Monday (UTC) of the week `when` falls in."""
    day = when.astimezone(dt.UTC).date()
    return day - dt.timedelta(days=day.weekday())


def _weeks(period: Period) -> list[Week]:
    """Every week the period touches, Monday first, consecutive."""
    weeks = []
    day, last = week_of(period.start), week_of(period.end)
    while day <= last:
        weeks.append(Week(day))
        day += dt.timedelta(days=7)
    return weeks


def _count_week(week: Week, entry: Entry) -> None:
    result = entry.get("result")
    if result in FAILED_DEPLOY and entry.get("scope") != ROLLBACK_SCOPE:
        week.failures += 1
    if result in ROLLED_BACK:
        week.rollbacks += 1
