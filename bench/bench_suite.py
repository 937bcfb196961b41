"""The whole suite as `scripts/test.sh` runs it (`scripts/check.sh`), N times in a row,
beside the suite before issue 10, in one batch.

    uv run python bench/run.py suite     # 10 runs of this tree, 3 of the tree before issue 10

Set-up (scripts/setup.sh) runs once before. Every run then starts as a fresh clone would:
no mypy cache, no pytest cache, no rewritten test bytecode. A run is green when every step
exits 0. Reported: how many runs of this tree in a row were green, the wall time of each,
and the ratio of this tree's median to the median of the tree issue 10 was filed against
(target: at most 0.5, "half of today's wall time").

The tree before issue 10 (`BASELINE`, commit 26d3d78) is checked out in a temporary git
worktree (its tests expect a git checkout), gets its own environment (`uv sync`) and its
own set-up, and runs its own steps (ruff, mypy, pytest in one process). Its runs are
interleaved with this tree's, so both see the same machine: these machines are shared,
and the suite's wall time moves with the host's load by a third from one hour to the next.

    ELB_SUITE_RUNS=N           runs of this tree (default 10)
    ELB_SUITE_BASELINE_RUNS=M  runs of the tree before issue 10 (default 3; 0: none)
    ELB_SUITE_BASELINE=REV     another tree to compare with

Only run when named: it takes N + M suites (about 40 minutes with the defaults).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

EXPLICIT = True  # bench/run.py runs this only when asked by name
ROOT = Path(__file__).resolve().parents[1]
BASELINE = "26d3d78"  # the last commit before issue 10: its suite took ~230 s
Step = Sequence[str]
Steps = Callable[[str], list[Step]]  # the steps of one run, given a fresh mypy cache folder


def _current_steps(cache: str) -> list[Step]:
    """This tree's suite: scripts/check.sh, which scripts/test.sh runs after set-up (ruff,
    then mypy beside one collection pass and pytest on six workers)."""
    return [["env", f"MYPY_CACHE_DIR={cache}", "scripts/check.sh", "-q", "-p", "no:cacheprovider"]]


def _baseline_steps(cache: str) -> list[Step]:
    """The steps the tree before issue 10 ran (its scripts/test.sh): one pytest process."""
    return [
        ["uv", "run", "--quiet", "ruff", "check", "."],
        ["uv", "run", "--quiet", "mypy", "--cache-dir", cache],
        ["uv", "run", "--quiet", "pytest", "-q", "-p", "no:cacheprovider"],
    ]


def _one_run(tree: Path, steps_for: Steps, log: Path) -> tuple[bool, float]:
    for folder in (tree / "tests").rglob("__pycache__"):  # what a fresh clone lacks
        shutil.rmtree(folder, ignore_errors=True)
    env = _outside_any_venv()
    with tempfile.TemporaryDirectory() as cache, log.open("w") as out:
        started = time.monotonic()
        ok = all(
            subprocess.run(
                step,
                cwd=tree,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_default_signals,
            ).returncode
            == 0
            for step in steps_for(cache)
        )
        return ok, time.monotonic() - started


def _default_signals() -> None:
    """Each run starts as from a terminal: a bench started in the background (`cmd &`)
    ignores SIGINT and SIGQUIT, and its children would inherit that. The tree before
    issue 10 did not restore SIGINT, so its signal tests hung on an ignored Ctrl+C."""
    for signum in (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def _outside_any_venv() -> dict[str, str]:
    """This environment without the venv `uv run` put this process in: each tree's own
    `uv run` then finds its own `elb-upgrade` on PATH, never this tree's."""
    venv = os.environ.get("VIRTUAL_ENV", "")
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if not venv or
            not p.startswith(venv)]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    return {**env, "PATH": os.pathsep.join(path)}


