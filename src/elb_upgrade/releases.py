"""Releases: exactly what a run put in place, and the last N of them per app.

A release is a revision that passed its readiness gate: per container the image
reference, its immutable digest and the spec the platform applied, plus the tag, the
git sha it was built from, who deployed it and when. Restoring a release restores all
of that, so a moved tag or a config change can never change what a rollback serves.

The store is one private JSON file per app, `<state dir>/elb-upgrade-releases-<app>.json`
(the state dir is `$ELB_UPGRADE_STATE_DIR`, default /tmp, shared by every checkout of
the app on this host), oldest first, trimmed to `[releases] keep = N` (default 10):

    {"version": 1, "app": "...", "releases": [{"revision": "...", "tag": "...",
     "git_sha": "...", "deployed_by": "user@host", "deployed_at": "...Z",
     "restores": "", "containers": [{"name", "image", "digest", "spec"}]}]}
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elb_upgrade.errors import StateFileError
from elb_upgrade.platforms.base import AppState, ContainerImage
from elb_upgrade.safefile import open_private, write_atomic

KEEP_DEFAULT = 10
MAX_SIZE = 5_000_000  # ten releases of a few containers each; anything bigger is not ours
STATE_DIR_ENV = "ELB_UPGRADE_STATE_DIR"


@dataclass(frozen=True)
class Release:
    """One release of an app (see the module docstring)."""

    revision: str
    containers: tuple[ContainerImage, ...]
    tag: str = ""
    git_sha: str = ""
    deployed_by: str = ""
    deployed_at: str = ""
    restores: str = ""  # the revision a rollback put back; "" for an upgrade

    @property
    def state(self) -> AppState:
        return AppState(self.revision, self.containers)

    def describe(self) -> str:
        """`app--4 (tag 1.0.0, git 1a2b3c4d5e6f)`, leaving out what is unknown."""
        parts = (f"tag {self.tag}" if self.tag else "", f"git {self.git_sha[:12]}")
        known = ", ".join(p for p in parts if p and p != "git ")
        return f"{self.revision} ({known})" if known else self.revision

    def to_json(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "tag": self.tag,
            "git_sha": self.git_sha,
            "deployed_by": self.deployed_by,
            "deployed_at": self.deployed_at,
            "restores": self.restores,
            "containers": [container_json(c) for c in self.containers],
        }

    @classmethod
    def from_json(cls, data: object) -> Release:
        """Parse one release; ValueError says what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("a release is not a JSON object")
        texts = {k: data.get(k, "") for k in ("tag", "git_sha", "deployed_by", "deployed_at")}
        texts["restores"] = data.get("restores", "")
        revision = data.get("revision")
        if not isinstance(revision, str) or not revision:
            raise ValueError("a release has no 'revision'")
        if not all(isinstance(v, str) for v in texts.values()):
            raise ValueError(f"release {revision} has a non-text field")
        containers = data.get("containers")
        if not isinstance(containers, list) or not containers:
            raise ValueError(f"release {revision} lists no containers")
        return cls(revision, tuple(parse_container(c) for c in containers), **texts)


def container_json(c: ContainerImage) -> dict[str, Any]:
    return {"name": c.name, "image": c.image, "digest": c.digest, "spec": c.spec}


def parse_container(item: object) -> ContainerImage:
    """One `{"name", "image"[, "digest", "spec"]}` entry; ValueError when malformed."""
    if not isinstance(item, dict):
        raise ValueError("a container entry is not a JSON object")
    name, image = item.get("name"), item.get("image")
    digest, spec = item.get("digest", ""), item.get("spec")
    if not isinstance(name, str) or not name or not isinstance(image, str) or not image:
        raise ValueError("a container entry needs a 'name' and an 'image'")
    if not isinstance(digest, str) or not (spec is None or isinstance(spec, dict)):
        raise ValueError(f"container {name}: bad 'digest' or 'spec'")
    return ContainerImage(name, image, digest, spec)


