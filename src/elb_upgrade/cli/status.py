"""`elb-upgrade status`: what runs, is it ready, who deploys, how the last run ended."""

from __future__ import annotations

import os
from typing import Any

import click

from elb_upgrade.cli.options import config_option


@click.command("status", context_settings={"help_option_names": ["-h", "--help"]})
@config_option()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def status_command(config_arg: str | None, as_json: bool) -> int:
    """Running revision and images, readiness, lock, last run, snapshot (exit 1: not ready)."""
    import datetime as dt
    from pathlib import Path

    from elb_upgrade import config, status
    from elb_upgrade.history import record
    from elb_upgrade.platforms.base import get_platform
    from elb_upgrade.readiness_fetch import http_fetch

    cfg = config.load(config.find(config_arg, Path.cwd(), os.environ), os.environ)
    platform = get_platform(cfg.platform, cfg.app)
    fetch, close = http_fetch()
    try:
        report = status.gather(cfg, platform, fetch, os.environ, record.default_path(os.environ))
    finally:
        close()
    now = dt.datetime.now(dt.UTC)
    if as_json:
        import json

        click.echo(json.dumps(to_json(report, now)))
    else:
        click.echo(render(report, now))
    return int(report.exit_code)


def to_json(report: Any, now: Any) -> dict[str, Any]:
    """The `status --json` object (version 1; additions only)."""
    running, ready, snap = report.running, report.readiness, report.snapshot
    return {
        "version": 1,
        "app": report.app,
        "platform": report.platform,
        "running": None
        if running is None
        else {
            "revision": running.revision,
            "images": [{"name": c.name, "image": c.image} for c in running.images],
        },
        "platform_error": report.platform_error,
        "readiness": {
            "url": ready.url,
            "http_status": ready.http_status,
            "status": ready.status,
            "revision": ready.revision,
            "components": [
                {"name": c.name, "status": c.status, "error_class": c.error_class}
                for c in ready.components
            ],
            "error": ready.error,
        },
        "lock": report.lock.to_json(now),
        "last_run": report.last_run,
        "history_error": report.history_error,
        "snapshot": {
            "path": str(snap.path),
            "state": snap.state,
            "taken_at": snap.taken_at,
            "revision": snap.revision,
            "differences": list(snap.differences),
            "detail": snap.detail,
        },
        "routes": [vars(r).copy() for r in report.routes],
        "routes_error": report.routes_error,
    }


def render(report: Any, now: Any) -> str:
    from elb_upgrade.cli.lock import describe

    lines = [f"app {report.app} on {report.platform}", *_running(report), *_routes(report)]
    lines.extend(_readiness(report))
    lines.append("lock: " + describe(report.lock, now))
    lines.append(_last_run(report))
    lines.extend(_snapshot(report.snapshot))
    return "\n".join(lines)


def _running(report: Any) -> list[str]:
    if report.running is None:
        return [f"running: unknown: {report.platform_error}"]
    state = report.running
    if not state.images:
        return ["running: nothing (the app has not been deployed)"]
    width = max(len(c.name) for c in state.images)
    return [f"running: revision {state.revision or '?'}"] + [
        f"  {c.name:<{width}}  {c.image}" for c in state.images
    ]


def _routes(report: Any) -> list[str]:
    if report.routes_error:
        return [f"routes: unknown: {report.routes_error}"]
    if not report.routes:
        return []
    return ["routes (public port → revision):"] + [
        f"  127.0.0.1:{r.port}  {r.container} → {r.revision or 'nothing yet'}"
        + (f" ({r.upstream})" if r.upstream else "")
        for r in report.routes
    ]


def _readiness(report: Any) -> list[str]:
    from elb_upgrade.health.hints import hint_for

    r = report.readiness
    if r.http_status is None:
        return [f"readiness: no answer from {r.url}: {r.error}"]
    revision = f", revision {r.revision}" if r.revision else ""
    lines = [f"readiness: HTTP {r.http_status} {r.status or r.error}{revision} ({r.url})"]
    width = max((len(c.name) for c in r.components), default=0)
    for c in r.components:
        down = c.status not in ("ok", "skipped")
        extra = f"  {c.error_class or 'no error_class'} → {hint_for(c.error_class)}" if down else ""
        lines.append(f"  {c.name:<{width}}  {c.status}{extra}")
    return lines


def _last_run(report: Any) -> str:
    entry = report.last_run
    if report.history_error:
        return f"last run: unknown: {report.history_error}"
    if entry is None:
        return f"last run: none recorded for {report.app}"
    tag = f", tag {entry.get('tag')}" if entry.get("tag") else ""
    return (
        f"last run: {entry.get('ts')} {entry.get('scope')} → {entry.get('result')} "
        f"({entry.get('elapsed_seconds')}s{tag})"
    )


def _snapshot(snap: Any) -> list[str]:
    where = f"snapshot of {snap.revision or '?'} taken {snap.taken_at or '?'}"
    if snap.state == "matches":
        return [f"snapshot: {where} matches what runs (a rollback would change nothing)"]
    if snap.state == "differs":
        return [
            f"snapshot: {where} differs from what runs; `elb-upgrade rollback` would restore:",
            *(f"  {d}" for d in snap.differences),
        ]
    if snap.state == "unknown":
        return [f"snapshot: {where} (cannot compare: the platform did not answer)"]
    return [f"snapshot: {snap.state}: {snap.detail}"]