@contextlib.contextmanager
def _baseline_tree(revision: str) -> Iterator[Path]:
    """A git worktree of `revision` (its tests expect a git checkout), with its own
    environment and set-up done; removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="elb-suite-") as scratch:
        tree = Path(scratch) / "baseline"
        git = ["git", "-C", str(ROOT), "worktree"]
        subprocess.run([*git, "add", "--detach", str(tree), revision], capture_output=True,
                       check=True)  # fmt: skip
        try:
            for step in (["uv", "sync", "--quiet", "--all-extras", "--frozen"],
                         ["scripts/setup.sh"]):  # fmt: skip
                subprocess.run(step, cwd=tree, stdout=subprocess.DEVNULL, check=True)
            yield tree
        finally:
            subprocess.run([*git, "remove", "--force", str(tree)], capture_output=True)


def _baseline_slots(runs: int, baseline_runs: int) -> set[int]:
    """Before which of this tree's runs (0-based) a baseline run goes: spread evenly."""
    if baseline_runs <= 0:
        return set()
    return {round(i * runs / baseline_runs) for i in range(baseline_runs)}


def _batch(
    baseline: Path | None, runs: int, baseline_runs: int, logs: Path
) -> tuple[list[tuple[bool, float]], list[tuple[bool, float]]]:
    current: list[tuple[bool, float]] = []
    before: list[tuple[bool, float]] = []
    slots = _baseline_slots(runs, baseline_runs) if baseline else set()
    for n in range(runs):
        if baseline and n in slots:
            log = logs / f"baseline-{len(before) + 1}.log"
            ok, seconds = _one_run(baseline, _baseline_steps, log)
            before.append((ok, seconds))
            print(f"  baseline run {len(before)}: {'green' if ok else 'red'} in {seconds:.1f} s",
                  file=sys.stderr)  # fmt: skip
        ok, seconds = _one_run(ROOT, _current_steps, logs / f"run-{n + 1}.log")
        current.append((ok, seconds))
        print(f"  suite run {n + 1}: {'green' if ok else 'RED'} in {seconds:.1f} s",
              file=sys.stderr)  # fmt: skip
    return current, before


def run() -> list[dict[str, object]]:
    runs = int(os.environ.get("ELB_SUITE_RUNS", "10"))
    baseline_runs = int(os.environ.get("ELB_SUITE_BASELINE_RUNS", "3"))
    revision = os.environ.get("ELB_SUITE_BASELINE", BASELINE)
    subprocess.run([str(ROOT / "scripts" / "setup.sh")], check=True, stdout=subprocess.DEVNULL)
    logs = ROOT / "bench" / "results" / "suite"
    logs.mkdir(parents=True, exist_ok=True)
    for old in logs.glob("*.log"):
        old.unlink()
    if baseline_runs > 0:
        with _baseline_tree(revision) as baseline:
            current, before = _batch(baseline, runs, baseline_runs, logs)
    else:
        current, before = _batch(None, runs, 0, logs)
    walls = [s for _, s in current]
    in_a_row = next((i for i, (ok, _) in enumerate(current) if not ok), len(current))
    median = statistics.median(walls)
    row = {"benchmark": "suite (ruff, mypy, pytest)"}
    rows: list[dict[str, object]] = [
        {**row, "metric": f"green runs in a row (of {runs})", "value": in_a_row,
         "target": f"{runs}", "ok": in_a_row == runs},
        {**row, "metric": "median wall time (s)", "value": median, "target": "", "ok": None},
        {**row, "metric": "fastest / slowest (s)",
         "value": f"{min(walls):.1f} / {max(walls):.1f}", "target": "", "ok": None},
    ]  # fmt: skip
    if before:
        before_median = statistics.median(s for _, s in before)
        base = {"benchmark": f"suite before issue 10 ({revision})"}
        rows += [
            {**base, "metric": "median wall time (s)", "value": before_median, "target": "",
             "ok": None},
            {**base, "metric": "green runs", "value": sum(ok for ok, _ in before),
             "target": "", "ok": None},
            {**row, "metric": "median / median before issue 10", "value": median / before_median,
             "target": "<= 0.5", "ok": median / before_median <= 0.5},
        ]  # fmt: skip
    return rows
