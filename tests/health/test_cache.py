"""Cache rules with an injected clock: TTL by status, single-flight, SWR, transitions, reset.

No test here sleeps for a TTL: the clock is a FakeClock moved by hand.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from elb_upgrade.health import CachePolicy, ComponentResult, ProbeCache, down, ok, skipped
from fakes.clock import FakeClock


class Counting:
    """An async refresh that counts calls and returns whatever `result` is set to."""

    def __init__(self, result: ComponentResult | None = None) -> None:
        self.calls = 0
        self.result = result or ok()
        self.gate: asyncio.Event | None = None

    async def __call__(self) -> ComponentResult:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        return self.result


def get(cache: ProbeCache, refresh: Counting, name: str = "dep") -> tuple[str, float]:
    entry, age = asyncio.run(cache.get(name, refresh))
    return entry.result.status, age


@pytest.mark.parametrize(
    ("result", "ttl"), [(ok(), 15.0), (down("x", "E"), 3.0), (skipped("unset"), 3.0)]
)
def test_result_is_reused_until_its_ttl_then_probed_again(
    clock: FakeClock, result: ComponentResult, ttl: float
) -> None:
    cache, refresh = ProbeCache(clock=clock), Counting(result)
    get(cache, refresh)
    clock.advance(ttl - 0.01)
    get(cache, refresh)
    assert refresh.calls == 1
    clock.advance(0.01)
    get(cache, refresh)
    assert refresh.calls == 2


def test_ttls_are_configurable(clock: FakeClock) -> None:
    cache, refresh = ProbeCache(CachePolicy(ok_ttl=2, down_ttl=1), clock=clock), Counting()
    get(cache, refresh)
    clock.advance(2)
    get(cache, refresh)
    assert refresh.calls == 2


def test_age_and_checked_at_come_from_the_injected_clocks(clock: FakeClock) -> None:
    cache = ProbeCache(clock=clock, wall_clock=lambda: 1_779_506_568.25)
    entry, age = asyncio.run(cache.get("dep", Counting()))
    assert entry.checked_at == "2026-05-23T03:22:48.250Z" and age == 0
    clock.advance(4.5)
    assert get(cache, Counting()) == ("ok", 4.5)


def test_single_flight_many_concurrent_callers_one_probe(clock: FakeClock) -> None:
    cache, refresh = ProbeCache(clock=clock), Counting()

    async def burst() -> list[str]:
        refresh.gate = asyncio.Event()
        waiters = [asyncio.create_task(cache.get("dep", refresh)) for _ in range(500)]
        await asyncio.sleep(0)  # let every caller arrive while the probe is in flight
        refresh.gate.set()
        return [entry.result.status for entry, _ in await asyncio.gather(*waiters)]

    assert asyncio.run(burst()) == ["ok"] * 500
    assert refresh.calls == 1


def test_a_caller_that_goes_away_does_not_cancel_the_shared_refresh(clock: FakeClock) -> None:
    cache, refresh = ProbeCache(clock=clock), Counting()

    async def scenario() -> str:
        refresh.gate = asyncio.Event()
        quitter = asyncio.create_task(cache.get("dep", refresh))
        stayer = asyncio.create_task(cache.get("dep", refresh))
        await asyncio.sleep(0)
        quitter.cancel()
        refresh.gate.set()
        entry, _ = await stayer
        return entry.result.status

    assert asyncio.run(scenario()) == "ok" and refresh.calls == 1


def test_transition_is_logged_once_per_change(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="elb_upgrade.health")
    cache, refresh = ProbeCache(clock=clock), Counting()

    async def burst() -> None:
        await asyncio.gather(*(cache.get("dep", refresh) for _ in range(50)))

    asyncio.run(burst())
    clock.advance(15)
    refresh.result = down("refused", "ConnectionError")
    asyncio.run(burst())
    clock.advance(3)
    asyncio.run(burst())  # still down: nothing new to say
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "health: dep unknown → ok",
        "health: dep ok → down (ConnectionError: refused)",
    ]
    assert caplog.records[1].levelno == logging.WARNING


def test_transition_is_logged_outside_the_cache_lock(clock: FakeClock) -> None:
    cache = ProbeCache(clock=clock)
    held: list[bool] = []

    class LockProbe(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            acquired = cache._lock.acquire(blocking=False)
            held.append(not acquired)
            if acquired:
                cache._lock.release()

    handler = LockProbe()
    logger = logging.getLogger("elb_upgrade.health")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        get(cache, Counting())
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    assert held == [False]


def test_reset_forgets_results_and_drops_inflight_refreshes(clock: FakeClock) -> None:
    cache, refresh = ProbeCache(clock=clock), Counting()
    get(cache, refresh)
    cache.reset()
    get(cache, refresh)
    assert refresh.calls == 2

    async def reset_midway() -> None:
        refresh.gate = asyncio.Event()
        task = asyncio.create_task(cache.get("late", refresh))
        await asyncio.sleep(0)
        cache.reset()
        refresh.gate.set()
        await task

    asyncio.run(reset_midway())
    refresh.gate = None
    get(cache, refresh, "late")  # the pre-reset result was not stored: probed again
    assert refresh.calls == 4


def swr_cache(clock: FakeClock) -> ProbeCache:
    return ProbeCache(CachePolicy(stale_while_revalidate=True, max_age=60), clock=clock)


def test_swr_serves_expired_entry_at_once_with_its_age_and_refreshes_once(
    clock: FakeClock,
) -> None:
    cache, refresh = swr_cache(clock), Counting()
    get(cache, refresh)
    clock.advance(20)
    refresh.result = down("hung", "TimeoutError")

    async def scenario() -> tuple[list[tuple[str, float]], str]:
        refresh.gate = asyncio.Event()  # the refresh hangs until released
        served = [await cache.get("dep", refresh) for _ in range(100)]
        refresh.gate.set()
        await asyncio.sleep(0.01)
        after, _ = await cache.get("dep", refresh)
        return [(e.result.status, age) for e, age in served], after.result.status

    served, after = asyncio.run(scenario())
    assert served == [("ok", 20.0)] * 100
    assert refresh.calls == 2 and after == "down"


def test_swr_does_not_trust_entries_past_max_age(clock: FakeClock) -> None:
    cache, refresh = swr_cache(clock), Counting()
    get(cache, refresh)
    clock.advance(61)
    refresh.result = down("gone", "ConnectionError")
    assert get(cache, refresh) == ("down", 0.0)  # waited for the refresh


def test_default_policy_matches_the_design() -> None:
    policy = CachePolicy()
    assert (policy.ok_ttl, policy.down_ttl, policy.stale_while_revalidate) == (15, 3, False)
