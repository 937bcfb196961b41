"""What one probe call found, and how a component is seen at one request.

A probe callable reports through these: return `None` (or `ok()`) when the dependency
answers, return `skipped(reason)` when it is not configured, return `degraded(reason)`
when it answers but says it is unwell, raise anything when it is down.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from elb_upgrade.health.redact import describe, safe_text

Status = Literal["ok", "degraded", "skipped", "down"]


@dataclass(frozen=True)
class ComponentResult:
    """The outcome of one probe call; texts are already redacted and bounded."""

    status: Status
    reason: str | None = None
    error: str | None = None
    error_class: str | None = None

    def fields(self) -> dict[str, str]:
        """The status-specific keys of the component body, per the readiness contract."""
        if self.status == "down":
            return {"error": self.error or "", "error_class": self.error_class or ""}
        if self.status in ("skipped", "degraded"):
            return {"reason": self.reason or ""}
        return {}


def ok() -> ComponentResult:
    """The dependency answered."""
    return ComponentResult("ok")


def skipped(reason: str) -> ComponentResult:
    """The dependency is not configured here (e.g. its endpoint variable is unset)."""
    return ComponentResult("skipped", reason=safe_text(reason))


def degraded(reason: str) -> ComponentResult:
    """The dependency answered but reports it is not fully well."""
    return ComponentResult("degraded", reason=safe_text(reason))


def down(error: str, error_class: str) -> ComponentResult:
    """The dependency failed; `error_class` is what an operator maps to a first action."""
    return ComponentResult("down", error=safe_text(error), error_class=safe_text(error_class, 80))


def down_from(exc: BaseException) -> ComponentResult:
    """The down result for an exception: `str(exc)` made safe, class name as error_class."""
    return ComponentResult("down", error=describe(exc), error_class=type(exc).__name__)


@dataclass(frozen=True)
class ComponentView:
    """A component as one readiness response shows it: result plus its provenance."""

    result: ComponentResult
    critical: bool
    checked_at: str  # ISO 8601 UTC wall time of the probe call that produced `result`
    age_seconds: float  # how long ago that was, by the monotonic clock

    def body(self, *, details: bool) -> dict[str, object]:
        """The component's JSON object; only its status when details are hidden."""
        if not details:
            return {"status": self.result.status}
        return {
            "status": self.result.status,
            **self.result.fields(),
            "critical": self.critical,
            "checked_at": self.checked_at,
            "age_seconds": self.age_seconds,
        }
