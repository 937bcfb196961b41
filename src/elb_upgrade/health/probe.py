"""The probe protocol: a named sync or async callable with a `critical` flag and a timeout.

    @probe("db", timeout=2)
    def check_db() -> None:          # sync: runs in a worker thread
        engine.execute("select 1")   # raise → down; return → ok

    Probe("queue", check=ping_queue, critical=False)   # async callables work the same

A probe returns `None`/`True` (ok), a `ComponentResult` (`skipped(...)`, `degraded(...)`),
or `False` (down); it raises when the dependency is down.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Any

from elb_upgrade.health.result import ComponentResult, down, down_from, ok

DEFAULT_TIMEOUT = 3.0


@dataclass(frozen=True)
class Probe:
    """One dependency check. `critical=False` components never make readiness fail."""

    name: str
    check: Callable[[], Any]
    critical: bool = True
    timeout: float = DEFAULT_TIMEOUT


def probe(
    name: str | None = None, *, critical: bool = True, timeout: float = DEFAULT_TIMEOUT
) -> Callable[[Callable[[], Any]], Probe]:
    """Decorator turning a check function into a `Probe` (named after it by default)."""

    def wrap(check: Callable[[], Any]) -> Probe:
        return Probe(name or check.__name__, check, critical=critical, timeout=timeout)

    return wrap


def is_async(check: Callable[[], Any]) -> bool:
    """True for coroutine functions, including objects with an `async def __call__`."""
    call = getattr(check, "__call__", None)  # noqa: B004 - we need the bound __call__ itself
    return inspect.iscoroutinefunction(check) or inspect.iscoroutinefunction(call)


def as_result(outcome: object) -> ComponentResult:
    """Map what a check returned to a result."""
    if isinstance(outcome, ComponentResult):
        return outcome
    if outcome is False:
        return down("check returned False", "ProbeFailed")
    return ok()


class ProbeRunner:
    """Runs one probe under its own timeout and turns every outcome into a result.

    A timed-out sync check keeps its thread until its own I/O times out (threads cannot be
    cancelled). While it does, further runs report down at once instead of starting another
    thread, so a hung dependency holds at most one worker thread per probe.
    """

    def __init__(self, probe: Probe, executor: Callable[[], Executor]) -> None:
        self.probe = probe
        self._executor = executor
        self._async = is_async(probe.check)
        self._running: Future[Any] | None = None

    async def run(self) -> ComponentResult:
        """Call the probe once; never raises (except cancellation)."""
        timeout = self.probe.timeout
        if self._running is not None and not self._running.done():
            return down(f"previous check still running after {timeout:g}s", "TimeoutError")
        try:
            outcome = await asyncio.wait_for(self._call(), timeout)
        except TimeoutError:
            return down(f"no answer within {timeout:g}s", "TimeoutError")
        except Exception as exc:
            return down_from(exc)
        return as_result(outcome)

    async def _call(self) -> object:
        if self._async:
            return await self.probe.check()
        self._running = self._executor().submit(self.probe.check)
        outcome = await asyncio.wrap_future(self._running)
        # A sync callable may still hand back an awaitable (e.g. a lambda around a coroutine).
        return await outcome if inspect.isawaitable(outcome) else outcome
