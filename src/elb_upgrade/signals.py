"""SIGTERM as an exception, and a shield that defers signals while containers are restored.

SIGINT raises KeyboardInterrupt (installed even when inherited ignored); SIGTERM raises
`Terminated`, so one `finally` handles both and the history line is written exactly once.
During a rollback's restore a second Ctrl+C must not leave the app half-restored:
`deferred()` holds the signal until the restore finishes, then raises it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
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
    """Ctrl+C raises KeyboardInterrupt and SIGTERM/SIGHUP raise `Terminated` from here on.

    SIGINT is installed explicitly too: a run started with `&` from a non-interactive
    shell inherits SIGINT ignored, and Python then leaves it ignored, so `kill -INT`
    would not stop it.
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_terminated)
    signal.signal(signal.SIGHUP, _raise_terminated)


def exit_code(exc: BaseException) -> int:
    if isinstance(exc, Terminated):
        return 128 + exc.signum
    return 130


HELD = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def deferred(on_signal: Callable[[str], None]) -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP for the block; raise the first one received after it ends.

    Every further signal is held too (a second Ctrl+C must not cut a restore in half);
    SIGQUIT (Ctrl+\\) and `kill -9` still end the process for an operator who must.
    """
    pending: list[int] = []

    def hold(signum: int, _frame: FrameType | None) -> None:
        pending.append(signum)
        on_signal(
            "interrupt received: finishing first so no container is left half-updated "
            "(to abandon it anyway: Ctrl+\\ or kill -9)"
        )

    with _handled_by(hold):
        yield
    if pending:
        raise_for(pending[0])


@contextlib.contextmanager
def postponed() -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP for a short block that must not be cut (an import: a
    KeyboardInterrupt inside importlib can leave a module lock broken and the run hung);
    raise the first one received after the block."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only
        return
    pending: list[int] = []
    with _handled_by(lambda signum, _frame: pending.append(signum)):
        yield
    if pending:
        raise_for(pending[0])


@contextlib.contextmanager
def ignored() -> Iterator[list[int]]:
    """Hold and drop signals for the block: the run is already ending and recording why."""
    pending: list[int] = []
    with _handled_by(lambda signum, _frame: pending.append(signum)):
        yield pending


def raise_for(signum: int) -> None:
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


@contextlib.contextmanager
def _handled_by(handler: Callable[[int, FrameType | None], None]) -> Iterator[None]:
    previous = {s: signal.signal(s, handler) for s in HELD}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
