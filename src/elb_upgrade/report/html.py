"""The report as one self-contained HTML file: plotly charts, every chart also as a table.

Offline by construction: plotly.js is inlined (no CDN), no MathJax, no web fonts (the
page uses the system's), no map traces (the only plotly traces that fetch tiles), and
a Content-Security-Policy that lets the page load nothing from anywhere. Figures are
plain dicts handed to `plotly.io.to_html` (its JSON escapes `<`, so a message cannot
close the script). Every other text goes through `html.escape`.
"""

from __future__ import annotations

import html
from typing import Any

from elb_upgrade.clock import iso_z, moment
from elb_upgrade.errors import ElbUpgradeError
from elb_upgrade.history.dora import DEPLOYED, ROLLBACK_SCOPE
from elb_upgrade.history.read import Entry
from elb_upgrade.report.data import ReportData
from elb_upgrade.report.rows import (
    LAST_RUNS_TITLE,
    RUN_COLUMNS,
    metric_rows,
    printable,
    run_cells,
)
from elb_upgrade.results import RECORDED

SVG_LIMIT = 5000  # more marks than this are drawn with WebGL (`scattergl`), not SVG
TABLE_LIMIT = 1000  # rows of the period's run table; the rest: `elb-upgrade history`
COLOURS = {
    "success": "#2e7d32",
    "rollback_success": "#66bb6a",
    "upgrade_failed_rolled_back": "#f9a825",
    "upgrade_failed": "#ef6c00",
    "rollback_failed": "#c62828",
    "build_in_progress": "#8e24aa",
    "preflight_failed": "#546e7a",
    "parity_rejected": "#6d4c41",
    "lock_held": "#90a4ae",
    "aborted_by_user": "#9e9e9e",
    "aborted": "#424242",
    "lock_broken": "#00838f",
}
# One colour per line of the elapsed chart (d3's category 10, plotly.js's own default).
COLORWAY = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
CONFIG = {"displaylogo": False, "responsive": True}
CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data: blob:; connect-src 'none'; font-src 'none'; worker-src blob:"
)
STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;
max-width:1200px;padding:1rem 1.5rem;color:#1b1b1b;background:#fff}
h1{margin:.2rem 0}h2{margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.msg{max-width:36rem;overflow-wrap:anywhere}
.band{font-weight:600;border-radius:.3rem;padding:0 .4rem}
.elite{background:#c8e6c9}.high{background:#dcedc8}.medium{background:#fff3c4}
.low{background:#ffcdd2}.note{color:#555}.chart{height:420px;width:100%}
"""


def render(data: ReportData) -> str:
    """The whole page."""
    plotly_js, figure = _plotly()
    marks = [_Mark(entry) for entry in data.runs]
    scope = ", ".join(data.apps_filter) or "all apps"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Deploy report: {_e(scope)}, {_day(data.period.start)} to "
        f"{_day(data.period.end)}</title>",
        f"<style>{STYLE}</style>",
        f"<script>{plotly_js}</script>",
        "</head><body>",
        _header(data, scope),
        _dora(data),
        _section(
            "timeline",
            f"Runs ({len(data.runs)}), one mark per run, coloured by result",
            figure(_timeline(marks), "timeline-chart"),
            '<p class="note">Hover a mark for its scope, tag, who, elapsed time and message. '
            'The same runs are listed in <a href="#runs">the table of runs</a>.</p>',
        ),
        _section(
            "elapsed",
            "Elapsed time per scope",
            figure(_elapsed(marks), "elapsed-chart"),
            '<p class="note">Deployments and rollbacks; the values are in '
            '<a href="#runs">the table of runs</a> (elapsed column).</p>',
        ),
        _section(
            "weekly",
            "Failures and rollbacks per week",
            figure(_weekly(data), "weekly-chart"),
            _weekly_table(data),
        ),
        _section("last", LAST_RUNS_TITLE, _runs_table(data.last_runs[::-1], "last-runs")),
        _section("runs", "All runs of the period, newest first", _all_runs(data.runs)),
        _footer(data),
        "</body></html>",
    ]
    return "\n".join(parts)


def _plotly() -> tuple[str, Any]:
    try:
        import plotly.io as pio
        from plotly.offline import get_plotlyjs
    except ImportError:
        raise ElbUpgradeError(
            "the HTML report needs plotly, which is not installed; no report was written",
            hint="pip install 'elb-upgrade[report]', or use --markdown (no extra needed)",
        ) from None

    def figure(fig: dict[str, Any], div_id: str) -> str:
        return str(
            pio.to_html(
                fig,
                config=CONFIG,
                full_html=False,
                include_plotlyjs=False,
                include_mathjax=False,
                validate=False,
                div_id=div_id,
                default_height="420px",
            )
        )

    return get_plotlyjs(), figure


# -- charts --------------------------------------------------------------------------------
def _layout(x_title: str, y_title: str, **more: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "margin": {"l": 60, "r": 20, "t": 20, "b": 50},
        "xaxis": {"title": {"text": x_title}},
        "yaxis": {"title": {"text": y_title}, "automargin": True},
        "legend": {"orientation": "h", "y": -0.2},
        "font": {"family": "system-ui, sans-serif"},
        "hovermode": "closest",
        "colorway": list(COLORWAY),
    }
    layout.update(more)
    return layout


class _Mark:
    """One run as the charts show it: x, hover text (escaped once, used by both charts)."""

    __slots__ = ("entry", "hover", "x")

    def __init__(self, entry: Entry) -> None:
        self.entry = entry
        self.x = _x(entry)
        self.hover = _hover(entry)


def _timeline(marks: list[_Mark]) -> dict[str, Any]:
    kind = "scatter" if len(marks) <= SVG_LIMIT else "scattergl"
    by_result: dict[str, list[_Mark]] = {}
    for mark in marks:
        by_result.setdefault(str(mark.entry.get("result")), []).append(mark)
    traces = []
    for result in RECORDED:
        mine = by_result.get(result.value)
        if not mine:
            continue
        traces.append(
            {
                "type": kind,
                "mode": "markers",
                "name": result.value,
                "x": [m.x for m in mine],
                "y": [printable(str(m.entry.get("app", ""))) for m in mine],
                "hovertext": [m.hover for m in mine],
                "hoverinfo": "text",
                "marker": {"color": COLOURS.get(result.value, "#000"), "size": 10},
            }
        )
    return {"data": traces, "layout": _layout("started (UTC)", "app")}


def _elapsed(marks: list[_Mark]) -> dict[str, Any]:
    series: dict[str, list[_Mark]] = {}
    several = len({m.entry.get("app") for m in marks}) > 1
    for mark in marks:
        r = mark.entry
        if not _changed(r):
            continue
        name = str(r.get("scope", ""))
        if several:
            name = f"{r.get('app', '')} · {name}"
        series.setdefault(printable(name), []).append(mark)
    traces = [
        {
            "type": "scatter" if len(mine) <= SVG_LIMIT else "scattergl",
            "mode": "lines+markers",
            "name": name,
            "x": [m.x for m in mine],
            "y": [m.entry.get("elapsed_seconds") or 0 for m in mine],
            "hovertext": [m.hover for m in mine],
            "hoverinfo": "text",
        }
        for name, mine in sorted(series.items())
    ]
    return {"data": traces, "layout": _layout("started (UTC)", "elapsed (s)")}


def _weekly(data: ReportData) -> dict[str, Any]:
    weeks = [w.start.isoformat() for w in data.weeks]
    traces = [
        {
            "type": "bar",
            "name": "failed deployments",
            "x": weeks,
            "y": [w.failures for w in data.weeks],
            "marker": {"color": COLOURS["rollback_failed"]},
        },
        {
            "type": "bar",
            "name": "rollbacks",
            "x": weeks,
            "y": [w.rollbacks for w in data.weeks],
            "marker": {"color": COLOURS["upgrade_failed_rolled_back"]},
        },
    ]
    return {"data": traces, "layout": _layout("week (from Monday, UTC)", "runs", barmode="group")}


def _changed(entry: Entry) -> bool:
    result, scope = entry.get("result"), entry.get("scope")
    if scope == ROLLBACK_SCOPE:
        return result in ("rollback_success", "rollback_failed")
    return result in DEPLOYED


def _x(entry: Entry) -> str:
    """`2026-05-20 10:02:11` (UTC), the form plotly reads as a date."""
    ts = entry.get("ts")
    if isinstance(ts, str) and len(ts) == 20 and ts[10] == "T" and ts[19] == "Z":
        return f"{ts[:10]} {ts[11:19]}"  # the form every history line has
    when = moment(ts)
    return "" if when is None else iso_z(when).replace("T", " ").rstrip("Z")


def _hover(entry: Entry) -> str:
    when, app, scope, result, elapsed, tag, who, message = run_cells(entry)
    text = (
        f"{result} · {app} · scope {scope}\nstarted {when}, elapsed {elapsed}\n"
        f"tag {tag or '–'} · by {who or 'unknown'}"
    )
    if message:
        text += "\n" + message[:200]
    # plotly reads a small HTML subset in hover text: escape it, keep our line breaks.
    return html.escape(text).replace("\n", "<br>")


# -- tables and text ---------------------------------------------------------------------------
def _header(data: ReportData, scope: str) -> str:
    p = data.period
    return (
        f"<header><h1>Deploy report: {_e(scope)}</h1>"
        f"<p>Period {_e(iso_z(p.start))} to {_e(iso_z(p.end))} ({p.days:g} days), each "
        f"metric beside the {p.days:g} days before. {len(data.runs)} runs in the period.</p>"
        "</header>"
    )


def _dora(data: ReportData) -> str:
    rows = []
    apps = [*data.apps, *([data.total] if data.total else [])]
    for app in apps:
        for i, row in enumerate(metric_rows(app)):
            name = f'<th rowspan="5" scope="rowgroup">{_e(app.app)}</th>' if i == 0 else ""
            rows.append(
                f"<tr>{name}<td>{row.metric}</td><td>{_e(row.current)}</td>{_band(row.band)}"
                f"<td>{_e(row.previous)}</td>{_band(row.previous_band)}</tr>"
            )
    body = "\n".join(rows) or '<tr><td colspan="6">no runs in either period</td></tr>'
    table = (
        '<table id="dora-table"><thead><tr><th>app</th><th>metric</th><th>this period</th>'
        "<th>band</th><th>previous period</th><th>band</th></tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )
    return _section("dora", "DORA metrics", table, _notes(data))


def _notes(data: ReportData) -> str:
    hours = data.rework_window.total_seconds() / 3600
    notes = [
        "Bands: the performance levels of the 2024 Accelerate State of DevOps report (DORA); "
        "it publishes none for rework rate.",
        f"Rework: the next deployment of an app after a failed one, within {hours:g} h.",
    ]
    missing = data.lead_time_missing
    if missing:
        notes.append(
            f"Lead time leaves out {missing} successful deployment(s) whose history line has "
            "no commit_ts (written before elb-upgrade recorded commit times)."
        )
    if data.skipped:
        notes.append(f"{data.skipped} corrupt or foreign line(s) in the history were skipped.")
    return "".join(f'<p class="note">{_e(n)}</p>' for n in notes)


def _weekly_table(data: ReportData) -> str:
    rows = "".join(
        f"<tr><td>{w.start.isoformat()}</td><td>{w.failures}</td><td>{w.rollbacks}</td></tr>"
        for w in data.weeks
    )
    return (
        '<table id="weekly-table"><thead><tr><th>week from</th><th>failed deployments</th>'
        f"<th>rollbacks</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _all_runs(runs: list[Entry]) -> str:
    shown = runs[::-1][:TABLE_LIMIT]
    table = _runs_table(shown, "runs-table")
    if len(runs) > TABLE_LIMIT:
        table += (
            f'<p class="note">{len(runs) - TABLE_LIMIT} older runs are not listed; '
            "see them with <code>elb-upgrade history -n 0 --since …</code>.</p>"
        )
    return table


def _runs_table(runs: list[Entry], table_id: str) -> str:
    head = "".join(f"<th>{c}</th>" for c in RUN_COLUMNS)
    rows = []
    for entry in runs:
        cells = run_cells(entry)
        tds = "".join(
            f'<td class="msg">{_e(c)}</td>' if col == "message" else f"<td>{_e(c)}</td>"
            for col, c in zip(RUN_COLUMNS, cells, strict=True)
        )
        rows.append(f"<tr>{tds}</tr>")
    body = "".join(rows) or f'<tr><td colspan="{len(RUN_COLUMNS)}">no runs</td></tr>'
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _footer(data: ReportData) -> str:
    return (
        f'<footer><p class="note">Read from {_e(data.source)}. Written by elb-upgrade report; '
        "this file loads nothing from the network.</p></footer>"
    )


def _section(section_id: str, title: str, *body: str) -> str:
    return f'<section id="{section_id}"><h2>{_e(title)}</h2>{"".join(body)}</section>'


def _band(band: object) -> str:
    if band is None:
        return "<td>–</td>"
    return f'<td><span class="band {band}">{band}</span></td>'


def _day(when: Any) -> str:
    return str(iso_z(when)[:10])


def _e(text: str) -> str:
    return html.escape(printable(text))
