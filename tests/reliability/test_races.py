"""Races and crashes: 50 runs at once, kill -9 in every phase, inherited descriptors, and
100 processes appending history at once."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from elb_upgrade.history import record as history
from fakes.app import App
from fakes.wait import wait_until
from fakes.zygote import Forked
from reliability.relkit import (
    V0,
    V1,
    alive,
    child_fds,
    history_lines,
    lock_is_free,
    release,
    snapshot_images,
    wait_mark,
    write_snapshot,
)

RUNS = 50


@pytest.mark.usefixtures("soak")
def test_fifty_concurrent_runs_exactly_one_proceeds(app: App) -> None:
    """49 of 50 simultaneous runs exit 1 at once naming the one holder; it finishes alone.
    The runs are forked from one interpreter (fakes/herd.py): 50 processes, 1 start-up."""
    app.set(pause={"build": 120})
    herd = app.herd([(["api", "--yes"], {})] * RUNS)
    runs = herd.runs
    try:
        wait_until(
            lambda: sum(run.poll() is not None for run in runs) >= RUNS - 1,
            90,
            what="the losing runs all exited",
            every=0.05,
        )
        [winner] = [run for run in runs if run.poll() is None]
        wait_mark(app, "build")
        assert snapshot_images(app) == V1  # written once, whole, by the winner
        release(app, "build")
        outputs = {run.pid: run.communicate(timeout=60) for run in runs}
    finally:
        herd.kill_all()
    assert winner.returncode == 0, outputs[winner.pid][1]
    losers = [run for run in runs if run is not winner]
    holder = f"another elb-upgrade run holds {app.lock} (pid {winner.pid}, "
    for run in losers:
        stderr = outputs[run.pid][1]
        assert run.returncode == 1
        assert holder in stderr and "scope api, since " in stderr, stderr
        assert "Traceback" not in stderr
    lines = history_lines(app)
    assert len(lines) == RUNS
    assert sorted(line["result"] for line in lines) == ["lock_held"] * (RUNS - 1) + ["success"]
    assert all(line["exit_code"] == (0 if line["result"] == "success" else 1) for line in lines)
    assert len(app.get()["deploys"]) == 1 and len(app.get()["built"]) == 1
    assert snapshot_images(app) == V1
    assert lock_is_free(app)


# phase → (pause point, args, was the new snapshot written before the kill?)
KILL_PHASES = {
    "preflight": ("check", ["full", "--yes", "--tag", "v2"], False),
    "snapshot": ("snapshot", ["full", "--yes", "--tag", "v2"], False),
    "build": ("build", ["full", "--yes", "--tag", "v2"], True),
    "deploy": ("deploy#1:worker", ["full", "--yes", "--tag", "v2"], True),
    "gate": ("status", ["full", "--yes", "--tag", "v2"], True),
    "rollback": ("deploy#2:worker", ["full", "--yes", "--tag", "bad"], True),
}


@pytest.mark.parametrize("phase", list(KILL_PHASES))
@pytest.mark.usefixtures("soak")
def test_kill_9_in_every_phase_leaves_a_way_back(app: App, phase: str) -> None:
    """After kill -9 the lock is free, the snapshot is whole (old or new) and the next run
    rolls the app back to the snapshot's images."""
    point, args, new_snapshot = KILL_PHASES[phase]
    write_snapshot(app, V0, "demo--0")  # what an earlier run left: the "old" snapshot
    app.set(pause={point: 60}, crash_tags=["bad"])
    run = app.popen(*args)
    wait_mark(app, point)
    run.kill()
    run.communicate(timeout=30)
    assert run.returncode == -signal.SIGKILL
    app.set(pause={})

    assert lock_is_free(app)
    expected = V1 if new_snapshot else V0
    assert snapshot_images(app) == expected  # never partial: old or new, whole
    if phase == "snapshot":  # killed between the temp file and the rename
        assert list(app.snapshot.parent.glob(f".{app.snapshot.name}.*.tmp"))
    if phase in ("deploy", "rollback"):  # the kill left the app half-changed
        images = app.get()["images"]
        assert images["api"] != images["worker"]

    done = app.run("rollback", "--yes")
    assert done.returncode == 0, done.stderr
    assert app.get()["images"] == expected
    [line] = history_lines(app)  # the killed run could write none
    assert line["result"] == "rollback_success"
    assert lock_is_free(app)


def test_leftover_temp_of_a_killed_snapshot_write_is_cleaned_by_the_next(app: App) -> None:
    write_snapshot(app, V0, "demo--0")
    app.set(pause={"snapshot": 60})
    run = app.popen("api", "--yes", "--tag", "v2")
    wait_mark(app, "snapshot")
    run.kill()
    run.communicate(timeout=30)
    app.set(pause={})
    assert len(list(app.snapshot.parent.glob(f".{app.snapshot.name}.*.tmp"))) == 1
    assert app.run("api", "--yes", "--tag", "v3").returncode == 0
    assert not list(app.snapshot.parent.glob(f".{app.snapshot.name}.*.tmp"))
    assert snapshot_images(app) == V1


