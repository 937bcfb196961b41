"""The release store: keep N, find by revision or tag, exact comparison, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from elb_upgrade import config, lock, releases
from elb_upgrade.errors import ConfigError, StateFileError, UnsafePathError
from elb_upgrade.platforms.base import AppState, ContainerImage
from elb_upgrade.releases import Release, Store

SPEC = {"command": ["serve"], "env": {"MODE": "prod"}}


def release(n: int, tag: str = "") -> Release:
    api = ContainerImage("api", f"repo/api:t{n}", f"sha256:{n:064d}", SPEC)
    return Release(
        f"app--{n}", (api,), tag or f"t{n}", f"{n:07d}", "ann@ws", "2026-05-23T00:00:00Z"
    )


def test_the_store_keeps_the_newest_n_and_reads_back_what_it_wrote(tmp_path: Path) -> None:
    store = Store(tmp_path / "r.json", "app")
    assert store.load() == []
    dropped = [d.revision for n in range(1, 6) for d in store.add(release(n), keep=3)]
    assert dropped == ["app--1", "app--2"]
    assert [r.revision for r in store.load()] == ["app--3", "app--4", "app--5"]
    assert store.load()[-1] == release(5)
    assert ((tmp_path / "r.json").stat().st_mode & 0o777) == 0o600


def test_find_prefers_the_revision_then_the_newest_release_with_the_tag() -> None:
    kept = [release(1, "good"), release(2, "good"), release(3)]
    assert releases.find(kept, "app--1") == kept[0]
    assert releases.find(kept, "good") == kept[1]
    assert releases.find(kept, "nope") is None


def test_differences_compare_digest_and_spec_not_the_tag() -> None:
    r = release(1)
    same = AppState(
        "app--7", (ContainerImage("api", "repo/api:moved", r.containers[0].digest, SPEC),)
    )
    assert releases.differences(r.state, same) == []
    other_spec = AppState("x", (ContainerImage("api", "repo/api:t1", r.containers[0].digest, {}),))
    assert releases.differences(r.state, other_spec) == ["api: same image, different spec"]
    moved = AppState("x", (ContainerImage("api", "repo/api:t1", "sha256:other", SPEC),))
    assert "not sha256:" in releases.differences(r.state, moved)[0]
    assert releases.differences(r.state, AppState("", ())) == ["api: not running"]


@pytest.mark.parametrize(
    "content", ["{", "[]", '{"releases": [{"revision": ""}]}', '{"app": "other", "releases": []}']
)
def test_a_corrupt_or_foreign_store_is_refused_naming_the_fix(tmp_path: Path, content: str) -> None:
    path = tmp_path / "r.json"
    path.write_text(content)
    with pytest.raises(StateFileError) as caught:
        Store(path, "app").load()
    assert "is unreadable" in caught.value.message and "move the file aside" in caught.value.hint


def test_a_symlinked_store_is_never_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "r.json").symlink_to(victim)
    with pytest.raises(UnsafePathError):
        Store(tmp_path / "r.json", "app").add(release(1), keep=3)
    assert victim.read_text() == "precious"


def test_state_dir_and_app_lock_ignore_the_snapshot_path() -> None:
    a = {"ELB_UPGRADE_SNAPSHOT": "/x/a.json", "ELB_UPGRADE_STATE_DIR": "/s"}
    b = {"ELB_UPGRADE_SNAPSHOT": "/y/b.json", "ELB_UPGRADE_STATE_DIR": "/s"}
    assert (
        lock.app_lock_path("shop", a)
        == lock.app_lock_path("shop", b)
        == Path("/s/elb-upgrade-shop.lock")
    )
    assert releases.default_path("shop", {}) == Path("/tmp/elb-upgrade-releases-shop.json")


MINIMAL = """
[app]
name = "shop"
readiness_url = "http://127.0.0.1:1/ready"
[images.api]
repository = "shop-api"
[containers.api]
image = "api"
[scopes]
api = ["api"]
"""


@pytest.mark.parametrize(
    "table,expected",
    [("", 10), ("[releases]\nkeep = 3\n", 3)],
)
def test_releases_keep_defaults_to_ten(tmp_path: Path, table: str, expected: int) -> None:
    path = tmp_path / "elb-upgrade.toml"
    path.write_text(MINIMAL + table)
    assert config.load(path, {}).keep_releases == expected


@pytest.mark.parametrize(
    "table,needle",
    [
        ("[releases]\nkeep = 0\n", "releases.keep must be a whole number from 1 to 1000"),
        ('[releases]\nkeep = "3"\n', "releases.keep must be a whole number"),
        ("[releases]\nkeep = true\n", "releases.keep must be a whole number"),
        ("[releases]\nkept = 3\n", "releases.kept is not a setting"),
    ],
)
def test_a_bad_releases_keep_names_the_key(tmp_path: Path, table: str, needle: str) -> None:
    path = tmp_path / "elb-upgrade.toml"
    path.write_text(MINIMAL + table)
    with pytest.raises(ConfigError) as caught:
        config.load(path, {})
    assert needle in caught.value.message


def test_release_json_round_trips() -> None:
    r = release(4)
    assert Release.from_json(json.loads(json.dumps(r.to_json()))) == r
