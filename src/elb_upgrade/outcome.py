"""What an operator asked for (`Options`) and how a run ended (`Outcome`): plain data.

Kept apart from the envelope so the CLI and the runner can build and read them without
importing the machinery (a run that finds the lock held should exit in milliseconds).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from elb_upgrade.gate import ComponentDown


@dataclass(frozen=True)
class Options:
    """The operator's choices for one run, already validated."""

    scope: str
    yes: bool = False
    dry_run: bool = False
    allow_dirty: bool = False
    pull: bool = False
    branch: str | None = None
    tag: str | None = None
    health_timeout: float = 180.0
    health_interval: float = 5.0
    rollback_timeout: float | None = None
    auto_rollback: bool = True
    skip_parity_check: bool = False
    lock_wait: float = 0.0
    logs: bool = False
    config_arg: str | None = None


@dataclass
class Outcome:
    """How a run ended; `result` is a DESIGN.md result value (or `dry_run`)."""

    result: str
    message: str = ""
    tag: str = ""
    head_sha: str = ""
    revision: str = ""
    previous_revision: str = ""
    deployed: dict[str, str] = field(default_factory=dict)
    down: list[ComponentDown] = field(default_factory=list)


def results_exit_code(result: str) -> int:
    """0 for the happy endings, 3 when a rollback failed (a human must look), else 1."""
    return {"success": 0, "rollback_success": 0, "dry_run": 0, "rollback_failed": 3}.get(result, 1)
