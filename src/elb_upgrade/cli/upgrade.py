"""`elb-upgrade SCOPE [OPTIONS]`: parse and validate flags, run the envelope, render the ending."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from elb_upgrade.cli.complete import scope_items
from elb_upgrade.cli.options import config_option, state_option

_SECONDS = click.FloatRange(min=0, min_open=True)
_WAIT = click.FloatRange(min=0)


def _complete_scope(_ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[Any]:
    return scope_items(incomplete)


@click.command("upgrade", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("scope", shell_complete=_complete_scope)
@click.option("--pull", is_flag=True, help="git pull --ff-only on the current branch first.")
@click.option("--allow-dirty", is_flag=True, help="Deploy even with uncommitted changes.")
@click.option("--branch", metavar="NAME", help="Refuse unless the checkout is on branch NAME.")
@click.option("--tag", metavar="TAG", help="Image tag (default: YYYYmmddHHMMSS-<short sha>).")
@click.option(
    "--health-timeout",
    type=_SECONDS,
    default=180.0,
    show_default=True,
    metavar="S",
    help="Seconds the readiness gate waits for the new revision.",
)
@click.option(
    "--health-interval",
    type=_SECONDS,
    default=5.0,
    show_default=True,
    metavar="S",
    help="Longest pause between readiness polls (starts at 0.5 s).",
)
@click.option(
    "--rollback-timeout",
    type=_SECONDS,
    default=None,
    metavar="S",
    help="Readiness budget of a rollback (default: the health timeout).",
)
@click.option(
    "--no-auto-rollback",
    is_flag=True,
    help="On gate failure keep the new revision and print the rollback command.",
)
@click.option("--skip-parity-check", is_flag=True, help="Skip the storage parity preflight.")
@click.option(
    "--lock-wait",
    type=_WAIT,
    default=0.0,
    show_default=True,
    metavar="S",
    help="Wait up to S seconds for another run's lock (0: fail at once).",
)
@config_option()
@state_option(
    "Where the lock, snapshot and history live (default: [state] in the config); "
    "`--state local` when shared storage is down."
)
@click.option(
    "--to",
    metavar="REVISION|TAG",
    help="With rollback: restore this kept release (see `elb-upgrade releases`).",
)
@click.option("-y", "--yes", is_flag=True, help="Do not ask before deploying.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Preflight, take the lock and print the plan; build and change nothing.",
)
@click.option(
    "--logs", is_flag=True, help="Follow the main container's log after success (implies --yes)."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary on stdout.")
def upgrade_command(scope: str, as_json: bool, **flags: Any) -> int:
    """Upgrade SCOPE: preflight, lock, snapshot, build, deploy, gate, roll back on failure."""
    from elb_upgrade.run import Options, follow_logs, summary, upgrade
    from elb_upgrade.ui import make_reporter

    flags["yes"] = flags["yes"] or flags["logs"]
    flags["auto_rollback"] = not flags.pop("no_auto_rollback")
    options = Options(scope=scope, **flags)
    ui = make_reporter(os.environ)
    finished = upgrade(options, os.environ, Path.cwd(), ui)
    if as_json:
        click.echo(json.dumps(summary(finished)))
    else:
        o = finished.outcome
        where = f" → {o.revision}" if o.revision else ""
        click.echo(
            f"{o.result}: {finished.app or '?'} {finished.scope}{where} "
            f"({finished.elapsed_seconds}s, exit {finished.exit_code})",
        )
    follow_logs(finished, ui)  # `--logs`: after the ending is recorded and the lock freed
    return finished.exit_code
