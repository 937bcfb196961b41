"""Explain a failed readiness gate: the last body, and for each down component what to check."""

from __future__ import annotations

from elb_upgrade.gate import Verdict
from elb_upgrade.ui import Reporter


def explain_failure(ui: Reporter, verdict: Verdict) -> None:
    """Print why the gate failed, the last readiness body (capped) and per-component hints."""
    from elb_upgrade.health.hints import hint_for

    ui.error(verdict.reason)
    reply = verdict.reply
    if reply is not None and reply.status is not None:
        ui.info(f"last readiness answer (HTTP {reply.status}, first 5 KB):")
        for line in verdict.body_text.splitlines() or ["(empty body)"]:
            ui.detail(line)
    for component in verdict.down:
        cls = component.error_class or "no error_class"
        ui.error(
            f"{component.name}: {component.status} ({cls}) → {hint_for(component.error_class)}"
        )
