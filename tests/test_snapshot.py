"""The snapshot: `cli-upgrade.sh`-compatible format, the whole release, atomic private
writes, precise refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from elb_upgrade import snapshot
from elb_upgrade.errors import SnapshotError, UnsafePathError
from elb_upgrade.platforms.base import ContainerImage
from elb_upgrade.releases import Release

SPEC = {"command": ["serve"], "env": {"MODE": "prod"}, "labels": {}}
API = ContainerImage("api", "repo/api:v3", "sha256:" + "a" * 64, SPEC)
RELEASE = Release("app--3", (API, ContainerImage("web", "w:v1")), "v3", "1a2b3c")
SNAP = snapshot.Snapshot("app", "docker", "2026-05-23T03:22:48Z", RELEASE)


def test_format_starts_with_the_cli_upgrade_sh_keys_and_holds_the_whole_release(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.json"
    snapshot.write(path, SNAP)
    data = json.loads(path.read_text())
    assert list(data)[:5] == ["revision", "images", "app", "platform", "taken_at"]
    assert data["images"][0] == {
        "name": "api",
        "image": "repo/api:v3",
        "digest": "sha256:" + "a" * 64,
        "spec": SPEC,
    }
    assert (data["tag"], data["git_sha"]) == ("v3", "1a2b3c")
    assert (path.stat().st_mode & 0o777) == 0o600
    assert snapshot.read(path, "app") == SNAP


def test_an_old_shape_snapshot_is_read_as_images_only(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text('{"revision": "app--2", "images": [{"name": "api", "image": "repo/api:v2"}]}')
    path.chmod(0o600)
    snap = snapshot.read(path, "app")
    assert snap.legacy
    assert snap.state.images == (ContainerImage("api", "repo/api:v2"),)
    assert snap.state.images[0].identity == "repo/api:v2"


def test_rewrite_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    for _ in range(3):
        snapshot.write(path, SNAP)
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]


def test_refuses_to_write_through_a_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    path = tmp_path / "s.json"
    path.symlink_to(victim)
    with pytest.raises(UnsafePathError):
        snapshot.write(path, SNAP)
    with pytest.raises(UnsafePathError):
        snapshot.read(path, "app")
    assert victim.read_text() == "precious"


@pytest.mark.parametrize(
    "content,needle",
    [
        ("", "is empty"),
        ("   \n", "is empty"),
        ('{"revision": "x", "imag', "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"revision": "r", "images": "nope"}', "bad 'revision'"),
        ('{"revision": "r", "images": [{"name": "api"}]}', "bad 'revision'"),
        ('{"revision": "r", "images": [], "app": "app"}', "lists no images"),
        (
            '{"revision": "r", "images": [{"name": "a", "image": "i"}], "app": "other"}',
            "is for app 'other'",
        ),
    ],
)
def test_bad_snapshots_say_what_is_wrong(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "s.json"
    path.write_text(content)
    with pytest.raises(SnapshotError, match=needle):
        snapshot.read(path, "app")


def test_missing_snapshot(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="no snapshot at"):
        snapshot.read(tmp_path / "none.json", "app")


def test_default_path_and_override() -> None:
    assert snapshot.default_path("ca-x", {}) == Path("/tmp/elb-upgrade-snapshot-ca-x.json")
    assert snapshot.default_path("ca-x", {"ELB_UPGRADE_SNAPSHOT": "/s/x.json"}) == Path("/s/x.json")
