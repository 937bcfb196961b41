"""Per-component result cache: TTL by status, single-flight refresh, stale-while-revalidate.

Why cache at all: the readiness endpoint is unauthenticated and polled by load balancers,
the platform and the deploy gate. Without a cache every request becomes a call to Redis and
Storage, so a request flood (or a retry storm) is amplified onto the dependencies exactly
when they struggle. `ok` is cached long (15 s), `down`/`skipped` short (3 s) so that a
recovery becomes visible quickly. Single-flight: while a refresh runs, every other caller
waits for that same refresh instead of starting its own.

Stale-while-revalidate (opt-in): an expired entry younger than `max_age` is served at once,
with its age, while one background refresh runs; so the endpoint answers within a short
platform probe timeout even while a dependency hangs. Past `max_age` a result is no longer
trusted and callers wait for the refresh (bounded by the probe's timeout).

The state is guarded by a threading lock so a cache shared across event loops (test
clients, several servers in one process) stays consistent; an in-flight refresh is shared
only within the event loop that started it.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from elb_upgrade.health.result import ComponentResult, down_from
from elb_upgrade.health.transitions import log_transition

Clock = Callable[[], float]
Refresh = Callable[[], Awaitable[ComponentResult]]


@dataclass(frozen=True)
class CachePolicy:
    """How long results are trusted, in seconds."""

    ok_ttl: float = 15.0
    down_ttl: float = 3.0  # also skipped and degraded: recovery should show up fast
    stale_while_revalidate: bool = False
    max_age: float = 60.0  # stale entries older than this are never served

    def __post_init__(self) -> None:
        for name in ("ok_ttl", "down_ttl", "max_age"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"CachePolicy.{name} must be a number of seconds")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"CachePolicy.{name} must be a finite number >= 0, got {value!r}")

    def with_ttls(self, ok_ttl: float | None, down_ttl: float | None) -> CachePolicy:
        """This policy with the TTLs that are given (not None) replaced."""
        if ok_ttl is None and down_ttl is None:
            return self
        return replace(
            self,
            ok_ttl=self.ok_ttl if ok_ttl is None else ok_ttl,
            down_ttl=self.down_ttl if down_ttl is None else down_ttl,
        )

    def ttl(self, result: ComponentResult) -> float:
        return self.ok_ttl if result.status == "ok" else self.down_ttl


@dataclass(frozen=True)
class Entry:
    """A cached result: when it was produced (monotonic, for age) and as wall time."""

    result: ComponentResult
    at: float
    checked_at: str


def iso_utc(epoch: float) -> str:
    """Wall-clock seconds → `2026-05-23T03:22:48.123Z`."""
    stamp = datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


class ProbeCache:
    """Results per component name, refreshed at most once at a time per component."""

    def __init__(
        self,
        policy: CachePolicy | None = None,
        *,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
    ) -> None:
        self.policy = policy or CachePolicy()
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._entries: dict[str, Entry] = {}
        self._policies: dict[str, CachePolicy] = {}  # per-component TTL overrides
        self._inflight: dict[str, asyncio.Task[Entry]] = {}
        self._generation = 0  # bumped by reset(): refreshes started before it are dropped

    def override(self, name: str, ok_ttl: float | None, down_ttl: float | None) -> None:
        """Use other TTLs for component `name` (None keeps the policy's)."""
        policy = self.policy.with_ttls(ok_ttl, down_ttl)
        with self._lock:
            if policy is self.policy:
                self._policies.pop(name, None)
            else:
                self._policies[name] = policy

    def policy_for(self, name: str) -> CachePolicy:
        return self._policies.get(name, self.policy)

    async def get(self, name: str, refresh: Refresh) -> tuple[Entry, float]:
        """The entry to show for `name` and its age in seconds, probing only when needed."""
        now = self._clock()
        policy = self.policy_for(name)
        with self._lock:
            entry = self._entries.get(name)
            usable = entry is not None and self._usable(policy, entry, now)
            fresh = entry is not None and now - entry.at < policy.ttl(entry.result)
            task = None if fresh else self._task_for(name, refresh)
        if entry is not None and usable:
            return entry, max(0.0, now - entry.at)  # fresh, or stale while `task` refreshes
        assert task is not None
        # shield: a caller that goes away must not cancel the refresh others wait for.
        entry = await asyncio.shield(task)
        return entry, max(0.0, self._clock() - entry.at)

    def peek(self, name: str) -> tuple[Entry, float] | None:
        """The entry for `name` and its age if it is fresh, without waiting or probing.

        The hot path of a warm cache: no lock (entries are immutable and replaced by one
        dict store, which is atomic), no task, no await.
        """
        entry = self._entries.get(name)
        if entry is None:
            return None
        age = self._clock() - entry.at
        return (entry, max(0.0, age)) if age < self.policy_for(name).ttl(entry.result) else None

    def reset(self) -> None:
        """Forget every result and in-flight refresh (for tests and after reconfiguration)."""
        with self._lock:
            self._entries.clear()
            self._inflight.clear()
            self._generation += 1

    @staticmethod
    def _usable(policy: CachePolicy, entry: Entry, now: float) -> bool:
        age = now - entry.at
        if age < policy.ttl(entry.result):
            return True
        return policy.stale_while_revalidate and age < policy.max_age

    def _task_for(self, name: str, refresh: Refresh) -> asyncio.Task[Entry]:
        """The running refresh for `name` in this loop, or a new one (lock held)."""
        loop = asyncio.get_running_loop()
        task = self._inflight.get(name)
        if task is None or task.done() or task.get_loop() is not loop:
            task = loop.create_task(self._refresh(name, refresh, self._generation))
            self._inflight[name] = task
        return task

    async def _refresh(self, name: str, refresh: Refresh, generation: int) -> Entry:
        try:
            result = await refresh()
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the app is shutting down: nothing to cache
            result = down_from(exc)
        except BaseException as exc:  # refreshes should not raise; if one does, it is "down"
            result = down_from(exc)
        entry = Entry(result, self._clock(), iso_utc(self._wall_clock()))
        with self._lock:
            previous = self._entries.get(name)
            if generation == self._generation:
                self._entries[name] = entry
            if self._inflight.get(name) is asyncio.current_task():
                del self._inflight[name]
        # Logged after the lock is released: a slow log handler must not block readers.
        if generation == self._generation:
            log_transition(name, previous.result if previous else None, result)
        return entry
