"""Deploy statistics from history entries, in one streaming pass (pure: `now` is passed in).

Definitions (docs/operate/upgrade.md repeats them for operators):
- a run *succeeded* when its result is `success` or `rollback_success` (exit code 0);
- success rate = succeeded runs / all runs;
- elapsed mean, p50 and p95 are over every run of a scope; percentiles are nearest-rank,
  so each is an elapsed time some run really took;
- a *failure* is a run that touched the app and did not succeed. Runs that stopped
  before the snapshot (`parity_rejected`, `preflight_failed`, `lock_held`,
  `aborted_by_user`) changed nothing, so they neither start nor end an outage;
- time to recovery, per app: from the start (`ts`) of the first failure after a success
  to the end (`ts` + `elapsed_seconds`) of the next successful run of that app.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from elb_upgrade.clock import iso_z, moment
from elb_upgrade.history.read import Entry
from elb_upgrade.results import Result

SUCCEEDED = frozenset({Result.SUCCESS, Result.ROLLBACK_SUCCESS})
UNTOUCHED = frozenset(
    {
        Result.PARITY_REJECTED,
        Result.PREFLIGHT_FAILED,
        Result.LOCK_HELD,
        Result.ABORTED_BY_USER,
        Result.LOCK_BROKEN,
    }
)


@dataclass(frozen=True)
class ScopeStats:
    scope: str
    runs: int
    succeeded: int
    mean: float
    p50: float
    p95: float


@dataclass
class Stats:
    runs: int = 0
    succeeded: int = 0
    results: dict[str, int] = field(default_factory=dict)
    scopes: list[ScopeStats] = field(default_factory=list)
    last_success: Entry | None = None
    since_last_success: float | None = None
    recoveries: list[float] = field(default_factory=list)
    failing_since: dict[str, str] = field(default_factory=dict)

    @property
    def success_rate(self) -> float | None:
        return self.succeeded / self.runs if self.runs else None

    @property
    def mttr(self) -> float | None:
        return sum(self.recoveries) / len(self.recoveries) if self.recoveries else None

    def to_json(self) -> dict[str, Any]:
        """The `history --stats --json` object (version 1; additions only)."""
        rate, mttr = self.success_rate, self.mttr
        return {
            "version": 1,
            "runs": self.runs,
            "succeeded": self.succeeded,
            "success_rate": None if rate is None else round(rate, 4),
            "results": self.results,
            "scopes": [
                {
                    "scope": s.scope,
                    "runs": s.runs,
                    "succeeded": s.succeeded,
                    "elapsed_mean": round(s.mean, 2),
                    "elapsed_p50": s.p50,
                    "elapsed_p95": s.p95,
                }
                for s in self.scopes
            ],
            "last_success": self.last_success,
            "seconds_since_last_success": _whole(self.since_last_success),
            "recoveries": len(self.recoveries),
            "mttr_seconds": _whole(mttr),
            "failing_since": self.failing_since,
        }


def summarise(entries: Iterable[Entry], now: dt.datetime) -> Stats:
    """Counts, success rate, elapsed per scope, last success and recovery times."""
    tally = _Tally()
    for entry in entries:
        tally.add(entry)
    return tally.finish(now)


def percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending, non-empty list."""
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def end_of(entry: Entry) -> dt.datetime | None:
    """When a run finished: its start `ts` plus `elapsed_seconds`."""
    start = moment(entry.get("ts"))
    if start is None:
        return None
    return start + dt.timedelta(seconds=float(entry.get("elapsed_seconds") or 0))


class _Tally:
    def __init__(self) -> None:
        self.results: Counter[str] = Counter()
        self.elapsed: defaultdict[str, list[float]] = defaultdict(list)
        self.scope_ok: Counter[str] = Counter()
        self.last_ok: Entry | None = None
        self.outage: dict[str, dt.datetime] = {}
        self.recoveries: list[float] = []

    def add(self, entry: Entry) -> None:
        # The hot loop of `history --stats` (100,000 calls): no work a run does not need.
        result, scope = str(entry["result"]), str(entry["scope"])
        self.results[result] += 1
        self.elapsed[scope].append(entry.get("elapsed_seconds") or 0)
        if result in SUCCEEDED:
            self.scope_ok[scope] += 1
            self.last_ok = entry
            start = self.outage.pop(str(entry.get("app", "")), None)
            if start is not None:
                self._recovered(start, entry)
        elif result not in UNTOUCHED:
            app = str(entry.get("app", ""))
            if app not in self.outage:
                start = moment(entry.get("ts"))
                if start is not None:
                    self.outage[app] = start

    def _recovered(self, start: dt.datetime, entry: Entry) -> None:
        end = end_of(entry)
        if end is not None:
            self.recoveries.append((end - start).total_seconds())

    def finish(self, now: dt.datetime) -> Stats:
        ended = end_of(self.last_ok) if self.last_ok else None
        return Stats(
            runs=sum(self.results.values()),
            succeeded=sum(self.scope_ok.values()),
            results=dict(self.results.most_common()),
            scopes=[self._scope(name) for name in sorted(self.elapsed)],
            last_success=self.last_ok,
            since_last_success=(now - ended).total_seconds() if ended else None,
            recoveries=self.recoveries,
            failing_since={app: iso_z(start) for app, start in sorted(self.outage.items())},
        )

    def _scope(self, name: str) -> ScopeStats:
        values = sorted(self.elapsed[name])
        return ScopeStats(
            scope=name,
            runs=len(values),
            succeeded=self.scope_ok[name],
            mean=sum(values) / len(values),
            p50=_number(percentile(values, 50)),
            p95=_number(percentile(values, 95)),
        )


def _number(value: float) -> float:
    """Whole seconds print as ints (127, not 127.0) in text and JSON."""
    return int(value) if float(value).is_integer() else value


def _whole(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds)
