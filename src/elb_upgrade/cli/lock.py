"""`elb-upgrade lock status`: is a run deploying this app right now, and who?"""

from __future__ import annotations

import os
from typing import Any

import click

_CONTEXT = {"help_option_names": ["-h", "--help"]}


@click.group("lock", context_settings=_CONTEXT)
def lock_group() -> None:
    """Inspect the per-app lock that keeps two runs from deploying at once."""


@lock_group.command("status", context_settings=_CONTEXT)
@click.option(
    "--config",
    "config_arg",
    metavar="PATH",
    help="Config file (default: $ELB_UPGRADE_CONFIG or the nearest elb-upgrade.toml).",
)
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
    state = lock.inspect_lock(lock.lock_file(name, os.environ))
    now = dt.datetime.now(dt.UTC)
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
