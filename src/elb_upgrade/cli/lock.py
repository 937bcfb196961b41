"""`elb-upgrade lock status`: is a run deploying this app right now, and who?"""

from __future__ import annotations

import os
from typing import Any

import click

from elb_upgrade.cli.options import config_option

_CONTEXT = {"help_option_names": ["-h", "--help"]}


@click.group("lock", context_settings=_CONTEXT)
def lock_group() -> None:
    """Inspect the per-app lock that keeps two runs from deploying at once."""


@lock_group.command("status", context_settings=_CONTEXT)
@config_option()
@click.option("--app", metavar="NAME", help="The app's name; no config file needed.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def lock_status_command(config_arg: str | None, app: str | None, as_json: bool) -> int:
    """Free (exit 0) or held by whom (exit 1); a dead run's record is a harmless leftover."""
    import datetime as dt
    from pathlib import Path

    from elb_upgrade import lock, status
    from elb_upgrade.errors import ConfigError

    try:
        name = status.app_name(config_arg, app, Path.cwd(), os.environ)
    except ConfigError as exc:
        exc.hint = f"{exc.hint}, or pass --app NAME"
        raise
    from elb_upgrade.state import for_command

    backend = for_command(config_arg, None, os.environ, Path.cwd())
    now = dt.datetime.now(dt.UTC)
    if backend.name != "local":
        return _shared_status(backend.lock_view(name), name, now, as_json)
    state = lock.inspect_lock(lock.lock_file(name, os.environ))
    if as_json:
        import json

        click.echo(json.dumps({"version": 1, "app": name, **state.to_json(now)}))
    else:
        click.echo(describe(state, now))
    return 1 if state.held else 0


def describe(state: Any, now: Any) -> str:
    """The lock's state in words (also used by `elb-upgrade status`)."""
    from elb_upgrade.clock import human

    holder = state.holder
    if state.state == "held" and holder is None:
        return f"held: a run is starting and has not written its record yet ({state.path})"
    if state.state == "held":
        seconds = state.held_for(now)
        since = f" (for {human(seconds)})" if seconds is not None else ""
        return (
            f"held by pid {holder.pid}, {holder.user}@{holder.host}, scope {holder.scope}, "
            f"since {holder.started}{since}\n  lock file: {state.path}"
        )
    if state.state == "leftover":
        return (
            f"free: no run holds {state.path}\n"
            f"  leftover record of a run that died: pid {holder.pid}, "
            f"{holder.user}@{holder.host}, scope {holder.scope}, since {holder.started}\n"
            "  harmless: the kernel freed the lock when that process ended; nothing to clean up"
        )
    return f"free: no run holds {state.path}"


def _shared_status(view: Any, name: str, now: Any, as_json: bool) -> int:
    if as_json:
        import json

        click.echo(json.dumps({"version": 1, "app": name, **view.to_json(now)}))
    else:
        click.echo(describe_shared(view))
    return 1 if view.held else 0


def describe_shared(view: Any) -> str:
    """A shared (lease) lock in words: the holder and when the lease runs out at the latest."""
    h = view.holder or {}
    who = (
        f"pid {h.get('pid', '?')}, {h.get('user', '?')}@{h.get('host', '?')}, scope "
        f"{h.get('scope', '?')}, since {h.get('started', '?')}, run {h.get('run_id', '?')}"
    )
    if view.state == "held":
        return (
            f"held by {who}\n  lease expires by {view.expires or '?'} unless renewed "
            f"(a dead holder frees it then)\n  lock: {view.where}"
        )
    if view.state == "leftover":
        return (
            f"free: no run holds {view.where}\n  leftover record of a run that ended without "
            f"releasing it: {who}\n  harmless: its lease ran out; nothing to clean up"
        )
    return f"free: no run holds {view.where}"


@lock_group.command("break", context_settings=_CONTEXT)
@config_option("Config file with the [state].")
@click.option("--app", metavar="NAME", help="The app's name (default: the config's).")
@click.option("-y", "--yes", is_flag=True, help="Do not ask before breaking it.")
def lock_break_command(config_arg: str | None, app: str | None, yes: bool) -> int:
    """End another run's lease on the shared lock now, and record who broke it.

    That run stops before its next side effect. Only for a holder you know is gone or
    stuck: a killed holder's lease runs out on its own within the lease time.
    """
    import datetime as dt
    import uuid
    from pathlib import Path

    from elb_upgrade import status
    from elb_upgrade.state import for_command
    from elb_upgrade.state.base import RunMeta

    name = status.app_name(config_arg, app, Path.cwd(), os.environ)
    backend = for_command(config_arg, None, os.environ, Path.cwd())
    meta = RunMeta.current(uuid.uuid4().hex, os.environ)
    view = backend.lock_view(name)
    if not view.held:
        click.echo(describe_shared(view) if backend.name != "local" else f"free: {view.where}")
        click.echo("nothing to break; nothing was changed")
        return 0
    if backend.name == "local":
        backend.break_lock(name, meta)  # refuses: a kernel flock cannot be broken
    if not yes and not click.confirm(f"Break the lock of {describe_shared(view)}?"):
        click.echo("aborted: the lock was not broken", err=True)
        return 1
    before = backend.break_lock(name, meta)
    _record_break(backend, name, before, meta, dt.datetime.now(dt.UTC))
    click.echo(
        f"broken: {before.where} is free; the run that held it stops before its next step "
        "(check `elb-upgrade status`)"
    )
    return 0


def _record_break(backend: Any, name: str, view: Any, meta: Any, now: Any) -> None:
    from elb_upgrade.clock import iso_z
    from elb_upgrade.history.record import Entry

    h = view.holder or {}
    held_by = f"{h.get('user', '?')}@{h.get('host', '?')} (run {h.get('run_id', '?')})"
    entry = Entry(
        ts=iso_z(now),
        scope="lock",
        app=name,
        tag="",
        head_sha="",
        result="lock_broken",
        elapsed_seconds=0,
        message=f"lock broken by {meta.user}@{meta.host}; it was held by {held_by}",
        exit_code=0,
    )
    warning = backend.append_history(entry, meta)
    if warning:
        click.echo(f"warning: {warning}", err=True)
