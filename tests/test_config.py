"""The config resolver: precedence, interpolation, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from elb_upgrade import config
from elb_upgrade.errors import ConfigError, ScopeError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "elb-upgrade.example.toml"


def test_the_documented_example_config_is_valid() -> None:
    cfg = config.load(EXAMPLE, {})
    assert cfg.app.name == "elb-dashboard" and cfg.platform == "docker"
    assert cfg.readiness_url == "http://127.0.0.1:8000/api/health/ready"
    assert cfg.resolve_scope("worker") == "api"
    assert cfg.containers_for("full") == {"api": "api", "frontend": "frontend"}
    api = next(i for i in cfg.app.images if i.key == "api")
    assert api.build_args == {"BASE_IMAGE": "elb-base:bookworm"}
    assert api.context == (EXAMPLE.parent / "api").resolve()


def test_environment_beats_env_local_beats_env(tmp_path: Path) -> None:
    path = tmp_path / "elb-upgrade.toml"
    path.write_text(EXAMPLE.read_text())
    (tmp_path / ".env").write_text("API_PORT=1\nELB_BASE_IMAGE=from-env\n")
    (tmp_path / ".env.local").write_text("API_PORT=2\n")
    cfg = config.load(path, {})
    assert cfg.readiness_url.startswith("http://127.0.0.1:2/")
    assert cfg.app.images[0].build_args["BASE_IMAGE"] == "from-env"
    assert config.load(path, {"API_PORT": "3"}).readiness_url.startswith("http://127.0.0.1:3/")


def test_find_searches_upward_and_honours_overrides(tmp_path: Path) -> None:
    (tmp_path / "elb-upgrade.toml").write_text("")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert config.find(None, deep, {}) == (tmp_path / "elb-upgrade.toml").resolve()
    other = tmp_path / "other.toml"
    other.write_text("")
    assert config.find(None, deep, {"ELB_UPGRADE_CONFIG": str(other)}) == other.resolve()
    assert config.find(str(other), deep, {"ELB_UPGRADE_CONFIG": "/nope"}) == other.resolve()
    with pytest.raises(ConfigError, match="does not exist"):
        config.find("/nope/x.toml", deep, {})


def test_no_config_anywhere(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no elb-upgrade\.toml"):
        config.find(None, tmp_path, {})


@pytest.mark.parametrize(
    "mutate,needle",
    [
        (lambda t: t.replace('name = "elb-dashboard"\n', ""), "app.name is required"),
        (
            lambda t: t.replace('image = "api"', 'image = "nope"', 1),
            "containers.api.image names no image",
        ),
        (
            lambda t: t.replace('api = ["api"]', 'api = ["ghost"]'),
            "scopes.api must list image keys",
        ),
        (
            lambda t: t.replace('worker = "api"', 'worker = "ghost"'),
            "aliases.worker points at unknown",
        ),
        (
            lambda t: t.replace('main_container = "api"', 'main_container = "db"'),
            "app.main_container",
        ),
        (lambda t: t.replace("[scopes]", '[scopes]\nrollback = ["api"]'), "reserved"),
        (lambda t: t + "\n[[broken", "not valid TOML"),
        (lambda t: "", "images must define at least one image"),
        (
            lambda t: t.replace('repository = "elb-dashboard-api"', "repository = 5"),
            "images.api.repository must be a string",
        ),
    ],
)
def test_invalid_configs_name_the_key(tmp_path: Path, mutate, needle: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "elb-upgrade.toml"
    path.write_text(mutate(EXAMPLE.read_text()))
    with pytest.raises(ConfigError, match=needle.replace("[", r"\[")):
        config.load(path, {})


def test_unknown_scope_lists_valid_ones() -> None:
    cfg = config.load(EXAMPLE, {})
    with pytest.raises(ScopeError, match="api, frontend, full, worker, beat, rollback"):
        cfg.resolve_scope("xxxxxxx")
    assert cfg.resolve_scope("rollback") == "rollback"


def test_unknown_keys_name_the_table_and_the_closest_key(tmp_path: Path) -> None:
    path = tmp_path / "elb-upgrade.toml"
    path.write_text(EXAMPLE.read_text().replace("[aliases]", "[alias]"))
    with pytest.raises(
        ConfigError, match=r"unknown key `alias` in the top level; did you mean `aliases`\?"
    ):
        config.load(path, {})
    path.write_text(EXAMPLE.read_text().replace("[app]\n", "[app]\nzzz = 1\n"))
    with pytest.raises(ConfigError, match=r"`zzz` in \[app\]; valid keys: name, platform"):
        config.load(path, {})


def test_free_form_tables_take_any_key(tmp_path: Path) -> None:
    """Scope, alias, platform setting, env and build-arg names are the operator's own."""
    path = tmp_path / "elb-upgrade.toml"
    text = EXAMPLE.read_text().replace("[platform]\n", '[platform]\nANY_SETTING = "x"\n')
    path.write_text(text.replace("env = { ", 'env = { ANYTHING_AT_ALL = "1", '))
    cfg = config.load(path, {})
    assert cfg.app.settings["ANY_SETTING"] == "x"
    assert cfg.app.containers[0].env["ANYTHING_AT_ALL"] == "1"
