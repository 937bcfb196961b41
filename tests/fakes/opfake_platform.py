"""A fake platform for the operator tests, loaded as `fakes.opfake_platform:FakePlatform`.

Its whole state is one JSON file named by the `FAKE_STATE` setting, so a test arranges
what "runs" and each CLI subprocess reads or changes it. `"down": true` makes every call
fail as an unreachable engine would.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from elb_upgrade.errors import PlatformUnavailable
from elb_upgrade.platforms.base import (
    AppState,
    ContainerImage,
    Deployment,
    ImageInfo,
    LogSink,
    RevisionState,
    RevisionStatus,
    Wanted,
    pinned,
)
from elb_upgrade.spec import AppSpec, ImageSpec


def write_state(
    path: Path, revision: str, images: dict[str, str], down: bool = False, built: Any = ()
) -> None:
    body = {"revision": revision, "images": images, "down": down, "built": list(built)}
    path.write_text(json.dumps(body))


class FakePlatform:
    name = "fake"

    def __init__(self, app: AppSpec) -> None:
        self.app = app
        self.path = Path(app.settings["FAKE_STATE"])

    def _state(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"revision": "", "images": {}, "down": False}
        state: dict[str, Any] = json.loads(self.path.read_text())
        if state.get("down"):
            raise PlatformUnavailable("the fake engine is down", hint="start the fake engine")
        return state

    def check(self) -> None:
        self._state()

    def parity_check(self, log: LogSink) -> None:
        log("fake parity: ok")

    def current(self) -> AppState:
        state = self._state()
        images = tuple(ContainerImage(n, i) for n, i in state["images"].items())
        return AppState(state["revision"], images)

    def build(self, image: ImageSpec, tag: str, log: LogSink, git_sha: str = "") -> str:
        log(f"fake build of {image.repository}:{tag}")
        state = self._state()
        ref = f"{image.repository}:{tag}"
        write_state(self.path, state["revision"], state["images"], built=[*_built(state), ref])
        return ref

    def resolve(self, image: str) -> ImageInfo | None:
        return ImageInfo(image, f"sha256:{image}") if image in _built(self._state()) else None

    def image_exists(self, image: str) -> bool:
        return True

    def deploy(self, wanted: Wanted, log: LogSink) -> Deployment:
        images = {name: c.image for name, c in pinned(wanted).items()}
        state = self._state()
        number = int(state["revision"].rpartition("--")[2] or 0) + 1
        revision = f"{self.app.name}--{number}"
        write_state(self.path, revision, {**state["images"], **images}, built=_built(state))
        log(f"fake deploy of {revision}")
        return Deployment(revision, tuple(ContainerImage(n, i) for n, i in images.items()))

    def revision_status(self, deployment: Deployment) -> RevisionStatus:
        return RevisionStatus(RevisionState.RUNNING)

    def promote(self, deployment: Deployment, log: LogSink) -> None:
        """Traffic follows the deploy itself here: nothing to switch."""

    def discard(self, deployment: Deployment, log: LogSink) -> None:
        """Never staged here: nothing to remove."""

    def manual_restore_commands(self, images: Mapping[str, str]) -> list[str]:
        return [f"# set {name} to {image}" for name, image in images.items()]

    def follow_logs(self, container: str, out: TextIO) -> None:
        out.write(f"{container}: fake log line\n")


def _built(state: dict[str, Any]) -> list[str]:
    return list(state.get("built", []))
