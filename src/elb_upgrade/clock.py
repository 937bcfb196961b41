"""Time behind a small seam (so the gate and the run are tested without sleeping), and the
timestamp helpers every contract shares: `iso_z` writes one, `moment` reads one, `human`
says a duration."""

from __future__ import annotations

import datetime as dt
import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...

    def utcnow(self) -> dt.datetime: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))

    def utcnow(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


def iso_z(moment: dt.datetime) -> str:
    """`2026-05-23T03:22:48Z`: the timestamp form of every contract."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def moment(value: object) -> dt.datetime | None:
    """An aware UTC datetime from a history `ts` (naive means UTC); None when unparsable."""
    if not isinstance(value, str):
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when


def human(seconds: float) -> str:
    """`45s`, `3m 12s`, `3h 12m`, `2d 4h`: a duration an operator reads at a glance."""
    total = max(0, round(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"
