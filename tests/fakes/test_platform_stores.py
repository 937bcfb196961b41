"""The fake platform's two stores behave alike: state, pause marks, releases, the child pid."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest

from fakes.platform import (
    FileStore,
    MemoryStore,
    load_state,
    marks_path,
    open_store,
    release_path,
    update_state,
)


def test_open_store_picks_memory_or_file(tmp_path: Path) -> None:
    name = f"memory:{uuid.uuid4().hex}"
    assert isinstance(open_store(name), MemoryStore)
    assert open_store(name) is open_store(name)  # one per name for the process's life
    assert isinstance(open_store(tmp_path / "state.json"), FileStore)


@pytest.mark.parametrize("kind", ["memory", "file"])
def test_state_round_trips_and_is_never_shared_by_reference(kind: str, tmp_path: Path) -> None:
    where = f"memory:{uuid.uuid4().hex}" if kind == "memory" else str(tmp_path / "s.json")
    state = update_state(where, images={"api": "demo-api:v1"}, n=1)
    state["images"]["api"] = "changed in the caller"
    assert load_state(where)["images"] == {"api": "demo-api:v1"}
    assert load_state(where)["deploys"] == []  # the defaults fill what was never written


def test_memory_marks_and_releases_match_the_file_ones(tmp_path: Path) -> None:
    memory, file = MemoryStore(f"m{uuid.uuid4().hex}"), FileStore(tmp_path / "s.json")
    for store in (memory, file):
        store.mark("build")
        assert not store.released("build")
        store.note_child(4242)
    memory.release("build")
    release_path(file.path, "build").touch()
    assert memory.released("build") and file.released("build")
    assert memory.marks == ["build"] == marks_path(file.path).read_text().split()
    assert memory.child == 4242 == int(file.path.with_name("s.json.child").read_text())


def test_a_released_point_lets_a_waiting_thread_go_on() -> None:
    store = MemoryStore(f"m{uuid.uuid4().hex}")
    went_on = threading.Event()

    def wait() -> None:
        store.mark("deploy#1")
        while not store.released("deploy#1"):
            threading.Event().wait(0.01)
        went_on.set()

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    assert not went_on.wait(0.1)
    store.release("deploy#1")
    assert went_on.wait(10)
    assert store.marks == ["deploy#1"]
