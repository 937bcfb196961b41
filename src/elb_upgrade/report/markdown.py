"""The report as GitHub-flavoured Markdown (`report --markdown`), and the short summary
every upgrade run appends to `$GITHUB_STEP_SUMMARY` in GitHub Actions.

Cells are escaped for GFM tables: `|` and the characters GitHub would read as HTML, a
link or code become entities, control characters become spaces, so a message never
breaks a table or injects markup.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from elb_upgrade.clock import human, iso_z
from elb_upgrade.report.data import ReportData
from elb_upgrade.report.rows import LAST_RUNS_TITLE, RUN_COLUMNS, metric_rows, printable, run_cells

STEP_SUMMARY = "GITHUB_STEP_SUMMARY"
_ESCAPES = {
    "|": "&#124;",
    "<": "&lt;",
    ">": "&gt;",
    "&": "&amp;",
    "`": "&#96;",
    "[": "&#91;",
    "]": "&#93;",
    "\\": "&#92;",
}
ICONS = {"success": "✅", "rollback_success": "✅", "rollback_failed": "🛑", "dry_run": "📝"}


def render(data: ReportData) -> str:
    """The report's DORA table, weekly counts and last runs as GFM."""
    p = data.period
    scope = ", ".join(data.apps_filter) or "all apps"
    out = [
        f"## Deploy report: {cell(scope)}",
        "",
        f"Period {iso_z(p.start)} to {iso_z(p.end)} ({p.days:g} days), each metric beside "
        f"the {p.days:g} days before. {len(data.runs)} runs in the period.",
        "",
        "### DORA metrics",
        "",
        *_table(
            ["app", "metric", "this period", "band", "previous period", "band"],
            [
                [app.app, r.metric, r.current, r.band or "–", r.previous, r.previous_band or "–"]
                for app in [*data.apps, *([data.total] if data.total else [])]
                for r in metric_rows(app)
            ],
        ),
        "",
        "Bands: the 2024 Accelerate State of DevOps report's performance levels (none is "
        "published for rework rate). Rework: the next deployment of an app after a failed one "
        f"within {data.rework_window.total_seconds() / 3600:g} h.",
    ]
    if data.lead_time_missing:
        out.append(
            f"Lead time leaves out {data.lead_time_missing} successful deployment(s) "
            "without commit_ts."
        )
    if data.skipped:
        out.append(f"{data.skipped} corrupt or foreign history line(s) were skipped.")
    out += [
        "",
        "### Failures and rollbacks per week",
        "",
        *_table(
            ["week from", "failed deployments", "rollbacks"],
            [[w.start.isoformat(), str(w.failures), str(w.rollbacks)] for w in data.weeks],
        ),
        "",
        f"### {LAST_RUNS_TITLE}",
        "",
        *_table(list(RUN_COLUMNS), [run_cells(e) for e in data.last_runs[::-1]]),
        "",
    ]
    return "\n".join(out)


def step_summary(summary: Mapping[str, Any], started: str) -> str:
    """A run's `--json` summary as a few lines of GFM for the CI job's summary page."""
    from elb_upgrade.health.hints import hint_for

    result = str(summary.get("result", ""))
    icon = ICONS.get(result, "❌")
    title = f"### {icon} elb-upgrade {cell(str(summary.get('scope', '')))}"
    if summary.get("app"):
        title += f" of {cell(str(summary['app']))}"
    revision = str(summary.get("revision") or "–")
    if summary.get("previous_revision"):
        revision += f" (was {summary['previous_revision']})"
    elapsed = summary.get("elapsed_seconds")
    rows = [
        ["result", f"{result} (exit {summary.get('exit_code')})"],
        ["revision", revision],
        ["tag", str(summary.get("tag") or "–")],
        ["commit", str(summary.get("head_sha") or "–")],
        ["started", started],
        ["elapsed", human(float(elapsed)) if isinstance(elapsed, int | float) else "–"],
    ]
    if summary.get("message"):
        rows.append(["message", str(summary["message"])])
    out = [title, "", *_table(["", ""], rows)]
    down = summary.get("components_down") or []
    if down:
        out += [
            "",
            "Components the readiness gate found down:",
            "",
            *_table(
                ["component", "status", "error class", "first check"],
                [
                    [
                        str(c.get("name", "")),
                        str(c.get("status", "")),
                        str(c.get("error_class", "") or "–"),
                        hint_for(str(c.get("error_class", ""))),
                    ]
                    for c in down
                ],
            ),
        ]
    return "\n".join(out) + "\n\n"


def append_step_summary(environ: Mapping[str, str], text: str) -> str | None:
    """Append `text` to `$GITHUB_STEP_SUMMARY` when it is set; a warning when that fails."""
    target = environ.get(STEP_SUMMARY)
    if not target:
        return None
    path = Path(target)
    try:
        # O_NONBLOCK: a FIFO at the path must not hang the end of the run.
        fd = os.open(
            path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NONBLOCK, 0o644
        )
        try:
            if not _regular(fd):
                return (
                    f"job summary not written: ${STEP_SUMMARY} ({path}) is not a regular file; "
                    "the run's result is unchanged"
                )
            os.write(fd, text.encode())
        finally:
            os.close(fd)
    except OSError as exc:
        return (
            f"job summary not written to ${STEP_SUMMARY} ({path}): {exc.strerror or exc}; "
            "the run's result is unchanged"
        )
    return None


def _regular(fd: int) -> bool:
    import stat

    return stat.S_ISREG(os.fstat(fd).st_mode)


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = [
        "| " + " | ".join(cell(h) for h in head) + " |",
        "|" + "---|" * len(head),
    ]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def cell(text: str) -> str:
    """`text` safe inside a GFM table cell."""
    return "".join(_ESCAPES.get(ch, ch) for ch in printable(text)).strip()
