"""What runs and who deploys: the `elb-upgrade status` report (lock state from `lock`).

Nothing here prints. `inspect_lock` never takes the lock for longer than a probe, and a
record left in the lock file by a run that died is reported as a leftover, never as
held: the kernel freed the lock when that process ended.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from elb_upgrade import config, snapshot
from elb_upgrade.errors import ElbUpgradeError, PlatformError
from elb_upgrade.history.read import Entry, HistoryError, Scan
from elb_upgrade.lock import LockState, inspect_lock, lock_file
from elb_upgrade.platforms.base import AppState, Platform, Route, Routing
from elb_upgrade.readiness_body import Component, Fetch, Reply, parse

READINESS_TIMEOUT = 5.0


def app_name(config_arg: str | None, app: str | None, cwd: Path, environ: Mapping[str, str]) -> str:
    """`--app`, else the app name of the config found by the usual precedence."""
    if app:
        return app
    return config.load(config.find(config_arg, cwd, environ), environ).app.name


@dataclass(frozen=True)
class Readiness:
    url: str
    http_status: int | None
    status: str = ""
    revision: str = ""
    components: tuple[Component, ...] = ()
    error: str = ""

    @property
    def ready(self) -> bool:
        return self.http_status == 200


def readiness_of(url: str, reply: Reply) -> Readiness:
    """The readiness summary of one answer: status, revision and each component."""
    if reply.status is None:
        return Readiness(url, None, error=reply.error or "no answer")
    body = parse(reply.body)
    error = "" if body.valid else "the body is not a JSON object"
    return Readiness(url, reply.status, body.status, body.revision, body.components, error)


@dataclass(frozen=True)
class SnapshotCheck:
    """`matches` what runs (a rollback would change nothing), `differs`, `missing`,
    `unreadable`, or `unknown` (the platform could not say what runs)."""

    path: Path
    state: str
    taken_at: str = ""
    revision: str = ""
    differences: tuple[str, ...] = ()
    detail: str = ""


def compare_snapshot(path: Path, app: str, running: AppState | None) -> SnapshotCheck:
    try:
        snap = snapshot.read(path, app)
    except OSError as exc:
        return SnapshotCheck(path, "unreadable", detail=f"cannot read {path}: {exc.strerror}")
    except ElbUpgradeError as exc:
        state = "missing" if exc.message.startswith("no snapshot") else "unreadable"
        return SnapshotCheck(path, state, detail=exc.message)
    saved = snap.state
    if running is None:
        return SnapshotCheck(path, "unknown", snap.taken_at, saved.revision)
    wanted = {c.name: c.image for c in saved.images}
    now = {c.name: c.image for c in running.images}
    differences = tuple(
        f"{name}: snapshot {wanted.get(name) or '(none)'}, running {now.get(name) or '(none)'}"
        for name in sorted(set(wanted) | set(now))
        if wanted.get(name) != now.get(name)
    )
    state = "differs" if differences else "matches"
    return SnapshotCheck(path, state, snap.taken_at, saved.revision, differences)


@dataclass(frozen=True)
class AppStatus:
    app: str
    platform: str
    running: AppState | None
    platform_error: str
    readiness: Readiness
    lock: LockState
    last_run: Entry | None
    history_error: str
    snapshot: SnapshotCheck
    routes: tuple[Route, ...] = ()
    routes_error: str = ""

    @property
    def exit_code(self) -> int:
        """0 when the platform answered and readiness said 200; 1 otherwise."""
        return 0 if self.running is not None and self.readiness.ready else 1


def gather(
    cfg: config.Config,
    platform: Platform,
    fetch: Fetch,
    environ: Mapping[str, str],
    history_path: Path | None,
) -> AppStatus:
    """Ask the platform, readiness, the lock, the history and the snapshot.

    A platform, readiness or history failure is reported in its own section, so one
    broken part never hides the others.
    """
    app = cfg.app.name
    running, platform_error = _running(platform)
    routes, routes_error = _routes(platform)
    reply = fetch(cfg.readiness_url, READINESS_TIMEOUT)
    last_run, history_error = _last_run(history_path, app)
    return AppStatus(
        app=app,
        platform=platform.name,
        running=running,
        platform_error=platform_error,
        readiness=readiness_of(cfg.readiness_url, reply),
        lock=inspect_lock(lock_file(app, environ)),
        last_run=last_run,
        history_error=history_error,
        snapshot=compare_snapshot(snapshot.default_path(app, environ), app, running),
        routes=routes,
        routes_error=routes_error,
    )


def _routes(platform: Platform) -> tuple[tuple[Route, ...], str]:
    """Each public port's revision, for platforms with a proxy (`Routing`)."""
    if not isinstance(platform, Routing):
        return (), ""
    try:
        return platform.routes(), ""
    except PlatformError as exc:
        return (), f"{exc.message} → {exc.hint}" if exc.hint else exc.message


def _running(platform: Platform) -> tuple[AppState | None, str]:
    try:
        return platform.current(), ""
    except PlatformError as exc:
        return None, f"{exc.message} → {exc.hint}" if exc.hint else exc.message


def _last_run(path: Path | None, app: str) -> tuple[Entry | None, str]:
    if path is None:
        return None, "no history path: $HOME is not set (set $ELB_UPGRADE_HISTORY)"
    found = None
    try:
        for entry in Scan(path):
            if entry.get("app") == app:
                found = entry
    except HistoryError as exc:
        return None, exc.message
    return found, ""
