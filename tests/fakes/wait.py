"""The one wait for an outside event: poll until true, fail with a message after a guard.

    wait_until(lambda: lock.exists(), what="the first run took the lock")

The guard is against a hang, never a speed check: it is generous (60 s unless a test
knows its event takes longer) and a test asserts what happened, not how soon.
"""

from __future__ import annotations

import time
from collections.abc import Callable

GUARD = 60.0


def wait_until(
    check: Callable[[], object], seconds: float = GUARD, what: str = "", every: float = 0.02
) -> None:
    """Poll `check` until it is true; AssertionError naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {seconds:g}s: {what or check}")
        time.sleep(every)
