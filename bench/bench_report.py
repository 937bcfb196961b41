"""`elb-upgrade report` on a 100,000-line history: streaming read, metrics, rendering.

    uv run python bench/run.py report

The history is bench_history's (11 result values, 5 scopes, 3 apps, one torn line in
1,000, one run every ten minutes, about 690 days) plus `commit_ts` on every line, so
lead time is computed for each success. `--since 800d` puts every line in the period:
the worst case (100,000 runs in the timeline, drawn with WebGL, and in the DORA pass).
Each timing is the real CLI as a subprocess, interpreter start-up included, median of
ROUNDS runs; the in-process pass (scan + DORA + weekly counts) is timed alone too.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_history import LINES, generate, timed

ROUNDS = 3
TARGET = 2.0


def with_commit_times(source: Path, target: Path) -> None:
    """Every parsable line again, with `commit_ts` two hours before its `ts`."""
    with source.open() as lines, target.open("w") as out:
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                out.write(line)
                continue
            started = dt.datetime.fromisoformat(entry["ts"].replace("Z", "+00:00"))
            entry["commit_ts"] = (started - dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
            out.write(json.dumps(entry, separators=(",", ":")) + "\n")


def in_process(path: Path) -> float:
    from elb_upgrade.history.dora import Period
    from elb_upgrade.history.read import Scan
    from elb_upgrade.history.source import LocalSource
    from elb_upgrade.report.data import gather

    times = []
    for _ in range(ROUNDS):
        gc.collect()  # the previous round's runs are gone before this one is timed
        now = dt.datetime.now(dt.UTC)
        begin = time.perf_counter()
        data = gather(LocalSource(Scan(path)), Period(now - dt.timedelta(days=800), now))
        times.append(time.perf_counter() - begin)
        assert len(data.runs) > 0.99 * LINES
        del data
    return statistics.median(times)


def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="elb-bench-report-") as tmp:
        plain, path = Path(tmp) / "plain.jsonl", Path(tmp) / "history.jsonl"
        generate(plain)
        with_commit_times(plain, path)
        env = {**os.environ, "ELB_UPGRADE_HISTORY": str(path), "NO_COLOR": "1"}
        out = str(Path(tmp) / "report.html")
        stats = timed(["history", "--stats"], env)
        markdown = timed(["report", "--markdown", "--since", "800d"], env)
        html_all = timed(["report", "--since", "800d", "-o", out], env)
        size = Path(out).stat().st_size
        html_30d = timed(["report", "-o", out], env)
        pure = in_process(path)
    return [
        row(
            f"report --markdown, all {LINES:,} lines (s)",
            markdown,
            f"< {TARGET:g}",
            markdown < TARGET,
        ),
        row("history --stats, same file, side by side (s)", stats),
        row("report --markdown / history --stats", round(markdown / stats, 2)),
        row(f"report HTML, all {LINES:,} lines (s)", html_all),
        row("report HTML, all lines: file size (MB)", round(size / 1e6, 1)),
        row("report HTML, default 30d (s)", html_30d),
        row("scan + DORA + weeks in-process, all lines (s)", pure, f"< {TARGET:g}", pure < TARGET),
    ]


def row(metric: str, value: float, target: str = "", ok: bool | None = None) -> dict[str, Any]:
    return {"benchmark": "report", "metric": metric, "value": value, "target": target, "ok": ok}


if __name__ == "__main__":
    for r in run():
        print(r)