def differences(release: AppState, running: AppState) -> list[str]:
    """How `running` differs from `release`, one line per container; [] when it runs
    the release exactly (same digest and, where recorded, the same applied spec)."""
    found = []
    for wanted in release.images:
        have = running.container(wanted.name)
        if have is None:
            found.append(f"{wanted.name}: not running")
        elif wanted.identity != (have.digest if wanted.digest else have.image):
            found.append(f"{wanted.name}: runs {have.digest or have.image}, not {wanted.identity}")
        elif wanted.spec is not None and have.spec != wanted.spec:
            found.append(f"{wanted.name}: same image, different spec")
    return found


def deployer() -> str:
    """`user@host` of this process, for the release record (as the history's `who`)."""
    from elb_upgrade.history.record import who

    return who()


def state_dir(environ: Mapping[str, str]) -> Path:
    """Where per-app state shared by every checkout lives: `$ELB_UPGRADE_STATE_DIR` or /tmp."""
    chosen = environ.get(STATE_DIR_ENV)
    return Path(chosen).expanduser() if chosen else Path("/tmp")


def default_path(app: str, environ: Mapping[str, str]) -> Path:
    return state_dir(environ) / f"elb-upgrade-releases-{app}.json"


_FIX = (
    "move the file aside to start a new release history (the running app is unaffected), "
    f"or point ${STATE_DIR_ENV} elsewhere"
)


class Store:
    """The kept releases of one app, oldest first."""

    def __init__(self, path: Path, app: str) -> None:
        self.path, self.app = path, app

    def load(self) -> list[Release]:
        """The kept releases; [] before the first; StateFileError when the file is not ours."""
        try:
            fd = open_private(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return []
        try:
            with os.fdopen(fd, "rb") as handle:
                raw = handle.read(MAX_SIZE + 1)
        except OSError as exc:
            raise self._corrupt(exc.strerror or str(exc)) from exc
        if len(raw) > MAX_SIZE:
            raise self._corrupt(f"over {MAX_SIZE} bytes")
        try:
            data = json.loads(raw)
            if not isinstance(data, dict) or not isinstance(data.get("releases"), list):
                raise ValueError("no 'releases' list")
            if data.get("app", self.app) != self.app:
                raise ValueError(f"it is app {data.get('app')!r}'s")
            return [Release.from_json(r) for r in data["releases"]]
        except ValueError as exc:
            raise self._corrupt(str(exc)) from exc

    def add(self, release: Release, keep: int) -> list[Release]:
        """Append `release` (replacing a kept one of the same revision), keep the newest
        `keep`; return the ones dropped."""
        kept = [r for r in self.load() if r.revision != release.revision] + [release]
        dropped, kept = kept[: max(0, len(kept) - keep)], kept[-keep:]
        self.save(kept)
        return dropped

    def save(self, releases: Iterable[Release]) -> None:
        body = {
            "version": 1,
            "app": self.app,
            "releases": [r.to_json() for r in releases],
        }
        write_atomic(
            self.path,
            json.dumps(body, indent=1) + "\n",
            "release history",
            f"make {self.path.parent} writable or point ${STATE_DIR_ENV} elsewhere",
        )

    def _corrupt(self, why: str) -> StateFileError:
        return StateFileError(f"release history {self.path} is unreadable ({why})", hint=_FIX)


def find(releases: list[Release], wanted: str) -> Release | None:
    """The release whose revision is `wanted`, else the newest whose tag is `wanted`."""
    by_revision = [r for r in releases if r.revision == wanted]
    by_tag = [r for r in releases if r.tag == wanted]
    matches = by_revision or by_tag
    return matches[-1] if matches else None


def with_metadata(state: AppState, known: list[Release]) -> Release:
    """The release `state` is: its record from the store when kept, else bare."""
    record = next((r for r in reversed(known) if r.revision == state.revision), None)
    if record is None:
        return Release(state.revision, state.images)
    return Release(
        state.revision,
        state.images,
        record.tag,
        record.git_sha,
        record.deployed_by,
        record.deployed_at,
        record.restores,
    )
