"""The tests' one fake platform, loaded as `platform = "fakes.platform:FakePlatform"`.

Its whole state is one JSON-able dict in a store named by the `FAKE_STATE` setting:
`memory:<name>` is a process-global in-memory store (for runs of the CLI in the test's
own process), any other value the path of a JSON file (for a CLI subprocess, or bash,
that shares the state with the test). Tests steer it by changing the state
(`update_state`, `write_state`): make builds fail, deploys fail at a container, images
crash, the platform vanish, or builds and reads slow enough to hold the lock a while.

Knobs for fault tests (all off by default):
- `pause`: point → seconds. At that point the run writes the point's name as a line to
  `<state>.at`, then blocks until `<state>.release.<point>` exists or the seconds pass:
  tests wait for the mark, then signal or kill the run exactly there. Points: `check`,
  `current`, `snapshot` (inside the snapshot write, temp file written, not yet renamed),
  `build`, `exists` (the restore's image check), `deploy#N` (the N-th deploy call, before
  any container) and `deploy#N:<container>` (before that container gets its image; the
  containers before it already have theirs), `status` (the gate), `logs` (`--logs`
  following the main container's log, after its first line).
- `fail_deploys`: {"N": container}: the N-th deploy call fails at that container (the
  ones before it are updated), or before any container for "" (the engine is gone).
- `fail_deploy_at`: container: the next deploy fails there, once.
- `conflict_once`: the next deploy is refused whole (ConflictError, as an HTTP 412),
  changing nothing.
- `registry_down`: the image lookup of a restore fails (PlatformUnavailable).
- `current_down`: reading what runs fails (PlatformUnavailable).
- `spawn_in_build`: the build leaves a detached `sleep 60` running, spawned with every
  inheritable descriptor (close_fds=False), like a careless build tool; its pid is in
  `<state>.child`.
- `fail_build` may be a string: the BuildError's message.
- `down`: every call fails as an unreachable engine would (PlatformUnavailable).
In a memory store the marks and releases live in the store instead of files
(`MemoryStore.marks`, `MemoryStore.release(point)`).

Images: a build registers its reference in `digests` (reference → a new `sha256:…` each
build); `retag` points a reference at another digest, as `docker tag` does. A deploy
records each container's digest and applied spec in `running` (the given spec, else the
config's command and env), which `current()` reports.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol, TextIO

from elb_upgrade.errors import (
    BuildError,
    ConflictError,
    ParityRejected,
    PlatformError,
    PlatformUnavailable,
)
from elb_upgrade.platforms.base import (
    AppState,
    ContainerImage,
    Deployment,
    ImageInfo,
    LogSink,
    RevisionState,
    RevisionStatus,
    Wanted,
)
from elb_upgrade.platforms.base import pinned as as_pinned
from elb_upgrade.spec import AppSpec, ImageSpec

DEFAULTS: dict[str, Any] = {
    "revision": "",
    "images": {},
    "n": 0,
    "built": [],
    "deploys": [],
    "pruned": [],
    "fail_build": False,
    "fail_deploy_at": None,
    "conflict_once": False,
    "broken_tags": [],
    "crash_tags": [],
    "unavailable": False,
    "parity_rejected": False,
    "sleep_build": 0.0,
    "sleep_current": 0.0,
    "sleep_deploy": 0.0,
    "pause": {},
    "deploy_calls": 0,
    "fail_deploys": {},
    "registry_down": False,
    "current_down": False,
    "spawn_in_build": False,
    "digests": {},
    "running": {},
    "down": False,
}

MEMORY = "memory:"


class Store(Protocol):
    """Where the fake platform's state lives, and where its pause marks go."""

    def read(self) -> dict[str, Any]: ...

    def write(self, state: Mapping[str, Any]) -> None: ...

    def mark(self, point: str) -> None: ...

    def released(self, point: str) -> bool: ...

    def note_child(self, pid: int) -> None: ...


