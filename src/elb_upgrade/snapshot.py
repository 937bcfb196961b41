"""The rollback snapshot: what ran before this upgrade, written atomically.

Format (the first two keys are the seed's):
    {"revision": "...", "images": [{"name": "api", "image": "..."}],
     "app": "...", "platform": "docker", "taken_at": "...Z"}

Written to a temp file in the same directory, fsynced, then renamed over the path, so
a reader (or a run killed mid-write) sees the old snapshot or the new one, never half.
The default path is in /tmp, where anyone can plant a symlink: the path is never
followed and a file owned by someone else is refused.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from elb_upgrade.errors import SnapshotError, StateFileError
from elb_upgrade.platforms.base import AppState, ContainerImage
from elb_upgrade.safefile import check_private, open_private

MAX_SIZE = 1_000_000  # a snapshot lists a few images; anything bigger is not one of ours


@dataclass(frozen=True)
class Snapshot:
    app: str
    platform: str
    taken_at: str
    state: AppState

    def to_json(self) -> str:
        images = [{"name": c.name, "image": c.image} for c in self.state.images]
        return json.dumps(
            {
                "revision": self.state.revision,
                "images": images,
                "app": self.app,
                "platform": self.platform,
                "taken_at": self.taken_at,
            },
            indent=2,
        )


def default_path(app: str, environ: Mapping[str, str]) -> Path:
    override = environ.get("ELB_UPGRADE_SNAPSHOT")
    return (
        Path(override).expanduser() if override else Path(f"/tmp/elb-upgrade-snapshot-{app}.json")
    )


def write(path: Path, snapshot: Snapshot) -> None:
    """Replace the snapshot at `path` atomically, mode 0600.

    Called under the lock, so a temp file left beside it is a leftover of a run that was
    killed mid-write: it is removed. Any failure is a StateFileError; the old snapshot
    then stays as it was.
    """
    _refuse_unsafe(path)
    _remove_leftovers(path)
    tmp = path.with_name(f".{path.name}.{os.urandom(4).hex()}.tmp")
    try:
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
        )
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(snapshot.to_json() + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise StateFileError(
            f"cannot write the snapshot {path}: {exc.strerror or exc}",
            hint=f"nothing was deployed; make {path.parent} writable (and not full) or point "
            "$ELB_UPGRADE_SNAPSHOT elsewhere",
        ) from exc
    _fsync_dir(path.parent)


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
    if (
        not isinstance(images, list)
        or not isinstance(revision, str)
        or not all(_is_image(i) for i in images)
    ):
        raise SnapshotError(f"snapshot {path} is corrupt (bad 'revision' or 'images')", hint=fix)
    if not images:
        raise SnapshotError(
            f"snapshot {path} lists no images (taken before the first deploy)", hint=fix
        )
    state = AppState(revision, tuple(ContainerImage(i["name"], i["image"]) for i in images))
    return Snapshot(app, str(data.get("platform", "")), str(data.get("taken_at", "")), state)


def _is_image(item: object) -> bool:
    return (
        isinstance(item, dict)
        and isinstance(item.get("name"), str)
        and isinstance(item.get("image"), str)
        and bool(item["image"])
    )


def _refuse_unsafe(path: Path) -> None:
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StateFileError(
            f"cannot use the snapshot path {path}: {exc.strerror or exc}",
            hint="point $ELB_UPGRADE_SNAPSHOT at a file in a directory you can write to",
        ) from exc
    check_private(path, info)


def _remove_leftovers(path: Path) -> None:
    """Delete our temp files of killed runs (never another user's, never through a link)."""
    for leftover in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        try:
            if leftover.lstat().st_uid == os.getuid():
                leftover.unlink()
        except OSError:
            pass


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
