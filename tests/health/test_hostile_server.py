"""A real uvicorn serving probes that raise SystemExit / KeyboardInterrupt, return garbage,
or get an 80 KB hostile `-ERR` from a real Redis: the server stays up and answers 503."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fakes import services
from health.hostile_app import DOWN_TTL

APP = Path(__file__).with_name("hostile_app.py")
READY_KEYS = ["status", "version", "revision", "components", "retryable", "retry_after_seconds"]


@pytest.fixture
def storm_server(redis_service: services.RedisService, tmp_path: Path) -> Iterator[str]:
    port = services.free_port()
    log = tmp_path / "uvicorn.log"
    env = {"REDIS_URL": redis_service.url, "PATH": "/usr/bin:/bin"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(APP), "storm", str(port)], env=env, stdout=out, stderr=out
        )
    try:
        services.wait_for_port(port, proc, log, timeout=30)
        yield f"http://127.0.0.1:{port}"
        assert proc.poll() is None, f"the server died: {log.read_text()[-2000:]}"
    finally:
        proc.terminate()
        proc.wait(10)


def test_systemexit_keyboardinterrupt_garbage_and_80kb_error_keep_the_server_up(
    storm_server: str,
) -> None:
    started = time.monotonic()
    with httpx.Client(base_url=storm_server, timeout=30) as client:
        answers = [client.get("/api/health/ready") for _ in range(20)]
        live = client.get("/api/health")
        calls = client.get("/calls").json()
    elapsed = time.monotonic() - started
    assert live.status_code == 200 and live.json()["status"] == "ok"
    assert {a.status_code for a in answers} == {503}
    body = answers[-1].json()
    assert list(body) == READY_KEYS and body["status"] == "not_ready"
    components = body["components"]
    assert {n: c["error_class"] for n, c in components.items()} == {
        "exit": "SystemExit",
        "interrupt": "KeyboardInterrupt",
        "garbage": "InvalidProbeResult",
        "hostile": "ResponseError",
    }
    assert "dict" in components["garbage"]["error"]
    assert len(answers[-1].content) < 4096 and "a.a.a.a" not in components["hostile"]["error"]
    # Cached like any result: at most one call per down TTL (elapsed is measured, not assumed).
    allowed = math.floor(elapsed / DOWN_TTL) + 1
    assert set(calls) == set(components) and max(calls.values()) <= allowed, calls
