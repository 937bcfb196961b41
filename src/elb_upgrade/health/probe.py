"""The probe protocol: a named sync or async callable with a `critical` flag and a timeout.

    @probe("db", timeout=2)
    def check_db() -> None:          # sync: runs in a worker thread
        engine.execute("select 1")   # raise → down; return → ok

    Probe("queue", check=ping_queue, critical=False)   # async callables work the same

A probe returns `None`/`True` (ok), a `ComponentResult` (`skipped(...)`, `degraded(...)`),
or `False` (down); it raises when the dependency is down. Anything else it returns is
`down` with `error_class: "InvalidProbeResult"`; anything it raises, `BaseException`s
included, is `down` with the class name (and cached like any other result).
"""

from __future__ import annotations

import asyncio
import inspect
import math
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from elb_upgrade.health.result import ComponentResult, down, down_from, settle

DEFAULT_TIMEOUT = 3.0
# A client's own I/O timeout is this much past its probe's: the probe's deadline is then
# always what ends a hung call (one `TimeoutError`, "no answer within Ns", whatever the
# load), and the client frees the abandoned worker thread shortly after.
IO_GRACE = 1.0
T = TypeVar("T")


def seconds(value: object, what: str) -> float:
    """`value` as a finite number of seconds > 0, or a one-line error naming the fix."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{what} must be a number of seconds, got {type(value).__name__}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be a finite number of seconds > 0, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Probe:
    """One dependency check. `critical=False` components never make readiness fail.

    `ok_ttl` / `down_ttl` override the cache policy's TTLs for this probe only (None: the
    policy's); `timeout` must be a finite number of seconds > 0.
    """

    name: str
    check: Callable[[], Any]
    critical: bool = True
    timeout: float = DEFAULT_TIMEOUT
    ok_ttl: float | None = None
    down_ttl: float | None = None

    def __post_init__(self) -> None:
        if not callable(self.check):
            raise TypeError(f"probe {self.name!r}: check must be callable")
        seconds(self.timeout, f"probe {self.name!r}: timeout")
        for field in ("ok_ttl", "down_ttl"):
            if getattr(self, field) is not None:
                seconds(getattr(self, field), f"probe {self.name!r}: {field}")


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
    """Map what a check returned to a result (see `result.settle`)."""
    return settle(outcome)


@dataclass(frozen=True)
class Pending:
    """A sync check handed back an awaitable: it is awaited on the loop."""

    awaitable: Any


def call_sync(check: Callable[[], Any]) -> ComponentResult | Pending:
    """Run a sync check in its worker thread and settle it there.

    Every `BaseException` is caught here: a probe's `SystemExit`, `KeyboardInterrupt` or
    `StopIteration` never leaves the worker thread (a `StopIteration` cannot even cross
    into an asyncio future), and the redaction of a huge error text runs off the loop.
    """
    try:
        outcome = check()
    except BaseException as exc:  # every failure of a probe is a result
        return down_from(exc)
    if inspect.isawaitable(outcome):
        return Pending(outcome)
    return settle(outcome)


async def call_async(make: Callable[[], Any]) -> ComponentResult:
    """Await a check on the loop; whatever it raises is a result, unless we are cancelled.

    A large result or an exception whose text may be large is settled (redacted) in the
    redaction thread, so the event loop never does more than a constant amount of work.
    """
    try:
        outcome = await make()
    except asyncio.CancelledError as exc:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # a real cancellation (the timeout, or the app shutting down)
        return await _settle_off_loop(down_from, exc)  # the probe's own CancelledError
    except BaseException as exc:  # SystemExit, GeneratorExit, custom ones
        return await _settle_off_loop(down_from, exc)
    if isinstance(outcome, ComponentResult) and _large(outcome):
        return await _settle_off_loop(settle, outcome)
    return settle(outcome)


LARGE_TEXT = 2048  # above this a text is redacted in the redaction thread
_redactor: list[ThreadPoolExecutor] = []
_redactor_lock = threading.Lock()


async def _settle_off_loop(
    settle_one: Callable[[Any], ComponentResult], value: Any
) -> ComponentResult:
    if isinstance(value, BaseException) and not _large_exception(value):
        return settle_one(value)
    with _redactor_lock:
        if not _redactor:  # one thread: redaction is bounded, so its queue drains fast
            _redactor.append(ThreadPoolExecutor(1, thread_name_prefix="elb-health-redact"))
    return await asyncio.wrap_future(_redactor[0].submit(settle_one, value))


def _large(result: ComponentResult) -> bool:
    fields = (result.reason, result.error, result.error_class, result.kind)
    return any(not isinstance(f, str | None) or len(f or "") > LARGE_TEXT for f in fields)


def _large_exception(exc: BaseException) -> bool:
    """True when `str(exc)` may be long or slow: a custom `__str__`, or long arguments."""
    if type(exc).__str__ is not BaseException.__str__:
        return True
    return sum(len(a) if isinstance(a, str) else LARGE_TEXT for a in exc.args) > LARGE_TEXT


class ProbeRunner:
    """Runs one probe under its own timeout and turns every outcome into a result.

    A timed-out check is abandoned, not waited for: a sync one keeps its thread until its
    own I/O times out (threads cannot be cancelled), an async one that ignores cancellation
    keeps running as an orphan task. While either runs, further runs report down at once
    instead of starting another, so a hung dependency holds at most one thread or task.
    """

    def __init__(self, probe: Probe, executor: Callable[[], Executor]) -> None:
        self.probe = probe
        self._executor = executor
        self._async = is_async(probe.check)
        self._running: Future[Any] | asyncio.Future[Any] | None = None

    async def run(self) -> ComponentResult:
        """Call the probe once; never raises (except a real cancellation of the caller)."""
        timeout = self.probe.timeout
        if self._running is not None and not self._running.done():
            return down(f"previous check still running after {timeout:g}s", "TimeoutError")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if self._async:
            return await self._bounded(self._start(self.probe.check), deadline)
        try:
            self._running = self._executor().submit(call_sync, self.probe.check)
        except RuntimeError as exc:  # the pool was shut down (Readiness.close())
            return down_from(exc)
        settled = await self._bounded(asyncio.wrap_future(self._running), deadline)
        if isinstance(settled, Pending):  # a sync callable returned a coroutine
            return await self._bounded(self._start(lambda: settled.awaitable), deadline)
        return settled

    def _start(self, make: Callable[[], Any]) -> asyncio.Task[ComponentResult]:
        task = asyncio.create_task(call_async(make))
        self._running = task
        return task

    async def _bounded(self, future: asyncio.Future[T], deadline: float) -> T | ComponentResult:
        """The future's result by `deadline`, else a TimeoutError result (never waits more)."""
        loop = asyncio.get_running_loop()
        try:
            done, _ = await asyncio.wait({future}, timeout=max(0.0, deadline - loop.time()))
        except asyncio.CancelledError:
            future.cancel()  # the caller went away for real: take the probe with it
            raise
        if not done:
            future.cancel()  # an async check may ignore this: it is abandoned, not awaited
            future.add_done_callback(_consume)
            return down(f"no answer within {self.probe.timeout:g}s", "TimeoutError")
        if future.cancelled():
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise asyncio.CancelledError  # cancelled together with the app
            return down("the check was cancelled", "CancelledError")
        return future.result()


def _consume(future: asyncio.Future[Any]) -> None:
    """Retrieve an abandoned future's outcome so asyncio does not log it as lost."""
    if not future.cancelled():
        future.exception()
