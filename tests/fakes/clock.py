"""A clock that only moves when something sleeps: tests of waiting never wait."""

from __future__ import annotations

import datetime as dt


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)

    def utcnow(self) -> dt.datetime:
        return dt.datetime(2026, 5, 23, 3, 22, 48, tzinfo=dt.UTC) + dt.timedelta(seconds=self.now)
