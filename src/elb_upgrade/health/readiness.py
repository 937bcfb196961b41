"""`Readiness`: the probes of one app, run concurrently through the cache, aggregated.

    readiness = Readiness(version="1.4.2", probes=[redis_probe(), azure_storage_probe()])
    report = await readiness.check()        # ReadinessReport(status_code, body)

Every probe runs under its own timeout and all of them run at once, so one hung
dependency costs one timeout, not the sum of them.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Executor, ThreadPoolExecutor

from elb_upgrade.health.aggregate import ReadinessReport, aggregate, liveness
from elb_upgrade.health.cache import CachePolicy, Clock, Entry, ProbeCache
from elb_upgrade.health.probe import Probe, ProbeRunner
from elb_upgrade.health.result import ComponentView

REVISION_ENV = "CONTAINER_APP_REVISION"


def current_revision() -> str:
    """The revision the platform says is running (Azure Container Apps sets the variable)."""
    return os.environ.get(REVISION_ENV) or "local"


class Readiness:
    """Liveness and readiness answers for one app."""

    def __init__(
        self,
        *,
        version: str,
        probes: Sequence[Probe] = (),
        revision: str | None = None,
        cache: CachePolicy | None = None,
        retry_after_seconds: int = 30,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
    ) -> None:
        names = [p.name for p in probes]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"probe names must be unique; repeated: {', '.join(duplicates)}")
        self.version = version
        self.revision = revision or current_revision()
        self.retry_after_seconds = retry_after_seconds
        self.cache = ProbeCache(cache, clock=clock, wall_clock=wall_clock)
        self._runners = [ProbeRunner(p, self._executor) for p in probes]
        for p in probes:
            self.cache.override(p.name, p.ok_ttl, p.down_ttl)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    @property
    def probes(self) -> list[Probe]:
        return [r.probe for r in self._runners]

    async def check(self, *, details: bool = True) -> ReadinessReport:
        """Run (or reuse cached) probes concurrently and build the 200/503 response."""
        views = self._fresh_views()
        if views is None:
            views = await asyncio.gather(*(self._view(r) for r in self._runners))
        return aggregate(
            {r.probe.name: v for r, v in zip(self._runners, views, strict=True)},
            version=self.version,
            revision=self.revision,
            details=details,
            retry_after_seconds=self.retry_after_seconds,
        )

    def liveness(self) -> dict[str, str]:
        """The liveness body; calls no dependency."""
        return liveness(version=self.version, revision=self.revision)

    def reset(self) -> None:
        """Forget cached results (test hook; also useful after a config reload)."""
        self.cache.reset()

    def close(self) -> None:
        """Release the probe threads; a hung sync probe's thread is not waited for."""
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None

    def _fresh_views(self) -> list[ComponentView] | None:
        # A warm cache answers without creating a task per probe: that is most requests,
        # and it keeps /ready as cheap as a constant endpoint (see bench/bench_health.py).
        views = []
        for runner in self._runners:
            cached = self.cache.peek(runner.probe.name)
            if cached is None:
                return None
            views.append(_view_of(runner, *cached))
        return views

    async def _view(self, runner: ProbeRunner) -> ComponentView:
        return _view_of(runner, *await self.cache.get(runner.probe.name, runner.run))

    def _executor(self) -> Executor:
        # Sync probes run here rather than in the loop's default pool, which the app shares:
        # a hung dependency then never starves the app's own to_thread() work.
        with self._pool_lock:
            if self._pool is None:
                workers = max(4, len(self._runners))
                self._pool = ThreadPoolExecutor(workers, thread_name_prefix="elb-health-probe")
            return self._pool


def _view_of(runner: ProbeRunner, entry: Entry, age: float) -> ComponentView:
    return ComponentView(entry.result, runner.probe.critical, entry.checked_at, round(age, 3))
