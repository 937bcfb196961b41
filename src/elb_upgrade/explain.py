"""Explain how a run left the app: a failed gate, and containers a run could not finish.

When a restore fails (the engine or the registry went away) or a run is interrupted
while it changes containers, the operator needs two things at once: what each container
runs *now* (asked of the platform when it still answers) and the exact commands that
finish the job by hand (each platform's `manual_restore_commands`).
"""

from __future__ import annotations

import shlex
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from elb_upgrade.gate import Verdict
from elb_upgrade.platforms.base import Platform
from elb_upgrade.ui import Reporter

CURRENT_TIMEOUT = 10.0


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


@dataclass(frozen=True)
class Target:
    """The images a run was putting in place, and what to call that (for the report)."""

    images: Mapping[str, str]
    done: str  # "restored" / "deployed"
    source: str  # "snapshot" / "new"


def container_states(ui: Reporter, platform: Platform, target: Target) -> str:
    """Print what each container runs now against `target`; return a one-line summary."""
    actual, why = running_now(platform)
    if actual is None:
        ui.warn(f"cannot read what runs now ({why}); this run was setting:")
        for name, image in target.images.items():
            ui.detail(f"{name}: {image} (unknown whether {target.done})")
        return f"running now: unknown ({why})"
    ui.info("what each container runs now:")
    parts = []
    for name in [*target.images, *sorted(set(actual) - set(target.images))]:
        have, want = actual.get(name, "(no container)"), target.images.get(name)
        if want is None:
            note = ""
        elif have == want:
            note = f" ({target.done})"
        else:
            note = f" (NOT {target.done}; {target.source}: {want})"
        ui.detail(f"{name}: {have}{note}")
        parts.append(f"{name}={have}")
    return "running now: " + ", ".join(parts)


def explain_stranded(
    ui: Reporter,
    platform: Platform,
    target: Target,
    config_arg: str | None,
    *,
    commands: bool = True,
) -> str:
    """After a failed restore: each container's image now, then the commands to finish."""
    summary = container_states(ui, platform, target)
    if commands:
        retry = "elb-upgrade rollback --yes"
        if config_arg:
            retry += f" --config {shlex.quote(config_arg)}"
        ui.info("when the platform answers again, finish the restore (the snapshot is kept):")
        ui.detail(retry)
        ui.info("or by hand, without elb-upgrade:")
        for command in platform.manual_restore_commands(dict(target.images)):
            ui.detail(command)
    return summary


def running_now(
    platform: Platform, timeout: float = CURRENT_TIMEOUT
) -> tuple[dict[str, str] | None, str]:
    """Container → image as the platform reports it, or None and why it could not say.

    Asked while the run is ending, when signals are held: a platform that hangs must not
    hold the operator's terminal, so the answer is waited for `timeout` seconds at most.
    """
    answer: list[tuple[dict[str, str] | None, str]] = []

    def ask() -> None:
        try:
            state = platform.current()
        except Exception as exc:  # the platform may be the very thing that is down
            answer.append((None, str(getattr(exc, "message", "") or exc)[:200]))
        else:
            answer.append(({c.name: c.image for c in state.images}, ""))

    worker = threading.Thread(target=ask, name="elb-upgrade-current", daemon=True)
    worker.start()
    worker.join(timeout)
    return answer[0] if answer else (None, f"no answer within {timeout:g}s")
