"""Fixtures for elb_upgrade.health: real Redis and Azurite, misbehaving peers, a fake clock.

Services are started once per session on free loopback ports. A missing binary fails the
run (with the fix), it never skips: these tests are the proof the probes work.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import pytest
import redis

from elb_upgrade.health import ComponentResult, Probe
from elb_upgrade.health.probe import ProbeRunner
from fakes import services
from fakes.clock import FakeClock

IDENTITY_AND_CONFIG_ENV = (
    "REDIS_URL",
    "AZURE_TABLE_ENDPOINT",
    "AZURE_STORAGE_CONNECTION_STRING",
    "IDENTITY_ENDPOINT",
    "MSI_ENDPOINT",
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_FEDERATED_TOKEN_FILE",
    "CONTAINER_APP_REVISION",
    "STRICT_READINESS_DETAIL",
    "STORAGE_PROBE_CACHE_TTL_OK_SECONDS",
    "STORAGE_PROBE_CACHE_TTL_BAD_SECONDS",
)
T = TypeVar("T")


def _started(manager: contextlib.AbstractContextManager[T]) -> Iterator[T]:
    """Enter a service manager; a missing binary fails the test run, with the fix."""
    stack = contextlib.ExitStack()
    try:
        service = stack.enter_context(manager)
    except services.MissingService as exc:
        pytest.fail(str(exc), pytrace=False)
    with stack:
        yield service


@pytest.fixture(scope="session")
def redis_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[services.RedisService]:
    yield from _started(services.redis_server(tmp_path_factory.mktemp("redis")))


@pytest.fixture(scope="session")
def azurite_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[services.AzuriteService]:
    yield from _started(services.any_azurite(tmp_path_factory.mktemp("azurite")))


@pytest.fixture
def redis_pings(redis_service: services.RedisService) -> Iterator[Callable[[], int]]:
    """PINGs executed by Redis itself since this fixture started (INFO commandstats).

    Counted at the server, over a separate connection that never PINGs, so the number is
    what the dependency really received.
    """
    admin = redis.Redis.from_url(redis_service.url)
    admin.config_resetstat()

    def calls() -> int:
        stats: dict[str, Any] = admin.info("commandstats")
        return int(stats.get("cmdstat_ping", {}).get("calls", 0))

    yield calls
    admin.close()


@pytest.fixture(scope="session")
def hung_port() -> Iterator[int]:
    with services.hung_server() as port:
        yield port


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's Azure/Redis settings."""
    for name in IDENTITY_AND_CONFIG_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def run_probe() -> Iterator[Callable[[Probe], ComponentResult]]:
    """Call a probe once, the way Readiness does (timeout, thread for sync checks)."""
    pool = ThreadPoolExecutor(4)

    def run(probe: Probe) -> ComponentResult:
        return asyncio.run(ProbeRunner(probe, lambda: pool).run())

    yield run
    pool.shutdown(wait=False, cancel_futures=True)


SIDECAR_ROUTES: dict[str, tuple[int, bytes]] = {
    "/ok": (200, b"ok"),
    "/json-ok": (200, b'{"status": "ok"}'),
    "/empty": (204, b""),
    "/starting": (200, b'{"status": "starting"}'),
    "/text-bad": (200, b"warming up"),
    "/fail": (503, b'{"status": "down"}'),
    # Secrets straddling the 100-character quote of what the sidecar said.
    "/leaky-url": (
        200,
        b'{"status": "' + b"w" * 80 + b' redis://admin:SuperSecretSide@cache:6379/0"}',
    ),
    "/leaky-jwt": (
        200,
        b'{"status": "' + b"w" * 70 + b" token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhcHAifQ.c2ln"
        b'bmF0dXJl rejected"}',
    ),
}


class _Sidecar(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        code, body = SIDECAR_ROUTES.get(self.path, (404, b"no such route"))
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass


@pytest.fixture(scope="session")
def sidecar() -> Iterator[str]:
    """Base URL of a real HTTP sidecar with one route per answer it can give."""
    server = ThreadingHTTPServer((services.HOST, 0), _Sidecar)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{services.HOST}:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