WRITER = """
import sys, itertools
from pathlib import Path
from elb_upgrade import snapshot
from elb_upgrade.platforms.base import AppState, ContainerImage
path = Path(sys.argv[1])
print("ready", flush=True)
for n in itertools.count():
    images = tuple(ContainerImage(f"c{i}", f"img:{n}") for i in range(1 + n % 40))
    snapshot.write(path, snapshot.Snapshot("demo", "fake", "t", AppState(f"demo--{n}", images)))
"""
KILLS = 40


def test_kill_9_at_random_moments_of_snapshot_writes_never_leaves_a_partial(
    tmp_path: Path,
) -> None:
    """40 writers killed at random points of a write loop: the file always parses whole."""
    path = tmp_path / "snapshot-demo.json"
    rng = random.Random(7)
    revisions = set()
    for _ in range(KILLS):
        writer = Forked(  # forked by the zygote, which imported the snapshot module
            [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
        )
        assert writer.stdout is not None and writer.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0.0, 0.05))
        writer.kill()
        writer.wait()
        from elb_upgrade import snapshot

        if path.exists():
            snap = snapshot.read(path, "demo")
            n = int(snap.state.revision.split("--")[1])
            assert len(snap.state.images) == 1 + n % 40
            assert {c.image for c in snap.state.images} == {f"img:{n}"}
            revisions.add(n)
    assert revisions  # the writes really happened


@pytest.mark.usefixtures("soak")
def test_a_child_left_running_never_keeps_the_lock(app: App) -> None:
    """A build tool's child that inherits every inheritable descriptor and outlives a
    kill -9 of the run holds none of our files: the next run proceeds."""
    app.set(spawn_in_build=True, pause={"build": 60})
    run = app.popen("api", "--yes", "--tag", "v2")
    wait_mark(app, "build")
    child = int(app.state.with_name(app.state.name + ".child").read_text())
    try:
        ours = {str(app.lock), str(app.snapshot), str(app.history)}
        assert not ours & set(child_fds(child))
        assert str(app.lock) in child_fds(run.pid)  # the run itself does hold it
        run.kill()
        run.communicate(timeout=30)
        assert alive(child)
        assert lock_is_free(app)
        app.set(spawn_in_build=False, pause={})
        done = app.run("api", "--yes", "--tag", "v3")
        assert done.returncode == 0, done.stderr
        assert alive(child)  # still running, and it did not matter
    finally:
        os.kill(child, signal.SIGKILL)


# One interpreter imports the writer, then forks the 100 processes that append at once.
APPENDERS = """
import os, sys
from pathlib import Path
from elb_upgrade.history.record import Entry, append
path, processes, count = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])

def appends(who):
    for i in range(count):
        size = 6000 if i % 10 == 0 else (i * 37) % 900
        msg = f"writer {who} line {i} " + "\\u00e9\\"\\n\\x1b" * (size // 4)
        assert append(path, Entry("2026-01-01T00:00:00Z", "api", "demo", "t", "abc",
                                  "success", i, msg, 0)) is None

children = []
for who in range(processes):
    pid = os.fork()
    if pid == 0:
        try:
            appends(who)
        except BaseException:
            import traceback
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    children.append(pid)
sys.exit(sum(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0 for pid in children))
"""
PROCESSES, APPENDS = 100, 100


@pytest.mark.usefixtures("soak")
def test_hundred_processes_hundred_appends_each_whole_lines(tmp_path: Path) -> None:
    """10,000 appends from 100 processes: 10,000 valid lines, none torn, merged or split;
    the 4 KiB-plus messages are cut, never split."""
    path = tmp_path / "history.jsonl"
    writers = subprocess.run(
        [sys.executable, "-c", APPENDERS, str(path), str(PROCESSES), str(APPENDS)], timeout=180
    )
    assert writers.returncode == 0  # the number of writers that failed
    raw = path.read_bytes()
    lines = raw.splitlines()
    assert raw.endswith(b"\n") and len(lines) == PROCESSES * APPENDS
    seen = set()
    for line in lines:
        assert len(line) + 1 < history.MAX_LINE
        entry = json.loads(line)
        assert list(entry) == list(history.KEYS)
        _, who, _, i = entry["message"].split(" ", 4)[:4]
        seen.add((int(who), int(i)))
        if int(i) % 10 == 0:
            assert entry["message"].endswith("…")
    assert len(seen) == PROCESSES * APPENDS


def test_a_run_with_a_message_over_4_kib_records_it_cut_not_split(app: App) -> None:
    app.set(fail_build="boom " + "é" * 10_000)
    done = app.run("api", "--yes")
    assert done.returncode == 1
    raw = app.history.read_bytes()
    assert raw.count(b"\n") == 1 and len(raw) < history.MAX_LINE
    [line] = history_lines(app)
    assert line["result"] == "build_in_progress"
    assert line["message"].startswith("boom éé") and line["message"].endswith("…")
