"""The rollback snapshot: the whole release that ran before this upgrade, written atomically.

Format (the first two keys are those of `cli-upgrade.sh` (of elb-dashboard), so its
readers still work):
    {"revision": "...", "images": [{"name": "api", "image": "repo:tag",
                                    "digest": "sha256:...", "spec": {...}}],
     "app": "...", "platform": "docker", "taken_at": "...Z",
     "tag": "...", "git_sha": "...", "deployed_by": "user@host", "deployed_at": "...Z"}

Each image carries its immutable digest and the spec the platform applied, so a
rollback restores exactly what ran. A snapshot in the old shape (images without
`digest`) is still read; it restores images by reference only (`legacy`).

Written to a temp file in the same directory, fsynced, then renamed over the path, so
a reader (or a run killed mid-write) sees the old snapshot or the new one, never half.
The default path is in /tmp, where anyone can plant a symlink: the path is never
followed and a file owned by someone else is refused.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from elb_upgrade.errors import SnapshotError
from elb_upgrade.platforms.base import AppState
from elb_upgrade.releases import Release, container_json, parse_container
from elb_upgrade.safefile import open_private, write_atomic

MAX_SIZE = 1_000_000  # a snapshot lists a few images; anything bigger is not one of ours


@dataclass(frozen=True)
class Snapshot:
    app: str
    platform: str
    taken_at: str
    release: Release
    legacy: bool = False  # read from the old shape: images only, no digests or specs

    def __post_init__(self) -> None:
        # A bare AppState (what runs, no release record) is a release with no metadata.
        given: object = self.release
        if isinstance(given, AppState):
            object.__setattr__(self, "release", Release(given.revision, given.images))

    @property
    def state(self) -> AppState:
        return self.release.state

    def to_json(self) -> str:
        r = self.release
        return json.dumps(
            {
                "revision": r.revision,
                "images": [container_json(c) for c in r.containers],
                "app": self.app,
                "platform": self.platform,
                "taken_at": self.taken_at,
                "tag": r.tag,
                "git_sha": r.git_sha,
                "deployed_by": r.deployed_by,
                "deployed_at": r.deployed_at,
            },
            indent=2,
        )


def default_path(app: str, environ: Mapping[str, str]) -> Path:
    override = environ.get("ELB_UPGRADE_SNAPSHOT")
    return (
        Path(override).expanduser() if override else Path(f"/tmp/elb-upgrade-snapshot-{app}.json")
    )


def write(path: Path, snapshot: Snapshot) -> None:
    """Replace the snapshot at `path` atomically, mode 0600 (`safefile.write_atomic`).

    Any failure is a StateFileError; the old snapshot then stays as it was.
    """
    write_atomic(
        path,
        snapshot.to_json() + "\n",
        "snapshot",
        f"nothing was deployed; make {path.parent} writable (and not full) or point "
        "$ELB_UPGRADE_SNAPSHOT elsewhere",
    )


def read(path: Path, app: str) -> Snapshot:
    """Load and validate the snapshot for `app`; SnapshotError says what is wrong."""
    fix = f"nothing to roll back to from {path}; redeploy a known-good tag with --tag"
    try:
        fd = open_private(path, os.O_RDONLY)
    except FileNotFoundError:
        raise SnapshotError(
            f"no snapshot at {path}: no upgrade has run for {app} here", hint=fix
        ) from None
    try:
        with os.fdopen(fd, "rb") as handle:
            raw = handle.read(MAX_SIZE + 1)
    except OSError as exc:
        raise SnapshotError(
            f"cannot read snapshot {path}: {exc.strerror or exc}", hint=fix
        ) from exc
    return loads(raw, path, app)


def loads(raw: bytes, where: str | Path, app: str) -> Snapshot:
    """Validate the snapshot bytes read from `where` (a file or a shared document)."""
    fix = f"nothing to roll back to from {where}; redeploy a known-good tag with --tag"
    if not raw.strip():
        raise SnapshotError(f"snapshot {where} is empty", hint=fix)
    if len(raw) > MAX_SIZE:
        raise SnapshotError(f"snapshot {where} is over {MAX_SIZE} bytes: not ours", hint=fix)
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise SnapshotError(f"snapshot {where} is corrupt (not JSON: {exc})", hint=fix) from exc
    return _parse(data, where, app, fix)


def _parse(data: object, path: str | Path, app: str, fix: str) -> Snapshot:
    if not isinstance(data, dict):
        raise SnapshotError(f"snapshot {path} is corrupt (not a JSON object)", hint=fix)
    if data.get("app", app) != app:
        raise SnapshotError(
            f"snapshot {path} is for app {data.get('app')!r}, not {app!r}",
            hint="check $ELB_UPGRADE_SNAPSHOT and the config's app.name",
        )
    images = data.get("images")
    revision = data.get("revision", "")
    if not isinstance(images, list) or not isinstance(revision, str):
        raise SnapshotError(f"snapshot {path} is corrupt (bad 'revision' or 'images')", hint=fix)
    try:
        containers = tuple(parse_container(i) for i in images)
    except ValueError as exc:
        raise SnapshotError(
            f"snapshot {path} is corrupt (bad 'revision' or 'images': {exc})", hint=fix
        ) from exc
    if not images:
        raise SnapshotError(
            f"snapshot {path} lists no images (taken before the first deploy)", hint=fix
        )
    texts = {k: data.get(k, "") for k in ("tag", "git_sha", "deployed_by", "deployed_at")}
    texts = {k: v if isinstance(v, str) else "" for k, v in texts.items()}
    release = Release(revision, containers, **texts)
    legacy = any("digest" not in i for i in images)
    return Snapshot(
        app, str(data.get("platform", "")), str(data.get("taken_at", "")), release, legacy
    )
