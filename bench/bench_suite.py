"""The whole suite as `scripts/test.sh` runs it (ruff, mypy --strict, pytest), N times in a row.

    uv run python bench/run.py suite                 # 10 runs (ELB_SUITE_RUNS=N for other N)

Set-up (scripts/setup.sh) runs once before; every run then starts as a fresh clone would:
no mypy cache and no pytest cache. A run is green when all three exit 0. Reported: how
many of the runs in a row were green, and the wall time of each (target: at most half of
the 230 s pytest alone took before issue 10). Only run when named: it takes N suites.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXPLICIT = True  # bench/run.py runs this only when asked by name
ROOT = Path(__file__).resolve().parents[1]
BEFORE_SECONDS = 230.0  # pytest alone on a fresh clone before issue 10 (issue 10's text)
WORKERS = os.environ.get("ELB_TEST_WORKERS", "6")


def _fresh_clone_caches() -> None:
    """No cache a fresh clone would lack: the tests' rewritten bytecode goes."""
    for folder in (ROOT / "tests").rglob("__pycache__"):
        shutil.rmtree(folder, ignore_errors=True)


def _one_run(log: Path) -> tuple[bool, float]:
    _fresh_clone_caches()
    with tempfile.TemporaryDirectory() as cache, log.open("w") as out:
        pytest = ["env", "-u", "PYTHONDONTWRITEBYTECODE", "uv", "run", "--quiet", "pytest",
                  "-q", "-p", "no:cacheprovider"]  # fmt: skip
        steps = [  # as scripts/test.sh runs them
            ["uv", "run", "--quiet", "ruff", "check", "."],
            ["uv", "run", "--quiet", "mypy", "--cache-dir", cache],
            [*pytest, "--collect-only"],
            [*pytest, "-n", WORKERS, "--dist", "worksteal"],
        ]
        started = time.monotonic()
        ok = all(
            subprocess.run(step, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT).returncode == 0
            for step in steps
        )
        return ok, time.monotonic() - started


def run() -> list[dict[str, object]]:
    runs = int(os.environ.get("ELB_SUITE_RUNS", "10"))
    subprocess.run([str(ROOT / "scripts" / "setup.sh")], check=True, stdout=subprocess.DEVNULL)
    logs = ROOT / "bench" / "results" / "suite"
    logs.mkdir(parents=True, exist_ok=True)
    results = []
    for n in range(1, runs + 1):
        ok, seconds = _one_run(logs / f"run-{n}.log")
        results.append((ok, seconds))
        print(f"  suite run {n}: {'green' if ok else 'RED'} in {seconds:.1f} s", file=sys.stderr)
    walls = [s for _, s in results]
    green = sum(ok for ok, _ in results)
    in_a_row = next((i for i, (ok, _) in enumerate(results) if not ok), len(results))
    row = {"benchmark": "suite (ruff, mypy, pytest)"}
    median, half = statistics.median(walls), BEFORE_SECONDS / 2
    return [
        {**row, "metric": f"green runs in a row (of {runs})", "value": in_a_row,
         "target": f"{runs}", "ok": in_a_row == runs},
        {**row, "metric": "green runs", "value": green, "target": "", "ok": None},
        {**row, "metric": "median wall time (s)", "value": median,
         "target": f"<= {half:.0f}", "ok": median <= half},
        {**row, "metric": "slowest wall time (s)", "value": max(walls), "target": "", "ok": None},
        {**row, "metric": "fastest wall time (s)", "value": min(walls), "target": "", "ok": None},
    ]  # fmt: skip
