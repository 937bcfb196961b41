"""Races: many runs at once on one app, many writers on one history file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from fakes.app import App


def test_twenty_concurrent_runs_exactly_one_proceeds(app: App) -> None:
    app.set(sleep_build=2)
    runs = [app.popen("api", "--yes") for _ in range(20)]
    codes = [run.wait(timeout=120) for run in runs]
    for run in runs:
        run.communicate()
    assert sorted(codes) == [0] + [1] * 19
    results = [line["result"] for line in app.lines()]
    assert len(results) == 20
    assert results.count("success") == 1 and results.count("lock_held") == 19
    assert len(app.get()["deploys"]) == 1


WRITER = """
import sys
from pathlib import Path
from elb_upgrade.history.record import Entry, append
path, who, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
for i in range(count):
    msg = f"writer {who} line {i} " + "x" * (i % 7) * 300
    assert append(path, Entry("2026-01-01T00:00:00Z", "api", "demo", "t", "abc", "success",
                              i, msg, 0)) is None
"""


def test_fifty_writers_two_hundred_lines_each_never_tear(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(w), "200"])
        for w in range(50)
    ]
    assert all(w.wait(timeout=120) == 0 for w in writers)
    lines = path.read_bytes().splitlines()
    assert len(lines) == 10_000
    seen = {
        (json.loads(line)["message"].split(" ")[1], json.loads(line)["elapsed_seconds"])
        for line in lines
    }
    assert len(seen) == 10_000  # every line whole and distinct
