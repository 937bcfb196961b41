"""Load `elb-upgrade.toml`: one resolver, stated precedence, errors that name the key.

Where the file is: `--config PATH` > `$ELB_UPGRADE_CONFIG` > `elb-upgrade.toml` in the
current directory or the nearest parent. Values may say `${NAME}` or `${NAME:-default}`;
NAME is looked up in the process environment, then `.env.local`, then `.env` (both
beside the config file), then the config's own `[platform]` table (its literal values),
then the platform's extra variables (`azd env get-values` on azure; asked only when a
name is still missing). A `${NAME}` that nowhere defines is an error naming NAME, the
key that needs it and how to set it.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elb_upgrade import dotenv
from elb_upgrade.errors import ConfigError, ScopeError
from elb_upgrade.spec import AppSpec, ContainerSpec, ImageSpec
from elb_upgrade.state.base import BACKENDS, LEASE_MAX, LEASE_MIN, StateSettings

FILENAME = "elb-upgrade.toml"
ROLLBACK = "rollback"
_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# App and container names end up in file names (/tmp/elb-upgrade-snapshot-<app>.json) and
# container names (<app>-<container>): letters, digits, `_ . -`, no path separators.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\Z")
Extra = Callable[[str, Mapping[str, str]], Mapping[str, str]]
"""(platform name, variables so far) → more variables; called once, only if needed."""

# The keys each table may hold. `[scopes]`, `[aliases]`, `[platform]` and the `env` /
# `build_args` tables name things of the operator's own and take any key. A key outside
# these is a typo (`platfrom`, `main_contaner`, `evn`) that would otherwise be ignored.
TOP_KEYS = ("app", "images", "containers", "scopes", "aliases", "platform", "state", "releases")
APP_KEYS = ("name", "platform", "readiness_url", "main_container")
IMAGE_KEYS = ("repository", "context", "dockerfile", "build_args")
CONTAINER_KEYS = ("image", "command", "env", "port")
STATE_KEYS = ("backend", "container_url", "lease_seconds")


@dataclass(frozen=True)
class Config:
    """The validated config: the app, its platform, readiness URL, scopes and aliases."""

    path: Path
    app: AppSpec
    platform: str
    readiness_url: str
    scopes: Mapping[str, tuple[str, ...]]  # scope → image keys it builds
    aliases: Mapping[str, str]
    state: StateSettings = field(default_factory=StateSettings)  # [state]: where runs share state
    keep_releases: int = 10  # `[releases] keep`: releases kept per app for `rollback --to`

    @property
    def root(self) -> Path:
        return self.path.parent

    def scope_names(self) -> list[str]:
        return [*self.scopes, *self.aliases, ROLLBACK]

    def resolve_scope(self, name: str) -> str:
        """The canonical scope for `name` (aliases followed); ScopeError lists valid ones."""
        if name == ROLLBACK or name in self.scopes:
            return name
        if name in self.aliases:
            return self.aliases[name]
        raise ScopeError(
            f"unknown scope {name!r}",
            hint=f"use one of: {', '.join(self.scope_names())}",
        )

    def containers_for(self, scope: str) -> dict[str, str]:
        """Container name → image key for every container `scope` deploys."""
        keys = set(self.scopes[scope])
        return {c.name: c.image_key for c in self.app.containers if c.image_key in keys}


def find(explicit: str | None, cwd: Path, environ: Mapping[str, str]) -> Path:
    """Locate the config file by the stated precedence."""
    chosen = explicit or environ.get("ELB_UPGRADE_CONFIG")
    if chosen:
        path = Path(chosen).expanduser()
        if not path.is_file():
            what = "is not a file" if path.exists() else "does not exist"
            raise ConfigError(
                f"config file {path} {what}", hint="check --config / $ELB_UPGRADE_CONFIG"
            )
        return path.resolve()
    for folder in (cwd, *cwd.parents):
        if (folder / FILENAME).is_file():
            return (folder / FILENAME).resolve()
    raise ConfigError(
        f"no {FILENAME} in {cwd} or any parent",
        hint="run from your app's checkout, pass --config PATH, or start from "
        "docs/elb-upgrade.example.toml",
    )


def environment(root: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """Variables for interpolation: process env > `.env.local` > `.env` beside the config."""
    merged = dotenv.load(root / ".env")
    merged.update(dotenv.load(root / ".env.local"))
    merged.update(environ)
    return merged


def load(path: Path, environ: Mapping[str, str], extra: Extra | None = None) -> Config:
    """Read and validate the config file at `path` (`extra`: see the module docstring)."""
    raw = _read_toml(path)
    env = environment(path.parent, environ)
    return _build(_Reader(raw, env, path, _fallback(raw, env, extra)), path, env)


def _fallback(
    raw: dict[str, Any], env: Mapping[str, str], extra: Extra | None
) -> Callable[[str], str | None]:
    """Look-ups after the environment: `[platform]` literals, then `extra` (once, lazily)."""
    table: dict[str, Any] = raw.get("platform") or {}
    app: dict[str, Any] = raw.get("app") or {}
    literal = (
        {k: v for k, v in table.items() if isinstance(v, str) and "${" not in v}
        if isinstance(table, dict)
        else {}
    )
    platform = str(app.get("platform", "docker")) if isinstance(app, dict) else "docker"
    cache: list[Mapping[str, str]] = []

    def look(name: str) -> str | None:
        if name in literal:
            return literal[name]
        if extra is None:
            return None
        if not cache:
            cache.append(extra(platform, env))
        return cache[0].get(name)

    return look


class _Reader:
    """Typed access into the parsed TOML with key-path error messages."""

    def __init__(
        self,
        raw: dict[str, Any],
        env: Mapping[str, str],
        path: Path,
        fallback: Callable[[str], str | None] = lambda _name: None,
    ) -> None:
        self.raw, self.env, self.path, self.fallback = raw, env, path, fallback

    def table(self, key: str, data: Any = None) -> dict[str, Any]:
        value = (self.raw if data is None else data).get(key.rpartition(".")[2], {})
        if not isinstance(value, dict):
            self.fail(key, "must be a table")
        return dict(value)

    def text(
        self, data: Mapping[str, Any], key: str, where: str, default: str | None = None
    ) -> str:
        value = data.get(key, default)
        if value is None:
            self.fail(f"{where}.{key}", "is required")
        if not isinstance(value, str):
            self.fail(f"{where}.{key}", "must be a string")
        return self.expand(value, f"{where}.{key}")

    def strings(self, data: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(f"{where}.{key}", "must be a list of strings")
        return tuple(self.expand(v, f"{where}.{key}") for v in value)

    def mapping(self, data: Mapping[str, Any], key: str, where: str) -> dict[str, str]:
        value = data.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            self.fail(f"{where}.{key}", "must be a table of strings")
        return {k: self.expand(v, f"{where}.{key}.{k}") for k, v in value.items()}

    def expand(self, value: str, where: str) -> str:
        def sub(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in self.env:
                return self.env[name]
            found = self.fallback(name)
            if found is not None:
                return found
            if default is not None:
                return default
            raise ConfigError(
                f"{where} in {self.path} needs ${{{name}}}, which is not set",
                hint=f"export {name}=… or add {name}=… to {self.path.parent / '.env'}",
            )

        return _REF.sub(sub, value)

    def known_keys(self, data: Mapping[str, Any], table: str, known: tuple[str, ...]) -> None:
        """A ConfigError naming the first key of `data` not in `known`, and the closest one."""
        for key in data:
            if key in known:
                continue
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            guess = f"did you mean `{close[0]}`?" if close else "valid keys: " + ", ".join(known)
            raise ConfigError(
                f"{self.path}: unknown key `{key}` in {table}; {guess}",
                hint="fix the key's spelling (docs/elb-upgrade.example.toml lists every key); "
                "nothing was run",
            )

    def fail(self, key: str, problem: str) -> Any:
        raise ConfigError(f"{self.path}: {key} {problem}", hint="see docs/elb-upgrade.example.toml")


def _build(r: _Reader, path: Path, env: Mapping[str, str]) -> Config:
    r.known_keys(r.raw, "the top level", TOP_KEYS)
    app = r.table("app")
    r.known_keys(app, "[app]", APP_KEYS)
    images = _images(r, path.parent)
    containers = _containers(r, images)
    name = r.text(app, "name", "app")
    if not _NAME.match(name):
        r.fail("app.name", f"must be letters, digits, '_', '.', '-' (got {name[:70]!r})")
    main = r.text(app, "main_container", "app", containers[0].name if containers else "")
    if main not in {c.name for c in containers}:
        r.fail("app.main_container", f"names no container in [containers] ({main!r})")
    scopes = _scopes(r, images)
    aliases = r.mapping(r.raw, "aliases", "aliases")
    for alias, target in aliases.items():
        if target not in scopes:
            r.fail(f"aliases.{alias}", f"points at unknown scope {target!r}")
    settings = dict(env)
    settings.update(r.mapping(r.raw, "platform", "platform"))
    readiness_url = r.text(app, "readiness_url", "app")
    spec = AppSpec(
        name=name,
        containers=containers,
        images=images,
        main_container=main,
        settings=settings,
        readiness_url=readiness_url,
    )
    return Config(
        path=path,
        app=spec,
        platform=r.text(app, "platform", "app", "docker"),
        readiness_url=readiness_url,
        scopes=scopes,
        aliases=aliases,
        state=_state(r),
        keep_releases=_keep_releases(r),
    )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read {path}: {exc}", hint="check the path and permissions"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", hint="fix the syntax") from exc


def load_state_settings(path: Path, environ: Mapping[str, str]) -> StateSettings:
    """Only the `[state]` table of the config at `path` (for `history` and `lock`, which
    must work from a checkout whose other tables they do not need)."""
    raw = _read_toml(path)
    return _state(_Reader(raw, environment(path.parent, environ), path))


def _state(r: _Reader) -> StateSettings:
    table = r.table("state")
    r.known_keys(table, "[state]", STATE_KEYS)
    backend = r.text(table, "backend", "state", "local")
    if backend not in BACKENDS:
        r.fail("state.backend", f"must be one of {', '.join(BACKENDS)} (got {backend[:40]!r})")
    url = r.text(table, "container_url", "state", "")
    if backend != "local" and not url.startswith(("https://", "http://")):
        r.fail(
            "state.container_url",
            "must be the container's URL, https://<account>.blob.core.windows.net/<container>",
        )
    lease = table.get("lease_seconds", 30)
    if isinstance(lease, bool) or not isinstance(lease, int) or not LEASE_MIN <= lease <= LEASE_MAX:
        r.fail(
            "state.lease_seconds",
            f"must be a whole number of seconds from {LEASE_MIN} to {LEASE_MAX} (Azure's range)",
        )
    return StateSettings(backend, url, lease)


def _keep_releases(r: _Reader) -> int:
    """`[releases] keep = N`: how many releases `elb-upgrade releases` keeps (default 10)."""
    table = r.table("releases")
    unknown = sorted(set(table) - {"keep"})
    if unknown:
        r.fail(f"releases.{unknown[0]}", "is not a setting (only `keep` is)")
    keep = table.get("keep", 10)
    if not isinstance(keep, int) or isinstance(keep, bool) or not 1 <= keep <= 1000:
        r.fail("releases.keep", f"must be a whole number from 1 to 1000 (got {keep!r})")
    return int(keep)


def _images(r: _Reader, root: Path) -> tuple[ImageSpec, ...]:
    found = []
    for key, data in r.table("images").items():
        where = f"images.{key}"
        if not isinstance(data, dict):
            r.fail(where, "must be a table")
        r.known_keys(data, f"[{where}]", IMAGE_KEYS)
        found.append(
            ImageSpec(
                key=key,
                repository=r.text(data, "repository", where),
                context=(root / r.text(data, "context", where, ".")).resolve(),
                dockerfile=r.text(data, "dockerfile", where, "Dockerfile"),
                build_args=r.mapping(data, "build_args", where),
            )
        )
    if not found:
        r.fail("images", "must define at least one image")
    return tuple(found)


def _containers(r: _Reader, images: tuple[ImageSpec, ...]) -> tuple[ContainerSpec, ...]:
    keys = {i.key for i in images}
    found = []
    for name, data in r.table("containers").items():
        where = f"containers.{name}"
        if not isinstance(data, dict):
            r.fail(where, "must be a table")
        if not _NAME.match(name):
            r.fail(where, "must be named with letters, digits, '_', '.', '-'")
        r.known_keys(data, f"[{where}]", CONTAINER_KEYS)
        image_key = r.text(data, "image", where)
        if image_key not in keys:
            r.fail(f"{where}.image", f"names no image in [images] ({image_key!r})")
        found.append(
            ContainerSpec(
                name=name,
                image_key=image_key,
                command=r.strings(data, "command", where),
                env=r.mapping(data, "env", where),
                port=_port(r, data, where),
            )
        )
    if not found:
        r.fail("containers", "must define at least one container")
    ports = [c.port for c in found if c.port]
    if len(ports) != len(set(ports)):
        r.fail("containers", f"give each container its own port (got {sorted(ports)})")
    return tuple(found)


def _port(r: _Reader, data: Mapping[str, Any], where: str) -> int | None:
    """`port = 8000` or `port = "${API_PORT:-8000}"`: the public port, or None."""
    value = data.get("port")
    if value is None:
        return None
    text = r.expand(value, f"{where}.port") if isinstance(value, str) else value
    if isinstance(text, bool) or not str(text).isdigit() or not 0 < int(text) < 65536:
        r.fail(f"{where}.port", f"must be a TCP port 1-65535 (got {str(text)[:20]!r})")
    return int(text)


def _scopes(r: _Reader, images: tuple[ImageSpec, ...]) -> dict[str, tuple[str, ...]]:
    keys = {i.key for i in images}
    scopes = {}
    for name in r.table("scopes"):
        if name == ROLLBACK:
            r.fail(f"scopes.{name}", "is reserved for `elb-upgrade rollback`")
        members = r.strings(r.raw["scopes"], name, "scopes")
        unknown = [m for m in members if m not in keys]
        if not members or unknown:
            r.fail(f"scopes.{name}", f"must list image keys from [images] (unknown: {unknown})")
        scopes[name] = members
    if not scopes:
        r.fail("scopes", "must define at least one scope")
    return scopes
