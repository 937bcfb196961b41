"""The FastAPI router, tested in-process over ASGI: routes, codes, headers, exact bodies."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from elb_upgrade.health import (
    Probe,
    Readiness,
    azure_storage_probe,
    header_token,
    health_router,
    hint_for,
    http_probe,
    redis_probe,
)
from elb_upgrade.health.router import DetailsPolicy
from elb_upgrade.readiness_body import parse
from fakes import services

READY_KEYS = ["status", "version", "revision", "components", "retryable", "retry_after_seconds"]


def serve(readiness: Readiness, prefix: str = "/api", details: DetailsPolicy = True) -> FastAPI:
    app = FastAPI()
    app.include_router(health_router(readiness, prefix=prefix, details=details))
    return app


def get(app: FastAPI, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async def one() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            return await client.get(path, headers=headers)

    return asyncio.run(one())


def failing() -> None:
    raise ConnectionError("Error 111 connecting to cache.internal:6379. Connection refused.")


def test_liveness_exact_body_and_no_downstream_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTAINER_APP_REVISION", "ca-app--rev9")
    calls: list[int] = []
    readiness = Readiness(version="2.0.1", probes=[Probe("dep", lambda: calls.append(1))])
    response = get(serve(readiness), "/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": "2.0.1", "revision": "ca-app--rev9"}
    assert list(response.json()) == ["status", "version", "revision"]
    assert calls == []


def test_ready_200_exact_keys_and_no_store() -> None:
    response = get(
        serve(Readiness(version="1", probes=[Probe("dep", lambda: None)])), "/api/health/ready"
    )
    assert response.status_code == 200
    assert list(response.json()) == READY_KEYS
    assert response.headers["cache-control"] == "no-store"
    assert "retry-after" not in response.headers


def test_ready_503_when_critical_down_with_retry_after() -> None:
    readiness = Readiness(version="1", probes=[Probe("redis", failing)], retry_after_seconds=30)
    response = get(serve(readiness), "/api/health/ready")
    body = response.json()
    assert response.status_code == 503 and list(body) == READY_KEYS
    assert body["status"] == "not_ready" and body["retryable"] is True
    assert body["retry_after_seconds"] == 30 and response.headers["retry-after"] == "30"
    assert set(body["components"]["redis"]) == {
        "status",
        "error",
        "error_class",
        "critical",
        "checked_at",
        "age_seconds",
    }


def test_prefix_is_configurable() -> None:
    app = serve(Readiness(version="1"), prefix="/internal")
    assert get(app, "/internal/health/ready").status_code == 200
    assert get(app, "/api/health/ready").status_code == 404


def test_anonymous_callers_see_status_only_with_the_same_code() -> None:
    readiness = Readiness(version="1", probes=[Probe("redis", failing)])
    app = serve(readiness, details=header_token("X-Health-Token", "s3cret"))
    anonymous = get(app, "/api/health/ready")
    wrong = get(app, "/api/health/ready", {"X-Health-Token": "guess"})
    trusted = get(app, "/api/health/ready", {"X-Health-Token": "s3cret"})
    assert anonymous.status_code == wrong.status_code == trusted.status_code == 503
    assert anonymous.json()["components"] == {"redis": {"status": "down"}}
    assert wrong.json()["components"] == {"redis": {"status": "down"}}
    assert trusted.json()["components"]["redis"]["error_class"] == "ConnectionError"


def test_the_gate_reads_what_the_router_writes() -> None:
    readiness = Readiness(version="1", probes=[Probe("redis", failing)])
    response = get(serve(readiness), "/api/health/ready")
    [down] = parse(response.content).down
    assert (down.name, down.status, down.error_class) == ("redis", "down", "ConnectionError")
    assert "check the host, the port" in hint_for(down.error_class)


def test_real_app_with_redis_azurite_and_a_sidecar(
    redis_service: services.RedisService,
    azurite_service: services.AzuriteService,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite_service.connection_string())
    terminal = f"http://127.0.0.1:{services.closed_port()}/health"
    readiness = Readiness(
        version="1.4.2",
        probes=[
            redis_probe(redis_service.url),
            azure_storage_probe(),
            http_probe("terminal", terminal, timeout=1),
        ],
    )
    response = get(serve(readiness), "/api/health/ready")
    components = response.json()["components"]
    assert response.status_code == 200  # only the non-critical sidecar is down
    assert {n: c["status"] for n, c in components.items()} == {
        "redis": "ok",
        "azure_storage": "ok",
        "terminal": "down",
    }
    assert components["terminal"]["critical"] is False
    readiness.close()


def test_strict_readiness_detail_hides_details_from_anonymous_callers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The original route's switch: with it, every caller the app's `details` policy does not
    # single out is anonymous (with the default `details=True`, that is everyone).
    monkeypatch.setenv("STRICT_READINESS_DETAIL", "true")
    readiness = Readiness(version="1", probes=[Probe("redis", failing)])
    everyone = get(serve(readiness), "/api/health/ready")
    by_token = serve(readiness, details=header_token("X-Health-Token", "s3cret"))
    anonymous = get(by_token, "/api/health/ready")
    trusted = get(by_token, "/api/health/ready", {"X-Health-Token": "s3cret"})
    assert everyone.status_code == anonymous.status_code == trusted.status_code == 503
    assert everyone.json()["components"] == {"redis": {"status": "down"}}
    assert anonymous.json()["components"] == {"redis": {"status": "down"}}
    assert trusted.json()["components"]["redis"]["error_class"] == "ConnectionError"


@pytest.mark.parametrize("value", ["false", "0", ""])
def test_strict_readiness_detail_off_keeps_the_apps_policy(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("STRICT_READINESS_DETAIL", value)
    readiness = Readiness(version="1", probes=[Probe("redis", failing)])
    body = get(serve(readiness), "/api/health/ready").json()
    assert body["components"]["redis"]["error_class"] == "ConnectionError"


def test_strict_readiness_detail_that_is_not_a_boolean_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STRICT_READINESS_DETAIL", "maybe")
    with pytest.raises(ValueError, match=r"STRICT_READINESS_DETAIL='maybe' is not true or false"):
        serve(Readiness(version="1"))
