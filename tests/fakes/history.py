"""Generated deploy histories: several apps, every result value, torn and foreign lines.

Deterministic for a seed, and the counts a test checks come back with the file, so no
test restates them by hand.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elb_upgrade.results import RECORDED

APPS = ("billing", "portal", "elb-dashboard")
SCOPES = ("full", "api", "frontend")
TORN = ('{"ts": "2026-05-2', "not json at all", '["a", "list"]', '{"foreign": true}')


def entry(
    ts: str,
    scope: str,
    result: str,
    elapsed: int = 60,
    *,
    app: str = "billing",
    commit_ts: str | None = None,
    message: str = "",
    tag: str = "t1",
    who: str | None = None,
) -> dict[str, Any]:
    """One history line as a dict, with the exit code its result has."""
    exit_code = {"success": 0, "rollback_success": 0, "rollback_failed": 3}.get(result, 1)
    line: dict[str, Any] = {
        "ts": ts,
        "scope": scope,
        "app": app,
        "tag": tag,
        "head_sha": "abc1234",
        "result": result,
        "elapsed_seconds": elapsed,
        "message": message,
        "exit_code": exit_code,
    }
    if commit_ts is not None:
        line["commit_ts"] = commit_ts
    if who is not None:
        line["who"] = who
    return line


@dataclass
class Generated:
    path: Path
    entries: list[dict[str, Any]] = field(default_factory=list)
    torn: int = 0

    def in_period(self, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
        def when(e: dict[str, Any]) -> dt.datetime:
            return dt.datetime.fromisoformat(e["ts"].replace("Z", "+00:00"))

        return [e for e in self.entries if start <= when(e) < end]


def generate(
    path: Path, now: dt.datetime, runs: int = 60, days: int = 30, seed: int = 17
) -> Generated:
    """`runs` runs spread over the `days` before `now`: every recorded result value at
    least once, three apps, some lines with commit_ts, a torn line every 15 runs."""
    rng = random.Random(seed)
    results = [r.value for r in RECORDED]
    out = Generated(path)
    span = days * 86400
    with path.open("w") as handle:
        for i in range(runs):
            if i % 15 == 14:
                handle.write(TORN[out.torn % len(TORN)] + "\n")
                out.torn += 1
            started = now - dt.timedelta(seconds=span * (runs - i) / (runs + 1))
            result = results[i] if i < len(results) else rng.choice(results)
            scope = "rollback" if result == "rollback_success" else rng.choice(SCOPES)
            line = entry(
                started.strftime("%Y-%m-%dT%H:%M:%SZ"),
                scope,
                result,
                rng.randrange(5, 400),
                app=APPS[i % len(APPS)],
                commit_ts=(started - dt.timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
                if i % 2
                else None,
                message="" if result == "success" else f"run {i} ended: <b>{result}</b> | x",
                tag=f"{started:%Y%m%d%H%M%S}-{i:07x}",
                who="ann@ci-1" if i % 3 else None,
            )
            out.entries.append(line)
            handle.write(json.dumps(line) + "\n")
        handle.write('{"ts": "2026-06-01T00:00:00Z", "scope": "full", "res')  # torn at the end
        out.torn += 1
    return out
