"""redis_probe against a real redis-server: ok, skipped, down, hung; PINGs counted at Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI

from elb_upgrade.health import ComponentResult, Probe, Readiness, health_router, redis_probe
from fakes import services


def test_ok_when_redis_answers_ping(
    run_probe: Callable[[Probe], ComponentResult], redis_service: services.RedisService
) -> None:
    assert run_probe(redis_probe(redis_service.url)).status == "ok"


def test_url_comes_from_redis_url_env(
    run_probe: Callable[[Probe], ComponentResult],
    redis_service: services.RedisService,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_service.url)
    assert run_probe(redis_probe()).status == "ok"


def test_skipped_when_no_url(run_probe: Callable[[Probe], ComponentResult]) -> None:
    result = run_probe(redis_probe())
    assert (result.status, result.reason) == ("skipped", "REDIS_URL not set")


def test_down_on_closed_port_without_leaking_the_password(
    run_probe: Callable[[Probe], ComponentResult],
) -> None:
    port = services.closed_port()
    result = run_probe(redis_probe(f"redis://:hunter2@127.0.0.1:{port}/0", timeout=1))
    assert (result.status, result.error_class) == ("down", "ConnectionError")
    assert str(port) in (result.error or "") and "hunter2" not in str(result)


def test_hung_redis_is_a_timeout_within_the_probe_timeout(
    run_probe: Callable[[Probe], ComponentResult], hung_port: int
) -> None:
    result = run_probe(redis_probe(f"redis://127.0.0.1:{hung_port}/0", timeout=0.3))
    # the peer never answers: only the probe's own timeout can end the call
    assert (result.status, result.error_class) == ("down", "TimeoutError")


def test_500_concurrent_requests_on_a_cold_cache_send_one_ping_to_redis(
    redis_service: services.RedisService, redis_pings: Callable[[], int]
) -> None:
    readiness = Readiness(version="1", probes=[redis_probe(redis_service.url)])
    app = FastAPI()
    app.include_router(health_router(readiness))

    async def burst() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            responses = await asyncio.gather(*(client.get("/api/health/ready") for _ in range(500)))
        return [r.status_code for r in responses]

    assert asyncio.run(burst()) == [200] * 500
    assert redis_pings() == 1
    assert asyncio.run(burst()) == [200] * 500  # warm: served from the cache
    assert redis_pings() == 1
    readiness.close()
