"""A fake platform whose whole state is one JSON file, so CLI subprocesses share it.

Loaded by the CLI as `platform = "fakes.platform:FakePlatform"` (tests/ is on
PYTHONPATH); the state file comes from the `FAKE_STATE` setting. Tests steer it by
editing the file: make builds fail, deploys fail at a container, images crash, the
platform vanish, or builds and reads slow enough to hold the lock a while.

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
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

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
}


def load_state(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        data = {}
    return {**DEFAULTS, **data}


def save_state(path: Path, state: Mapping[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, path)


def update_state(path: Path, **changes: Any) -> dict[str, Any]:
    state = load_state(path)
    state.update(changes)
    save_state(path, state)
    return state


def marks_path(state: Path) -> Path:
    return state.with_name(state.name + ".at")


def release_path(state: Path, point: str) -> Path:
    return state.with_name(f"{state.name}.release.{point}")


class FakePlatform:
    name = "fake"

    def __init__(self, app: AppSpec) -> None:
        self.app = app
        self.path = Path(app.settings["FAKE_STATE"])
        if "snapshot" in self._state()["pause"]:
            _pause_snapshot_writes(lambda: self._pause("snapshot"))

    def _state(self) -> dict[str, Any]:
        return load_state(self.path)

    def _pause(self, point: str) -> None:
        seconds = self._state()["pause"].get(point)
        if not seconds:
            return
        with marks_path(self.path).open("a") as marks:
            marks.write(point + "\n")
        release = release_path(self.path, point)
        deadline = time.monotonic() + float(seconds)
        while time.monotonic() < deadline and not release.exists():
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
            self.path.with_name(self.path.name + ".child").write_text(str(child.pid))
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
        state["digests"][ref] = (
            "sha256:" + hashlib.sha256(f"{ref}#{len(state['built'])}".encode()).hexdigest()
        )
        state.setdefault("shas", {})[ref] = git_sha
        save_state(self.path, state)
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
        save_state(self.path, state)
        if state["unavailable"]:
            raise PlatformError("fake engine went away during deploy", hint="start it again")
        time.sleep(state["sleep_deploy"])
        self._pause(f"deploy#{call}")
        fail_at = state["fail_deploys"].get(str(call))
        if fail_at == "":
            raise PlatformUnavailable("fake engine went away during deploy", hint="start it")
        if state["conflict_once"]:
            state["conflict_once"] = False
            save_state(self.path, state)
            raise ConflictError("the app changed since the snapshot", hint="rerun")
        for name, image in images.items():
            self._pause(f"deploy#{call}:{name}")
            state = self._state()
            if name in (state["fail_deploy_at"], fail_at):
                state["fail_deploy_at"] = None  # a fault strikes once; the rollback goes through
                save_state(self.path, state)
                raise PlatformError(f"failed to start {name}", hint="read its logs")
            state["images"][name] = image
            state["running"][name] = {
                "digest": pinned[name].digest,
                "spec": pinned[name].spec or self._config_spec(name),
            }
            save_state(self.path, state)  # one container at a time, as a rolling deploy does
            log(f"{name} → {image}")
        state["n"] += 1
        state["revision"] = f"{self.app.name}--{state['n']}"
        state["deploys"].append(dict(images))
        save_state(self.path, state)
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
