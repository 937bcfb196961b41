"""Deploy history, the reader: stream it, filter it, keep the last runs (pure, no printing).

The file is read line by line and never held whole, so `elb-upgrade history` over a
100,000-line file stays well under a second. Lines that are not ours (corrupt, foreign,
half-written by a full disk) are counted in `Scan.skipped`, never fatal. Statistics are
in `elb_upgrade.history.stats`.
"""

from __future__ import annotations

import collections
import datetime as dt
import errno
import json
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from elb_upgrade.clock import moment
from elb_upgrade.errors import ElbUpgradeError, UsageError
from elb_upgrade.results import RECORDED

Entry = dict[str, Any]
_AGE = re.compile(r"^(\d+)([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# json's C scanner, the one `json.loads` ends up in (typeshed does not declare the attribute)
_SCAN: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


class HistoryError(ElbUpgradeError):
    """The history file exists but cannot be read (a directory, no permission)."""


@dataclass
class Scan:
    """The valid entries of one history file, streamed once; `skipped` counts the rest."""

    path: Path
    skipped: int = 0
    valid: int = 0
    found: bool = False

    def __iter__(self) -> Iterator[Entry]:
        try:
            with _open_regular(self.path) as handle:
                self.found = True
                for raw in handle:
                    entry = parse_line(raw)
                    if entry is None:
                        self.skipped += raw.strip() != b""
                    else:
                        self.valid += 1
                        yield entry
        except FileNotFoundError:
            return
        except OSError as exc:
            raise _unreadable(self.path, exc) from None


def parse_line(raw: bytes) -> Entry | None:
    """One history line as a dict, or None when it is not one of ours (blank, corrupt,
    foreign, or a torn line). The only parser of history lines: json's C scanner run
    directly, about twice as fast as `json.loads` on 100,000 lines (docs/benchmarks.md)."""
    try:
        text = raw.decode("utf-8-sig").strip()
        data, end = _SCAN(text, 0)
    except (UnicodeDecodeError, ValueError, StopIteration, RecursionError):
        return None
    if end != len(text) or not isinstance(data, dict):
        return None
    if "ts" not in data or "scope" not in data or "result" not in data:
        return None
    if not isinstance(data.get("elapsed_seconds", 0), int | float):
        return None
    return data


def _open_regular(path: Path) -> BinaryIO:
    # O_NONBLOCK: a FIFO at the path must not hang `history`; it is refused below.
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = (errno.EISDIR, "Is a directory") if stat.S_ISDIR(mode) else (0, "not a file")
        raise OSError(*kind)
    return os.fdopen(fd, "rb")


def _unreadable(path: Path, exc: OSError) -> HistoryError:
    reason = exc.strerror or str(exc)
    if exc.errno == errno.EISDIR:
        fix = "point $ELB_UPGRADE_HISTORY at a file, not a directory"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        fix = (
            f"give yourself read access (chmod u+r {path}) or point $ELB_UPGRADE_HISTORY elsewhere"
        )
    else:
        fix = "check the path in $ELB_UPGRADE_HISTORY"
    return HistoryError(f"cannot read deploy history {path}: {reason}", hint=fix)


@dataclass(frozen=True)
class Filter:
    """Which entries to keep; an empty set means any value."""

    apps: frozenset[str] = field(default_factory=frozenset)
    scopes: frozenset[str] = field(default_factory=frozenset)
    results: frozenset[str] = field(default_factory=frozenset)
    since: dt.datetime | None = None

    def apply(self, entries: Iterable[Entry]) -> Iterable[Entry]:
        """The entries this filter keeps (without a call per entry when it keeps all)."""
        if not (self.apps or self.scopes or self.results or self.since):
            return entries
        return filter(self, entries)

    def __call__(self, entry: Entry) -> bool:
        if self.apps and entry.get("app") not in self.apps:
            return False
        if self.scopes and entry.get("scope") not in self.scopes:
            return False
        if self.results and entry.get("result") not in self.results:
            return False
        if self.since is not None:
            when = moment(entry.get("ts"))
            return when is not None and when >= self.since
        return True


def make_filter(
    apps: Iterable[str],
    scopes: Iterable[str],
    results: Iterable[str],
    since: str | None,
    now: dt.datetime,
) -> Filter:
    """A Filter from command-line values; UsageError names a bad result or --since."""
    unknown = sorted(set(results) - set(RECORDED))
    if unknown:
        raise UsageError(
            f"unknown result {', '.join(unknown)}", hint=f"use one of: {', '.join(RECORDED)}"
        )
    return Filter(
        frozenset(apps),
        frozenset(scopes),
        frozenset(results),
        parse_since(since, now) if since else None,
    )


def parse_since(text: str, now: dt.datetime) -> dt.datetime:
    """`30d`, `12h`, `90m`, `2w`, `45s` before `now`, or a date / ISO timestamp (UTC)."""
    value = text.strip()
    age = _AGE.match(value)
    if age:
        return now - dt.timedelta(seconds=int(age.group(1)) * _UNIT_SECONDS[age.group(2)])
    when = moment(value)
    if when is None:
        raise UsageError(
            f"--since {text!r} is neither an age nor a date",
            hint="use e.g. --since 30d, --since 12h or --since 2026-05-01",
        )
    return when


def last(entries: Iterable[Entry], keep: Filter, limit: int) -> list[Entry]:
    """The last `limit` entries (0: all) that `keep` accepts, oldest first."""
    tail: collections.deque[Entry] = collections.deque(maxlen=limit or None)
    tail.extend(keep.apply(entries))
    return list(tail)
