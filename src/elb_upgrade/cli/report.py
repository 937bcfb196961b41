"""`elb-upgrade report`: the deploy history as one offline HTML file (or Markdown)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
from pathlib import Path
from typing import Any

import click

DEFAULT_OUTPUT = "elb-upgrade-report.html"


@click.command("report", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--app", "apps", multiple=True, metavar="NAME", help="Only this app (repeatable).")
@click.option(
    "--since",
    default="30d",
    show_default=True,
    metavar="AGE|DATE",
    help="The period: an age (30d, 2w, 12h) or a UTC date; compared with the period before.",
)
@click.option(
    "-o",
    "--output",
    metavar="PATH",
    help=f"Write here (HTML default: ./{DEFAULT_OUTPUT}; Markdown default: stdout).",
)
@click.option("--markdown", is_flag=True, help="GitHub-flavoured Markdown instead of HTML.")
@click.option(
    "--rework-window",
    default="24h",
    show_default=True,
    metavar="AGE",
    help="A deployment this soon after a failed one counts as rework.",
)
def report_command(
    apps: tuple[str, ...],
    since: str,
    output: str | None,
    markdown: bool,
    rework_window: str,
) -> int:
    """Deploy history as charts and DORA metrics, in one offline HTML file."""
    from elb_upgrade.history.dora import Period
    from elb_upgrade.history.read import parse_since
    from elb_upgrade.history.source import open_source
    from elb_upgrade.report.data import gather

    now = dt.datetime.now(dt.UTC)
    start = parse_since(since, now)
    if start >= now:
        from elb_upgrade.errors import UsageError

        raise UsageError(
            f"--since {since!r} is not in the past; no report was written",
            hint="use an age such as 30d or a date before today",
        )
    window = _age(rework_window, now)
    path = None if markdown and output is None else Path(output or DEFAULT_OUTPUT)
    if path is not None:
        check_target(path)
    source = open_source(os.environ)
    data = gather(source, Period(start, now), apps, window)
    data.source, data.skipped, data.found = source.where, source.skipped, source.found
    if source.skipped:
        click.echo(
            f"warning: skipped {source.skipped} corrupt or foreign line(s) in {source.where}",
            err=True,
        )
    if not source.found:
        click.echo(
            f"note: {source.where} does not exist yet (every elb-upgrade run appends one line "
            "there); the report shows no runs",
            err=True,
        )
    if markdown:
        from elb_upgrade.report import markdown as md

        text = md.render(data)
        if output is None:
            click.echo(text, nl=False)
            return 0
    else:
        from elb_upgrade.report import html

        text = html.render(data)
    assert path is not None
    write(path, text)
    click.echo(f"report written to {path.resolve()} ({_counts(data)})")
    return 0


def _age(text: str, now: dt.datetime) -> dt.timedelta:
    from elb_upgrade.errors import UsageError
    from elb_upgrade.history.read import parse_since

    if not re.fullmatch(r"\d+[smhdw]", text.strip()):
        raise UsageError(
            f"--rework-window {text!r} is not an age; no report was written",
            hint="use e.g. --rework-window 24h, 90m or 2d",
        )
    return now - parse_since(text, now)


def _counts(data: Any) -> str:
    apps = len(data.apps)
    plural = "s" * (apps != 1)
    return f"{len(data.runs)} runs of {apps} app{plural} since {data.period.start:%Y-%m-%d}"


def check_target(path: Path) -> None:
    """Refuse an output path that cannot take a file, before any work is done."""
    from elb_upgrade.errors import ElbUpgradeError

    if path.is_dir():
        raise ElbUpgradeError(
            f"cannot write the report to {path}: it is a directory; nothing was written",
            hint=f"name a file, e.g. -o {path / DEFAULT_OUTPUT}",
        )
    if not path.parent.is_dir():
        raise ElbUpgradeError(
            f"cannot write the report to {path}: No such directory {path.parent}; "
            "nothing was written",
            hint=f"create it (mkdir -p {path.parent}) or pick another -o PATH",
        )


def write(path: Path, text: str) -> None:
    """Write `text` to `path` whole or not at all (a temporary file renamed over it)."""
    from elb_upgrade.errors import ElbUpgradeError

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise ElbUpgradeError(
            f"cannot write the report to {path}: {exc.strerror or exc}; nothing was written",
            hint="pick a writable place with -o PATH",
        ) from None
