"""http_probe against a real local sidecar: ok, degraded, down, hung, skipped."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from elb_upgrade.health import ComponentResult, Probe, Readiness, http_probe, redis_probe
from fakes import services

RunProbe = Callable[[Probe], ComponentResult]


@pytest.mark.parametrize("path", ["/ok", "/json-ok", "/empty"])
def test_ok_on_2xx_saying_ok_or_nothing(run_probe: RunProbe, sidecar: str, path: str) -> None:
    assert run_probe(http_probe("terminal", sidecar + path)).status == "ok"


@pytest.mark.parametrize(
    ("path", "reason"),
    [("/starting", "sidecar says: starting"), ("/text-bad", "sidecar says: warming up")],
)
def test_degraded_when_2xx_body_says_anything_but_ok(
    run_probe: RunProbe, sidecar: str, path: str, reason: str
) -> None:
    result = run_probe(http_probe("terminal", sidecar + path))
    assert (result.status, result.reason) == ("degraded", reason)


def test_down_on_non_2xx(run_probe: RunProbe, sidecar: str) -> None:
    result = run_probe(http_probe("terminal", sidecar + "/fail"))
    assert (result.status, result.error_class) == ("down", "HTTPStatusError")
    assert "503" in (result.error or "")


def test_down_on_closed_port(run_probe: RunProbe) -> None:
    url = f"http://127.0.0.1:{services.closed_port()}/health"
    result = run_probe(http_probe("terminal", url, timeout=1))
    assert (result.status, result.error_class) == ("down", "ConnectError")


def test_hung_sidecar_times_out_within_the_probe_timeout(
    run_probe: RunProbe, hung_port: int
) -> None:
    result = run_probe(http_probe("terminal", f"http://127.0.0.1:{hung_port}/", timeout=0.3))
    # the peer never answers: only the probe's own timeout can end the call
    assert (result.status, result.error_class) == ("down", "TimeoutError")


def test_skipped_when_its_env_is_unset(run_probe: RunProbe) -> None:
    result = run_probe(http_probe("terminal", env="TERMINAL_HEALTH_URL"))
    assert (result.status, result.reason) == ("skipped", "TERMINAL_HEALTH_URL not set")


def test_url_from_env_and_non_critical_by_default(
    sidecar: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TERMINAL_HEALTH_URL", sidecar + "/fail")
    probe = http_probe("terminal", env="TERMINAL_HEALTH_URL")
    assert probe.critical is False
    report = asyncio.run(Readiness(version="1", probes=[probe]).check())
    assert report.status_code == 200
    assert report.body["components"]["terminal"]["status"] == "down"


def test_critical_down_with_non_critical_sidecar_is_503(
    sidecar: str, redis_service: services.RedisService
) -> None:
    dead = f"redis://127.0.0.1:{services.closed_port()}/0"
    probes = [redis_probe(dead, timeout=1), http_probe("terminal", sidecar + "/ok")]
    report = asyncio.run(Readiness(version="1", probes=probes).check())
    assert report.status_code == 503
    assert report.body["components"]["terminal"]["status"] == "ok"
