"""`elb-upgrade history` on a 100,000-line history: the operator's wall-clock time.

    uv run python bench/run.py history

Generates a realistic history (11 result values, 5 scopes, 3 apps, one corrupt line in
1,000) and times the real CLI as a subprocess, interpreter start-up included, median of
5 runs each: `history --stats` (target < 1 s), the plain table, `--stats --json` with a
`--since` filter, and `--version` as the start-up floor. The pure scan + summary is also
timed in-process, so the share of start-up is visible.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

LINES = 100_000
ROUNDS = 5
TARGET = 1.0
SCOPES = ("full", "api", "frontend", "terminal", "rollback")
APPS = ("elb-dashboard", "billing", "portal")
RESULTS = (
    ["success"] * 70
    + ["upgrade_failed_rolled_back"] * 6
    + ["lock_held"] * 5
    + ["preflight_failed"] * 4
    + ["build_in_progress"] * 4
    + ["aborted_by_user"] * 3
    + ["aborted"] * 2
    + ["parity_rejected", "upgrade_failed", "rollback_failed", "rollback_success"]
)


def generate(path: Path, lines: int = LINES, seed: int = 7) -> None:
    """A history of `lines` runs, about one every ten minutes, ending now."""
    rng = random.Random(seed)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10 * lines)
    with path.open("w") as out:
        for i in range(lines):
            if i % 1000 == 999:
                out.write('{"ts": "2026-05-2\n')  # a line torn by a full disk
                continue
            ts = start + dt.timedelta(minutes=10 * i, seconds=rng.randrange(600))
            sha = f"{rng.getrandbits(28):07x}"
            result = rng.choice(RESULTS)
            entry = {
                "ts": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "scope": rng.choice(SCOPES),
                "app": rng.choice(APPS),
                "tag": f"{ts:%Y%m%d%H%M%S}-{sha}",
                "head_sha": sha,
                "result": result,
                "elapsed_seconds": rng.randrange(20, 400),
                "message": "" if result == "success" else "not ready after 180s: HTTP 503",
                "exit_code": 0 if result in ("success", "rollback_success") else 1,
            }
            out.write(json.dumps(entry, separators=(",", ":")) + "\n")


def timed(args: list[str], env: dict[str, str]) -> float:
    """Median wall-clock seconds of `elb-upgrade ARGS` over ROUNDS runs."""
    command = [sys.executable, "-m", "elb_upgrade", *args]
    times = []
    for _ in range(ROUNDS):
        begin = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - begin)
    return statistics.median(times)


def in_process(path: Path) -> float:
    from elb_upgrade.history.read import Filter, Scan
    from elb_upgrade.history.stats import summarise

    times = []
    for _ in range(ROUNDS):
        begin = time.perf_counter()
        keep = Filter()
        summarise(keep.apply(Scan(path)), dt.datetime.now(dt.UTC))
        times.append(time.perf_counter() - begin)
    return statistics.median(times)


def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="elb-bench-history-") as tmp:
        path = Path(tmp) / "history.jsonl"
        generate(path)
        env = {**os.environ, "ELB_UPGRADE_HISTORY": str(path), "NO_COLOR": "1"}
        stats = timed(["history", "--stats"], env)
        table = timed(["history"], env)
        since = timed(["history", "--stats", "--json", "--since", "30d", "--app", APPS[0]], env)
        floor = timed(["--version"], env)
        pure = in_process(path)
    return [
        row(f"history --stats, {LINES:,} lines (median s)", stats, f"< {TARGET:g}", stats < TARGET),
        row("history (table, last 20) (median s)", table, f"< {TARGET:g}", table < TARGET),
        row("history --stats --json --since 30d --app (s)", since, f"< {TARGET:g}", since < TARGET),
        row("elb-upgrade --version: start-up floor (s)", floor),
        row("scan + summarise in-process (s)", pure),
    ]


def row(metric: str, value: float, target: str = "", ok: bool | None = None) -> dict[str, Any]:
    return {"benchmark": "history", "metric": metric, "value": value, "target": target, "ok": ok}


if __name__ == "__main__":
    for r in run():
        print(r)
