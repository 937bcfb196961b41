"""SIGTERM as an exception, and a shield that defers signals while containers are restored.

SIGINT already raises KeyboardInterrupt; SIGTERM raises `Terminated`, so one `finally`
handles both and the history line is written exactly once. During a rollback's restore
a second Ctrl+C must not leave the app half-restored: `deferred()` holds the signal until
the restore finishes, then raises it.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator
from types import FrameType

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Terminated(BaseException):
    """The process got SIGTERM (or SIGHUP)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by signal {signum}")
        self.signum = signum


def _raise_terminated(signum: int, _frame: FrameType | None) -> None:
    raise Terminated(signum)


def install() -> None:
    """Turn SIGTERM and SIGHUP into `Terminated` for the rest of the process."""
    signal.signal(signal.SIGTERM, _raise_terminated)
    signal.signal(signal.SIGHUP, _raise_terminated)


def exit_code(exc: BaseException) -> int:
    if isinstance(exc, Terminated):
        return 128 + exc.signum
    return 130


@contextlib.contextmanager
def deferred(on_signal: Callable[[str], None]) -> Iterator[None]:
    """Hold SIGINT/SIGTERM for the block; raise the first one received after it ends."""
    pending: list[int] = []

    def hold(signum: int, _frame: FrameType | None) -> None:
        pending.append(signum)
        on_signal(
            "interrupt received: finishing the restore first so no container is left half-restored"
        )

    previous = {s: signal.signal(s, hold) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if pending:
        if pending[0] == signal.SIGINT:
            raise KeyboardInterrupt
        raise Terminated(pending[0])
