"""A fake platform whose whole state is one JSON file, so CLI subprocesses share it.

Loaded by the CLI as `platform = "fakes.platform:FakePlatform"` (tests/ is on
PYTHONPATH); the state file comes from the `FAKE_STATE` setting. Tests steer it by
editing the file: make builds fail, deploys fail at a container, images crash, the
platform vanish, or builds and reads slow enough to hold the lock a while.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from elb_upgrade.errors import BuildError, ParityRejected, PlatformError, PlatformUnavailable
from elb_upgrade.platforms.base import (
    AppSpec,
    AppState,
    ContainerImage,
    Deployment,
    ImageSpec,
    LogSink,
    RevisionState,
    RevisionStatus,
)

DEFAULTS: dict[str, Any] = {
    "revision": "",
    "images": {},
    "n": 0,
    "built": [],
    "deploys": [],
    "pruned": [],
    "fail_build": False,
    "fail_deploy_at": None,
    "broken_tags": [],
    "crash_tags": [],
    "unavailable": False,
    "parity_rejected": False,
    "sleep_build": 0.0,
    "sleep_current": 0.0,
    "sleep_deploy": 0.0,
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


class FakePlatform:
    name = "fake"

    def __init__(self, app: AppSpec) -> None:
        self.app = app
        self.path = Path(app.settings["FAKE_STATE"])

    def _state(self) -> dict[str, Any]:
        return load_state(self.path)

    def check(self) -> None:
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
        images = tuple(ContainerImage(n, i) for n, i in state["images"].items())
        return AppState(state["revision"], images)

    def build(self, image: ImageSpec, tag: str, log: LogSink) -> str:
        state = self._state()
        time.sleep(state["sleep_build"])
        if state["fail_build"]:
            raise BuildError(f"build of {image.repository} failed", log_tail="step 3: boom")
        ref = f"{image.repository}:{tag}"
        state["built"].append(ref)
        save_state(self.path, state)
        log(f"built {ref}")
        return ref

    def image_exists(self, image: str) -> bool:
        return image not in self._state()["pruned"]

    def deploy(self, images: Mapping[str, str], log: LogSink) -> Deployment:
        state = self._state()
        if state["unavailable"]:
            raise PlatformError("fake engine went away during deploy", hint="start it again")
        time.sleep(state["sleep_deploy"])
        for name, image in images.items():
            if name == state["fail_deploy_at"]:
                save_state(self.path, state)
                raise PlatformError(f"failed to start {name}", hint="read its logs")
            state["images"][name] = image
            log(f"{name} → {image}")
        state["n"] += 1
        state["revision"] = f"{self.app.name}--{state['n']}"
        state["deploys"].append(dict(images))
        state["fail_deploy_at"] = None  # a fault strikes once; the rollback goes through
        save_state(self.path, state)
        return Deployment(
            state["revision"],
            tuple(ContainerImage(n, i) for n, i in state["images"].items()),
            readiness_revision=state["revision"],
        )

    def revision_status(self, deployment: Deployment) -> RevisionStatus:
        state = self._state()
        crashed = [n for n, i in state["images"].items() if _tag(i) in state["crash_tags"]]
        if crashed:
            return RevisionStatus(RevisionState.FAILED, f"{crashed[0]} exited with code 1")
        return RevisionStatus(RevisionState.RUNNING)

    def follow_logs(self, container: str, out: TextIO) -> None:
        out.write(f"log line from {container}\n")


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