class FileStore:
    """The state as a JSON file, shared with CLI subprocesses; marks and releases are
    files beside it (`marks_path`, `release_path`)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.path.read_text())
        except FileNotFoundError:
            data = {}
        return data

    def write(self, state: Mapping[str, Any]) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.path)

    def mark(self, point: str) -> None:
        with marks_path(self.path).open("a") as marks:
            marks.write(point + "\n")

    def released(self, point: str) -> bool:
        return release_path(self.path, point).exists()

    def note_child(self, pid: int) -> None:
        self.path.with_name(self.path.name + ".child").write_text(str(pid))


class MemoryStore:
    """The state in this process only (`memory:<name>`): one per name, for the process's
    life. Reads and writes go through JSON, as the file's do, so nothing is shared by
    reference."""

    _registry: ClassVar[dict[str, MemoryStore]] = {}
    _lock = threading.Lock()

    def __init__(self, name: str) -> None:
        self.name = name
        self.data = "{}"
        self.marks: list[str] = []
        self.releases: set[str] = set()
        self.child: int | None = None

    @classmethod
    def named(cls, name: str) -> MemoryStore:
        with cls._lock:
            return cls._registry.setdefault(name, cls(name))

    def read(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.data)
        return data

    def write(self, state: Mapping[str, Any]) -> None:
        self.data = json.dumps(state)

    def mark(self, point: str) -> None:
        self.marks.append(point)

    def released(self, point: str) -> bool:
        return point in self.releases

    def release(self, point: str) -> None:
        self.releases.add(point)

    def note_child(self, pid: int) -> None:
        self.child = pid


def open_store(where: str | Path) -> FileStore | MemoryStore:
    """`memory:<name>` → that in-memory store; anything else → the JSON file at that path."""
    if isinstance(where, str) and where.startswith(MEMORY):
        return MemoryStore.named(where[len(MEMORY) :])
    return FileStore(Path(where))


def load_state(where: str | Path) -> dict[str, Any]:
    return {**DEFAULTS, **open_store(where).read()}


def save_state(where: str | Path, state: Mapping[str, Any]) -> None:
    open_store(where).write(state)


def update_state(where: str | Path, **changes: Any) -> dict[str, Any]:
    state = load_state(where)
    state.update(changes)
    save_state(where, state)
    return state


def write_state(
    where: str | Path,
    revision: str,
    images: Mapping[str, str],
    down: bool = False,
    built: Iterable[str] = (),
) -> dict[str, Any]:
    """Arrange what runs: `revision` with `images` (container → image), every image in
    `built` known to the registry, the next deploy numbered after `revision`; with `down`
    every call fails as an unreachable engine would. Other knobs keep their values."""
    refs = list(built)
    state = load_state(where)
    number = revision.rpartition("--")[2]
    state.update(
        revision=revision,
        images=dict(images),
        n=int(number) if number.isdigit() else 0,
        down=down,
        built=[*state["built"], *refs],
        digests={**state["digests"], **{ref: _digest(ref, 0) for ref in refs}},
    )
    save_state(where, state)
    return state


def marks_path(state: Path) -> Path:
    return state.with_name(state.name + ".at")


def release_path(state: Path, point: str) -> Path:
    return state.with_name(f"{state.name}.release.{point}")


class FakePlatform:
    name = "fake"

    def __init__(self, app: AppSpec) -> None:
        self.app = app
        self.store = open_store(app.settings["FAKE_STATE"])
        if "snapshot" in self._load()["pause"]:
            _pause_snapshot_writes(lambda: self._pause("snapshot"))

    def _load(self) -> dict[str, Any]:
        return {**DEFAULTS, **self.store.read()}

    def _state(self) -> dict[str, Any]:
        state = self._load()
        if state["down"]:
            raise PlatformUnavailable("the fake engine is down", hint="start the fake engine")
        return state

    def _save(self, state: Mapping[str, Any]) -> None:
        self.store.write(state)

    def _pause(self, point: str) -> None:
        seconds = self._state()["pause"].get(point)
        if not seconds:
            return
        self.store.mark(point)
        deadline = time.monotonic() + float(seconds)
        while time.monotonic() < deadline and not self.store.released(point):
            time.sleep(0.01)

    def check(self) -> None:
        self._pause("check")
        if self._state()["unavailable"]:
            raise PlatformUnavailable("fake engine is not running", hint="start the fake engine")

    def parity_check(self, log: LogSink) -> None:
        if self._state()["parity_rejected"]:
            raise ParityRejected(
                "storage has public access disabled and no private endpoint",
                hint="re-enable public network access or add the endpoint",
            )
        log("storage parity ok")

    def current(self) -> AppState:
        state = self._state()
        time.sleep(state["sleep_current"])
        if state["current_down"]:
            raise PlatformUnavailable("fake engine does not answer", hint="start it again")
        self._pause("current")
        running = state["running"]
        images = tuple(
            ContainerImage(
                n, i, running.get(n, {}).get("digest", ""), running.get(n, {}).get("spec")
            )
            for n, i in state["images"].items()
        )
        return AppState(state["revision"], images)

    def resolve(self, image: str) -> ImageInfo | None:
        state = self._state()
        if image in state["digests"] and image not in state["pruned"]:
            return ImageInfo(image, state["digests"][image], state.get("shas", {}).get(image, ""))
        if image in state["digests"].values():
            return ImageInfo(image, image)
        return None

    def build(self, image: ImageSpec, tag: str, log: LogSink, git_sha: str = "") -> str:
        state = self._state()
        time.sleep(state["sleep_build"])
        if state["spawn_in_build"]:
            child = subprocess.Popen(
                ["sleep", "60"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                close_fds=False,  # what a careless build tool does: inherit everything
                start_new_session=True,
            )
            self.store.note_child(child.pid)
        self._pause("build")
        if state["fail_build"]:
            message = state["fail_build"]
            if not isinstance(message, str):
                message = f"build of {image.repository} failed"
            raise BuildError(message, log_tail="step 3: boom")
        state = self._state()
        ref = f"{image.repository}:{tag}"
        if ref in state["digests"]:
            raise AssertionError(f"build would replace the existing tag {ref}")
        state["built"].append(ref)
        state["digests"][ref] = _digest(ref, len(state["built"]))
        state.setdefault("shas", {})[ref] = git_sha
        self._save(state)
        log(f"built {ref}")
        return ref

    def image_exists(self, image: str) -> bool:
        self._pause("exists")
        state = self._state()
        if state["registry_down"]:
            raise PlatformUnavailable(
                f"registry unreachable while looking up {image}", hint="check the registry"
            )
        return image not in state["pruned"] and not any(
            d == image and r in state["pruned"] for r, d in state["digests"].items()
        )

    def deploy(self, wanted: Wanted, log: LogSink) -> Deployment:
        pinned = as_pinned(wanted)
        images = {name: c.image for name, c in pinned.items()}
        state = self._state()
        state["deploy_calls"] += 1
        call = state["deploy_calls"]
        self._save(state)
        if state["unavailable"]:
            raise PlatformError("fake engine went away during deploy", hint="start it again")
        time.sleep(state["sleep_deploy"])
        self._pause(f"deploy#{call}")
        fail_at = state["fail_deploys"].get(str(call))
        if fail_at == "":
            raise PlatformUnavailable("fake engine went away during deploy", hint="start it")
        if state["conflict_once"]:
            state["conflict_once"] = False
            self._save(state)
            raise ConflictError("the app changed since the snapshot", hint="rerun")
        for name, image in images.items():
            self._pause(f"deploy#{call}:{name}")
            state = self._state()
            if name in (state["fail_deploy_at"], fail_at):
                state["fail_deploy_at"] = None  # a fault strikes once; the rollback goes through
                self._save(state)
                raise PlatformError(f"failed to start {name}", hint="read its logs")
            state["images"][name] = image
            state["running"][name] = {
                "digest": pinned[name].digest,
                "spec": pinned[name].spec or self._config_spec(name),
            }
            self._save(state)  # one container at a time, as a rolling deploy does
            log(f"{name} → {image}")
        state["n"] += 1
        state["revision"] = f"{self.app.name}--{state['n']}"
        state["deploys"].append(dict(images))
        self._save(state)
        return Deployment(
            state["revision"],
            tuple(ContainerImage(n, i) for n, i in state["images"].items()),
            readiness_revision=state["revision"],
        )

    def _config_spec(self, name: str) -> dict[str, Any]:
        spec = next((c for c in self.app.containers if c.name == name), None)
        if spec is None:
            return {}
        return {"command": list(spec.command), "env": dict(spec.env)}

    def revision_status(self, deployment: Deployment) -> RevisionStatus:
        self._pause("status")
        state = self._state()
        crashed = [n for n, i in state["images"].items() if _tag(i) in state["crash_tags"]]
        if crashed:
            return RevisionStatus(RevisionState.FAILED, f"{crashed[0]} exited with code 1")
        return RevisionStatus(RevisionState.RUNNING)

    def promote(self, deployment: Deployment, log: LogSink) -> None:
        """Traffic follows the deploy itself here: nothing to switch."""

    def discard(self, deployment: Deployment, log: LogSink) -> None:
        """Never staged here: nothing to remove."""

    def follow_logs(self, container: str, out: TextIO) -> None:
        out.write(f"log line from {container}\n")
        out.flush()
        self._pause("logs")  # a log that goes on: tests signal or kill the run here

    def manual_restore_commands(self, images: Mapping[str, str]) -> list[str]:
        """The optional hook `elb_upgrade.report` prints after a failed restore."""
        return [f"fakectl set {name} {image}" for name, image in images.items()]


def _pause_snapshot_writes(pause: Callable[[], None]) -> None:
    """Pause inside the next snapshot write, after its temp file is synced, before the rename.

    That is the window in which a non-atomic writer would leave a half-written snapshot.
    """
    from elb_upgrade import safefile

    real = os
    paused: list[bool] = []

    class PausingOs:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def fsync(self, fd: int) -> None:
            real.fsync(fd)
            if not paused:
                paused.append(True)
                pause()

    safefile.os = PausingOs()  # type: ignore[assignment]


def _digest(ref: str, build: int) -> str:
    return "sha256:" + hashlib.sha256(f"{ref}#{build}".encode()).hexdigest()


def _tag(image: str) -> str:
    return image.rpartition(":")[2]


def readiness_answer(state: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
    """What the fake app's /api/health/ready says for the images it runs now."""
    broken = any(_tag(i) in state["broken_tags"] for i in state["images"].values())
    storage = (
        {
            "status": "down",
            "error": "This request is not authorized",
            "error_class": "HttpResponseError",
        }
        if broken
        else {"status": "ok"}
    )
    body = {
        "status": "not_ready" if broken else "ready",
        "version": "1.0",
        "revision": state["revision"],
        "components": {"redis": {"status": "ok"}, "azure_storage": storage},
        "retryable": broken,
        "retry_after_seconds": 30 if broken else None,
    }
    return (503 if broken else 200), body
