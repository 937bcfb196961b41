"""The suite's one fake clock: time moves only when something sleeps or a test says so.

`FakeClock()` starts at 1000.0 and moves by `sleep()` (the run's and the gate's `Clock`)
or `advance()` (the readiness cache, which calls the clock itself: `clock()`).
`FakeClock(real=True)` adds real monotonic time under the skipped sleeps: the gate's
deadline is met by skipped sleeps while a fetch that hangs still costs its real time, so a
test's wall time measures exactly what I/O cost.
"""

from __future__ import annotations

import datetime as dt
import time

EPOCH = dt.datetime(2026, 5, 23, 3, 22, 48, tzinfo=dt.UTC)


class FakeClock:
    def __init__(self, start: float = 1000.0, *, real: bool = False) -> None:
        self.start, self.real = start, real
        self.skipped = 0.0
        self.sleeps: list[float] = []

    @property
    def now(self) -> float:
        return self.start + self.skipped + (time.monotonic() if self.real else 0.0)

    def monotonic(self) -> float:
        return self.now

    __call__ = monotonic

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.skipped += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        """Move time on without recording a sleep."""
        self.skipped += seconds

    def utcnow(self) -> dt.datetime:
        if self.real:
            return dt.datetime.now(dt.UTC)
        return EPOCH + dt.timedelta(seconds=self.now)
