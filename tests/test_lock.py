"""The lock: exclusive, names its holder, refuses planted files, never inherited."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from elb_upgrade import lock
from elb_upgrade.errors import LockHeldError, UnsafePathError
from fakes.clock import FakeClock

HOLDER = lock.Holder(123, "ops", "ws1", "full", "2026-05-23T03:22:48Z")


def test_second_acquire_names_holder(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    with lock.acquire(path, HOLDER):
        assert lock.is_held(path)
        child = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from pathlib import Path; from elb_upgrade import lock\n"
                "try:\n lock.try_acquire(Path(sys.argv[1]), lock.Holder(1,'a','b','c','d'))\n"
                "except BlockingIOError as e: print(e); sys.exit(7)",
                str(path),
            ],
            capture_output=True,
            text=True,
        )
        assert child.returncode == 7
        assert (
            f"another elb-upgrade run holds {path} (pid 123, ops@ws1, scope full, since "
            "2026-05-23T03:22:48Z)" in child.stdout
        )
    assert not lock.is_held(path)
    assert path.read_text() == ""  # record cleared on release


def test_lock_held_error_is_a_blocking_io_error_with_path(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    with lock.acquire(path, HOLDER), pytest.raises(BlockingIOError) as info:
        lock.try_acquire(path, HOLDER)
    assert isinstance(info.value, LockHeldError) and info.value.path == path


def test_lock_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    with lock.acquire(path, HOLDER):
        assert (path.stat().st_mode & 0o777) == 0o600


def test_symlink_at_lock_path_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "victim"
    target.write_text("precious")
    path = tmp_path / "x.lock"
    path.symlink_to(target)
    with pytest.raises(UnsafePathError, match="symlink"):
        lock.try_acquire(path, HOLDER)
    assert target.read_text() == "precious"


def test_wait_gives_up_at_deadline_without_sleeping(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    clock = FakeClock()
    with (
        lock.acquire(path, HOLDER),
        pytest.raises(LockHeldError),
        lock.acquire(path, HOLDER, wait=3, clock=clock),
    ):
        pass
    assert 2.9 <= sum(clock.sleeps) <= 3.01


def test_descriptor_is_not_inherited_by_children(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    with lock.acquire(path, HOLDER) as held:
        child = subprocess.Popen(["sleep", "30"])
        held.release()
        try:
            assert not lock.is_held(path)  # the child keeps nothing
        finally:
            child.kill()
            child.wait()


def test_leftover_record_of_dead_holder_is_not_held(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    path.write_text('{"pid": 999999, "user": "u", "host": "h", "scope": "s", "started": "t"}')
    assert not lock.is_held(path)
    assert lock.read_holder(path) == lock.Holder(999999, "u", "h", "s", "t")
    with lock.acquire(path, HOLDER):
        assert lock.read_holder(path) == HOLDER
    os.unlink(path)


def test_a_status_probe_does_not_make_a_starting_run_fail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`lock status` peeks with a shared lock; a run starting during the peek still wins.

    Event-driven, not timed: the peek ends right after the run's first refused attempt
    (the worst moment), whatever the machine's load.
    """
    import fcntl
    import types

    path = tmp_path / "x.lock"
    path.touch()
    peek = os.open(path, os.O_RDONLY)
    fcntl.flock(peek, fcntl.LOCK_SH | fcntl.LOCK_NB)  # the peek, frozen mid-look
    refused: list[int] = []

    def flock(fd: int, operation: int) -> None:
        try:
            fcntl.flock(fd, operation)
        except BlockingIOError:
            refused.append(fd)
            if len(refused) == 1:
                os.close(peek)  # the peek ends between the run's attempts
            raise

    monkeypatch.setattr(lock, "fcntl", types.SimpleNamespace(**{
        **{k: getattr(fcntl, k) for k in dir(fcntl) if k.isupper()}, "flock": flock
    }))  # fmt: skip
    held = lock.try_acquire(path, HOLDER)
    assert len(refused) == 1  # refused once while peeked at, then taken
    held.release()
