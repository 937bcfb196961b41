"""One log record per component state change (`ok → down`, `down → ok`, …).

Called once per completed refresh, after the cache lock is released; because refreshes are
single-flight, a transition is logged once however many requests observed it. Logging can
never change an answer: a handler, filter or formatter that raises is ignored here.
"""

from __future__ import annotations

import logging

from elb_upgrade.health.result import ComponentResult

logger = logging.getLogger("elb_upgrade.health")


def log_transition(name: str, previous: ComponentResult | None, current: ComponentResult) -> None:
    """Log `current` if its status differs from `previous` (None: first observation)."""
    if previous is not None and previous.status == current.status:
        return
    before = previous.status if previous else "unknown"
    level = logging.WARNING if current.status == "down" else logging.INFO
    detail = ""
    if current.status == "down":
        detail = f" ({current.error_class}: {current.error})"
    elif current.reason:
        detail = f" ({current.reason})"
    try:
        logger.log(
            level,
            "health: %s %s → %s%s",
            name,
            before,
            current.status,
            detail,
            extra={"component": name, "from_status": before, "to_status": current.status},
        )
    except BaseException:  # a broken log handler must not turn a readiness answer into a 500
        return
