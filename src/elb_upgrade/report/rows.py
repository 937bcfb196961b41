"""The report's tables as plain text cells, shared by the HTML and the Markdown renderer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from elb_upgrade.clock import human
from elb_upgrade.history.dora import (
    AppMetrics,
    Band,
    Metrics,
    fail_rate_band,
    frequency_band,
    lead_time_band,
    recovery_band,
)
from elb_upgrade.history.read import Entry

RUN_COLUMNS = ("when (UTC)", "app", "scope", "result", "elapsed", "tag", "who", "message")
LAST_RUNS_TITLE = "Last 20 runs, newest first"


@dataclass(frozen=True)
class MetricRow:
    metric: str
    current: str
    previous: str
    band: Band | None
    previous_band: Band | None


def metric_rows(app: AppMetrics) -> list[MetricRow]:
    """The five DORA metrics of one app: this period, the one before, and their bands."""
    rows = []
    for name, value, band in _METRICS:
        rows.append(
            MetricRow(
                name,
                value(app.current),
                value(app.previous),
                band(app.current),
                band(app.previous),
            )
        )
    return rows


def frequency_text(m: Metrics) -> str:
    if not m.deployments:
        return "no deployments"
    per_day = m.frequency
    rate = f"{per_day:.1f}/day" if per_day >= 1 else f"{per_day * 7:.1f}/week"
    return f"{rate} ({m.deployments} in {m.days:g} d)"


def lead_time_text(m: Metrics) -> str:
    if m.lead_time is None:
        missing = m.lead_time_missing
        return f"no data ({missing} without commit_ts)" if missing else "no data"
    text = f"{human(m.lead_time)} (median of {len(m.lead_times)})"
    return text + (f"; {m.lead_time_missing} left out" if m.lead_time_missing else "")


def fail_rate_text(m: Metrics) -> str:
    if m.fail_rate is None:
        return "no deployments"
    return f"{m.fail_rate:.1%} ({m.failed} of {m.deployments})"


def recovery_text(m: Metrics) -> str:
    open_ = f"{m.unrestored} not restored" if m.unrestored else ""
    if m.recovery_time is None:
        return open_ or "no failures"
    text = f"{human(m.recovery_time)} (median of {len(m.recoveries)})"
    return f"{text}; {open_}" if open_ else text


def rework_text(m: Metrics) -> str:
    if m.rework_rate is None:
        return "no deployments"
    return f"{m.rework_rate:.1%} ({m.rework} of {m.deployments})"


_METRICS: tuple[tuple[str, Callable[[Metrics], str], Callable[[Metrics], Band | None]], ...] = (
    (
        "deployment frequency",
        frequency_text,
        lambda m: frequency_band(m.frequency) if m.deployments else None,
    ),
    ("change lead time", lead_time_text, lambda m: lead_time_band(m.lead_time)),
    ("change fail rate", fail_rate_text, lambda m: fail_rate_band(m.fail_rate)),
    ("failed deployment recovery time", recovery_text, lambda m: recovery_band(m.recovery_time)),
    ("deployment rework rate", rework_text, lambda m: None),
)


def run_cells(entry: Entry) -> list[str]:
    """One run as table cells (RUN_COLUMNS), printable, the message whole."""
    elapsed = entry.get("elapsed_seconds")
    values = [
        str(entry.get("ts", "")),
        str(entry.get("app", "")),
        str(entry.get("scope", "")),
        str(entry.get("result", "")),
        human(float(elapsed)) if isinstance(elapsed, int | float) else "",
        str(entry.get("tag", "") or ""),
        str(entry.get("who", "") or ""),
        str(entry.get("message", "") or ""),
    ]
    return [printable(v) for v in values]


def printable(text: str) -> str:
    """Control characters (a newline, ESC, a bidi override) become spaces."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else " " for ch in text)
