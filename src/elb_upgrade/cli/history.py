"""`elb-upgrade history`: the last runs as a table or JSONL, or statistics (`--stats`)."""

from __future__ import annotations

import os
from typing import Any

import click

from elb_upgrade.cli.options import config_option, state_option

COLUMNS = ("WHEN", "APP", "SCOPE", "RESULT", "ELAPSED", "EXIT", "TAG", "MESSAGE")
MESSAGE_WIDTH = 60
_COLOURS = {"success": "green", "rollback_success": "green", "rollback_failed": "red"}


def _complete_result(_ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[Any]:
    from click.shell_completion import CompletionItem

    from elb_upgrade.results import RECORDED

    return [CompletionItem(r) for r in RECORDED if r.startswith(incomplete)]


def _complete_scope(_ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[Any]:
    from elb_upgrade.cli.complete import scope_items

    return scope_items(incomplete)


@click.command("history", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-n",
    "--limit",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    metavar="N",
    help="Show the last N matching runs (0: all).",
)
@click.option("--app", "apps", multiple=True, metavar="NAME", help="Only this app (repeatable).")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    metavar="SCOPE",
    shell_complete=_complete_scope,
    help="Only this scope (repeatable).",
)
@click.option(
    "--result",
    "results",
    multiple=True,
    metavar="RESULT",
    shell_complete=_complete_result,
    help="Only this result, e.g. success, rollback_failed (repeatable).",
)
@click.option("--since", metavar="AGE|DATE", help="Only runs since 30d, 12h, 90m or 2026-05-01.")
@click.option("--stats", is_flag=True, help="Counts, success rate, elapsed and recovery times.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines (with --stats: one object).")
@click.option(
    "--verify", is_flag=True, help="Check the shared history's hash chain; name the first bad line."
)
@click.option("--flush", is_flag=True, help="Append the lines spooled while storage was away.")
@config_option("Config whose [state] says where the history is (default: the nearest one).")
@state_option("Read this backend instead of the config's [state].")
def history_command(
    limit: int,
    apps: tuple[str, ...],
    scopes: tuple[str, ...],
    results: tuple[str, ...],
    since: str | None,
    stats: bool,
    as_json: bool,
    verify: bool,
    flush: bool,
    config_arg: str | None,
    state: str | None,
) -> int:
    """Show recent runs from the deploy history ($ELB_UPGRADE_HISTORY).

    With a config whose [state] backend is "azure-blob", the shared history instead.
    """
    import datetime as dt
    from pathlib import Path

    from elb_upgrade.history import read
    from elb_upgrade.state import for_command

    now = dt.datetime.now(dt.UTC)
    keep = read.make_filter(apps, scopes, results, since, now)
    backend = for_command(config_arg, state, os.environ, Path.cwd())
    if flush:
        return _flush(backend)
    if verify:
        return _verify(backend, apps)
    scan = backend.history_scan(apps)
    if stats:
        return _stats(scan, keep, now, as_json)
    return _listing(scan, read.last(scan, keep, limit), as_json)


def _flush(backend: Any) -> int:
    report = backend.flush()
    if report.errors:
        click.echo(
            f"error: {report.appended} spooled line(s) appended, {report.kept} still spooled: "
            f"{report.errors[0]} → rerun `elb-upgrade history --flush` when storage answers",
            err=True,
        )
        return 1
    click.echo(
        f"flushed: {report.appended} spooled line(s) appended, {report.duplicates} already "
        f"in the history, {report.kept} kept for another backend"
    )
    return 0


def _verify(backend: Any, apps: tuple[str, ...]) -> int:
    reports = backend.verify(apps)
    if not reports:
        click.echo("no shared deploy history to verify yet", err=True)
        return 0
    bad = 0
    for r in reports:
        if r.problem:
            bad += 1
            click.echo(f"TAMPERED {r.where}: {r.problem}")
        else:
            click.echo(f"ok {r.where}: {r.lines} lines in {r.blobs} blob(s), chain intact")
    if bad:
        click.echo(
            "error: the history chain is broken → compare with a copy you trust; the "
            "storage account's activity log shows who wrote the blob",
            err=True,
        )
    return 1 if bad else 0


def _listing(scan: Any, rows: list[dict[str, Any]], as_json: bool) -> int:
    _warn_skipped(scan)
    if not rows:
        _nothing(scan)
    elif as_json:
        import json

        click.echo("\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
    else:
        _table(rows)
    return 0


def _stats(scan: Any, keep: Any, now: Any, as_json: bool) -> int:
    from elb_upgrade.history.stats import summarise

    summary = summarise(keep.apply(scan), now)
    _warn_skipped(scan)
    if as_json:
        import json

        click.echo(json.dumps(summary.to_json(), ensure_ascii=False))
    elif not summary.runs:
        _nothing(scan)
    else:
        click.echo(_render_stats(summary, scan.path))
    return 0


def _warn_skipped(scan: Any) -> None:
    if scan.skipped:
        click.echo(
            f"warning: skipped {scan.skipped} corrupt or foreign line(s) in {scan.path}", err=True
        )


def _nothing(scan: Any) -> None:
    if not scan.found:
        why = f"{scan.path} does not exist yet (every elb-upgrade run appends one line there)"
    elif scan.valid:
        why = f"no run matches the filters ({scan.valid} runs in {scan.path})"
    else:
        why = f"{scan.path} holds no runs yet"
    click.echo(f"no deploy history: {why}", err=True)


def _table(rows: list[dict[str, Any]]) -> None:
    cells = [[_cell(r, column) for column in COLUMNS] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(COLUMNS)]
    colour = "NO_COLOR" not in os.environ
    click.echo(_join(list(COLUMNS), widths, colour=False))
    for row in cells:
        click.echo(_join(row, widths, colour))


def _join(values: list[str], widths: list[int], colour: bool) -> str:
    """One aligned row; on a terminal the result is coloured (click strips it in pipes)."""
    out = []
    for column, value, width in zip(COLUMNS, values, widths, strict=True):
        text = value.rjust(width) if column in ("ELAPSED", "EXIT") else value.ljust(width)
        if colour and column == "RESULT":
            text = click.style(text, fg=_COLOURS.get(value, "yellow"))
        out.append(text)
    return "  ".join(out).rstrip()


def _render_stats(summary: Any, path: Any) -> str:
    from elb_upgrade.clock import human

    lines = [f"{summary.runs} runs in {path}", "results:"]
    for result, count in summary.results.items():
        lines.append(f"  {result:<28} {count:>6}  {count / summary.runs:6.1%}")
    lines.append(
        f"success rate: {summary.success_rate:.1%} ({summary.succeeded} of {summary.runs} "
        "runs ended in success or rollback_success)"
    )
    lines.append("elapsed seconds per scope (nearest-rank percentiles):")
    lines.append(f"  {'SCOPE':<16} {'RUNS':>6} {'OK':>6} {'MEAN':>8} {'P50':>8} {'P95':>8}")
    for s in summary.scopes:
        lines.append(
            f"  {s.scope:<16} {s.runs:>6} {s.succeeded:>6} {s.mean:>8.1f} {s.p50:>8} {s.p95:>8}"
        )
    lines.append(_last_success(summary, human))
    if summary.mttr is None:
        lines.append("mean time to recovery: no failure has been recovered from yet")
    else:
        n = len(summary.recoveries)
        lines.append(f"mean time to recovery: {human(summary.mttr)} over {n} recoveries")
    for app, start in summary.failing_since.items():
        lines.append(f"unrecovered: {app} has had no successful run since its failure at {start}")
    return "\n".join(lines)


def _last_success(summary: Any, human: Any) -> str:
    entry = summary.last_success
    if entry is None:
        return "last success: none"
    tag = f", tag {entry.get('tag')}" if entry.get("tag") else ""
    ago = summary.since_last_success
    when = f", finished {human(ago)} ago" if ago is not None else ""
    return (
        f"last success: {entry.get('ts')} {entry.get('result')} {entry.get('scope')} "
        f"of {entry.get('app')}{tag}{when}"
    )


def _cell(entry: dict[str, Any], column: str) -> str:
    key = {"WHEN": "ts", "ELAPSED": "elapsed_seconds", "EXIT": "exit_code"}.get(
        column, column.lower()
    )
    value = entry.get(key, "")
    text = "" if value is None else str(value)
    if column == "ELAPSED" and text:
        text += "s"
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    if column == "MESSAGE" and len(text) > MESSAGE_WIDTH:
        text = text[: MESSAGE_WIDTH - 1] + "…"
    return text
