"""Component views → the readiness response (status code and body). Pure: no I/O, no clock.

The body is the contract the `elb-upgrade` gate parses (docs/health.md, "The response contract"):

    200 {"status": "ready", "version", "revision", "components", "retryable": false,
         "retry_after_seconds": null}
    503 {"status": "not_ready", ..., "retryable": true, "retry_after_seconds": 30}

Only a *critical* component that is `down` makes the response 503; a non-critical one is
reported and ignored, and `degraded` / `skipped` never fail readiness.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from elb_upgrade.health.result import ComponentView

READY_KEYS = ("status", "version", "revision", "components", "retryable", "retry_after_seconds")
LIVENESS_KEYS = ("status", "version", "revision")


@dataclass(frozen=True)
class ReadinessReport:
    """One readiness answer: the HTTP status code and the JSON body."""

    status_code: int
    body: dict[str, Any]

    @property
    def ready(self) -> bool:
        return self.status_code == 200


def is_ready(components: Mapping[str, ComponentView]) -> bool:
    """True unless some critical component is down."""
    return not any(c.critical and c.result.status == "down" for c in components.values())


def aggregate(
    components: Mapping[str, ComponentView],
    *,
    version: str,
    revision: str,
    details: bool = True,
    retry_after_seconds: int = 30,
) -> ReadinessReport:
    """Build the 200/503 readiness response from the components seen for one request.

    `details=False` keeps each component's status only (for anonymous callers); the
    status code never depends on it.
    """
    ready = is_ready(components)
    body: dict[str, Any] = {
        "status": "ready" if ready else "not_ready",
        "version": version,
        "revision": revision,
        "components": {name: view.body(details=details) for name, view in components.items()},
        "retryable": not ready,
        "retry_after_seconds": None if ready else retry_after_seconds,
    }
    return ReadinessReport(200 if ready else 503, body)


def liveness(*, version: str, revision: str) -> dict[str, str]:
    """The liveness body: the process is up. It never calls a dependency."""
    return {"status": "ok", "version": version, "revision": revision}
