"""`elb-upgrade lock status`: free, held by another live process, and a dead run's leftover."""

from __future__ import annotations

import getpass
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes.sandbox import HOLDER, Env, hold_lock


def _lock(sandbox: Env) -> Path:
    return Path(f"{sandbox.snapshot}.lock")


@pytest.fixture
def holder(sandbox: Env) -> Iterator[subprocess.Popen[str]]:
    """Another real process holding the flock through `elb_upgrade.lock.try_acquire`."""
    proc = hold_lock(_lock(sandbox), sandbox.env)
    yield proc
    proc.kill()
    proc.wait()


def test_no_lock_file_is_free(sandbox: Env) -> None:
    done = sandbox.run("lock", "status", "--app", "shop")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == f"free: no run holds {_lock(sandbox)}\n"


def test_free_as_json(sandbox: Env) -> None:
    data = json.loads(sandbox.run("lock", "status", "--app", "shop", "--json").stdout)
    assert data == {
        "version": 1,
        "app": "shop",
        "path": str(_lock(sandbox)),
        "state": "free",
        "held": False,
        "holder": None,
        "held_for_seconds": None,
    }


def test_a_lock_another_process_holds_is_reported_with_its_holder(
    sandbox: Env, holder: subprocess.Popen[str]
) -> None:
    done = sandbox.run("lock", "status", "--app", "shop")
    assert done.returncode == 1
    first, second = done.stdout.splitlines()
    who = f"held by pid {holder.pid}, {getpass.getuser()}@{socket.gethostname()}, scope full"
    assert first.startswith(who + ", since 20") and first.endswith("s)")
    assert second == f"  lock file: {_lock(sandbox)}"


def test_a_held_lock_as_json(sandbox: Env, holder: subprocess.Popen[str]) -> None:
    done = sandbox.run("lock", "status", "--app", "shop", "--json")
    assert done.returncode == 1
    data = json.loads(done.stdout)
    assert (data["state"], data["held"]) == ("held", True)
    assert data["holder"]["pid"] == holder.pid
    assert set(data["holder"]) == {"pid", "user", "host", "scope", "started"}
    assert 0 <= data["held_for_seconds"] < 60


def test_kill_9_leaves_a_harmless_leftover_never_held(
    sandbox: Env, holder: subprocess.Popen[str]
) -> None:
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    done = sandbox.run("lock", "status", "--app", "shop")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert lines[0] == f"free: no run holds {_lock(sandbox)}"
    assert lines[1].startswith(f"  leftover record of a run that died: pid {holder.pid}, ")
    assert "harmless: the kernel freed the lock" in lines[2]
    data = json.loads(sandbox.run("lock", "status", "--app", "shop", "--json").stdout)
    assert (data["state"], data["held"], data["held_for_seconds"]) == ("leftover", False, None)
    assert data["holder"]["pid"] == holder.pid


def test_a_leftover_record_does_not_stop_the_next_run_taking_the_lock(sandbox: Env) -> None:
    record = {"pid": 999999, "user": "ann", "host": "ws1", "scope": "api", "started": "x"}
    _lock(sandbox).write_text(json.dumps(record))
    assert "leftover record of a run that died: pid 999999, ann@ws1, scope api" in (
        sandbox.run("lock", "status", "--app", "shop").stdout
    )
    take = subprocess.run(
        [sys.executable, "-c", HOLDER.replace("time.sleep(120)", ""), str(_lock(sandbox))],
        env=sandbox.env,
        capture_output=True,
        text=True,
    )
    assert take.stdout == "held\n"


def test_a_finished_run_leaves_nothing(sandbox: Env) -> None:
    code = HOLDER.replace("time.sleep(120)", "held.release()")
    subprocess.run([sys.executable, "-c", code, str(_lock(sandbox))], env=sandbox.env, check=True)
    assert sandbox.run("lock", "status", "--app", "shop").stdout.startswith("free: no run holds")
    assert "leftover" not in sandbox.run("lock", "status", "--app", "shop").stdout


def test_the_app_comes_from_the_config(shop: Env) -> None:
    config = shop.env.pop("ELB_UPGRADE_CONFIG")
    done = shop.run("lock", "status", "--json", cwd=shop.root / "shop")  # found from the cwd
    assert json.loads(done.stdout)["path"] == f"{shop.snapshot}.lock"
    del shop.env["ELB_UPGRADE_SNAPSHOT"]  # the default path names the app
    explicit = shop.run("lock", "status", "--json", "--config", config)
    assert json.loads(explicit.stdout)["path"] == "/tmp/elb-upgrade-snapshot-shop.json.lock"


def test_no_config_and_no_app_is_a_one_line_error(sandbox: Env) -> None:
    done = sandbox.run("lock", "status")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith(f"error: no elb-upgrade.toml in {sandbox.root} or any parent")
    assert done.stderr.rstrip().endswith("or pass --app NAME")
    assert len(done.stderr.splitlines()) == 1
