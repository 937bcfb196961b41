"""What one probe call found, and how a component is seen at one request.

A probe callable reports through these: return `None` (or `ok()`) when the dependency
answers, return `skipped(reason)` when it is not configured, return `degraded(reason)`
when it answers but says it is unwell, raise anything when it is down.

Whatever a probe hands back passes `settle` at the boundary: the status must be one of
`STATUSES`, every text is made safe by the one rule of `redact.safe_text`, class names are
capped, and any other return value is `down` with `error_class: "InvalidProbeResult"`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from elb_upgrade.health.redact import describe, safe_class, safe_text

Status = Literal["ok", "degraded", "skipped", "down"]
STATUSES: tuple[Status, ...] = ("ok", "degraded", "skipped", "down")
INVALID = "InvalidProbeResult"
EXPECTED = (
    "expected None or True (ok), False (down), or ok(), degraded(), skipped() or down() "
    "from elb_upgrade.health"
)


@dataclass(frozen=True)
class ComponentResult:
    """The outcome of one probe call; texts are already redacted and bounded."""

    status: Status
    reason: str | None = None
    error: str | None = None
    error_class: str | None = None
    kind: str | None = None  # shown as "type": e.g. which credential class was found

    def fields(self) -> dict[str, str]:
        """The status-specific keys of the component body, per the readiness contract."""
        extra = {"type": self.kind} if self.kind else {}
        if self.status == "down":
            return {"error": self.error or "", "error_class": self.error_class or "", **extra}
        if self.status in ("skipped", "degraded"):
            return {"reason": self.reason or "", **extra}
        return extra


def ok(*, kind: str | None = None) -> ComponentResult:
    """The dependency answered; `kind` names what answered (shown as `"type"`)."""
    return ComponentResult("ok", kind=safe_class(kind) if kind else None)


def skipped(reason: str) -> ComponentResult:
    """The dependency is not configured here (e.g. its endpoint variable is unset)."""
    return ComponentResult("skipped", reason=safe_text(reason))


def degraded(reason: str) -> ComponentResult:
    """The dependency answered but reports it is not fully well."""
    return ComponentResult("degraded", reason=safe_text(reason))


def down(error: str, error_class: str) -> ComponentResult:
    """The dependency failed; `error_class` is what an operator maps to a first action."""
    return ComponentResult("down", error=safe_text(error), error_class=safe_class(error_class))


def down_from(exc: BaseException) -> ComponentResult:
    """The down result for an exception: `str(exc)` made safe, class name as error_class."""
    return ComponentResult("down", error=describe(exc), error_class=safe_class(type_name(exc)))


def invalid(what: str) -> ComponentResult:
    """A probe handed back something that is not a result: down, never ok."""
    return ComponentResult("down", error=safe_text(f"{what}; {EXPECTED}"), error_class=INVALID)


def settle(outcome: object) -> ComponentResult:
    """What a check returned → a safe result: the one boundary every probe output passes.

    `None`/`True` are ok, `False` is down, a `ComponentResult` is normalised (known status,
    texts redacted and capped); anything else is down with `InvalidProbeResult`.
    """
    if outcome is None or outcome is True:
        return ok()
    if outcome is False:
        return down("check returned False", "ProbeFailed")
    if isinstance(outcome, ComponentResult):
        try:
            return normalise(outcome)
        except Exception:  # a subclass whose attributes raise is no result either
            return invalid(f"probe returned a broken {type_name(outcome)}")
    return invalid(f"probe returned {type_name(outcome)}")


def normalise(result: ComponentResult) -> ComponentResult:
    """A plain result with a known status and safe, bounded texts (idempotent)."""
    status = result.status
    if not isinstance(status, str) or status not in STATUSES:
        shown = safe_text(status, 40) if isinstance(status, str) else type_name(status)
        return invalid(f"probe returned a ComponentResult with status {shown!r}")
    texts = {"reason": result.reason, "error": result.error}
    texts |= {"error_class": result.error_class, "kind": result.kind}
    wrong = [k for k, v in texts.items() if v is not None and not isinstance(v, str)]
    if wrong:
        return invalid(f"ComponentResult.{wrong[0]} is {type_name(texts[wrong[0]])}, not str")
    kind = safe_class(result.kind) if result.kind else None
    if status == "down":
        error_class = safe_class(result.error_class or "ProbeFailed")
        return ComponentResult(
            "down", error=safe_text(result.error or ""), error_class=error_class, kind=kind
        )
    if status == "ok":
        return ComponentResult("ok", kind=kind)
    return ComponentResult(status, reason=safe_text(result.reason or ""), kind=kind)


def type_name(value: object) -> str:
    """The class name of `value`, capped (a class name is text a probe controls)."""
    try:
        name = type(value).__name__
    except Exception:
        name = "object"
    return safe_class(name if isinstance(name, str) else "object")


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
