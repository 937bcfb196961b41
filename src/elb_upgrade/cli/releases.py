"""`elb-upgrade releases`: the kept releases of the app, newest first (table or `--json`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from elb_upgrade.cli.options import config_option

COLUMNS = ("REVISION", "TAG", "GIT", "DEPLOYED", "BY", "IMAGES")


@click.command("releases", context_settings={"help_option_names": ["-h", "--help"]})
@config_option()
@click.option("--json", "as_json", is_flag=True, help="One JSON object with every kept release.")
def releases_command(config_arg: str | None, as_json: bool) -> int:
    """Kept releases (digests, spec, commit, who, when): targets of `rollback --to`."""
    from elb_upgrade import config, releases

    cfg = config.load(config.find(config_arg, Path.cwd(), os.environ), os.environ)
    app = cfg.app.name
    path = releases.default_path(app, os.environ)
    kept = list(reversed(releases.Store(path, app).load()))
    if as_json:
        import json

        body = {
            "version": 1,
            "app": app,
            "keep": cfg.keep_releases,
            "path": str(path),
            "releases": [r.to_json() for r in kept],
        }
        click.echo(json.dumps(body, ensure_ascii=False))
    elif not kept:
        click.echo(
            f"no releases kept for {app} yet in {path}: every upgrade or rollback that "
            "passes its readiness gate adds one",
            err=True,
        )
    else:
        click.echo(_table([_row(r) for r in kept]))
    return 0


def _row(release: Any) -> tuple[str, ...]:
    images = " ".join(f"{c.name}={_short(c.digest) or c.image}" for c in release.containers)
    restores = f" (restores {release.restores})" if release.restores else ""
    return (
        release.revision + restores,
        release.tag or "-",
        release.git_sha[:12] or "-",
        release.deployed_at or "-",
        release.deployed_by or "-",
        images,
    )


def _short(digest: str) -> str:
    algorithm, _, value = digest.partition(":")
    return f"{algorithm}:{value[:12]}" if value else ""


def _table(rows: list[tuple[str, ...]]) -> str:
    from elb_upgrade.ui import printable

    widths = [max(len(r[i]) for r in [COLUMNS, *rows]) for i in range(len(COLUMNS) - 1)]
    lines = []
    for row in [COLUMNS, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append(printable("  ".join([*cells, row[-1]])))
    return "\n".join(lines)
