"""tcp_probe: a port that accepts is ok, a refused one is down, no address is skipped."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from elb_upgrade.health import ComponentResult, Probe, tcp_probe
from elb_upgrade.health.probes.tcp import parse_address
from fakes import services

RunProbe = Callable[[Probe], ComponentResult]


def test_ok_when_the_port_accepts(
    run_probe: RunProbe, redis_service: services.RedisService
) -> None:
    assert run_probe(tcp_probe("cache", f"127.0.0.1:{redis_service.port}")).status == "ok"


def test_accepting_without_answering_is_still_ok(run_probe: RunProbe, hung_port: int) -> None:
    # tcp only promises "accepts a connection"; use a protocol probe to catch a hang.
    assert run_probe(tcp_probe("peer", f"127.0.0.1:{hung_port}")).status == "ok"


def test_down_when_refused(run_probe: RunProbe) -> None:
    result = run_probe(tcp_probe("cache", f"127.0.0.1:{services.closed_port()}", timeout=1))
    assert (result.status, result.error_class) == ("down", "ConnectionRefusedError")


def test_skipped_without_an_address(run_probe: RunProbe) -> None:
    result = run_probe(tcp_probe("db", env="DB_ADDRESS"))
    assert (result.status, result.reason) == ("skipped", "DB_ADDRESS not set")


def test_address_parsing() -> None:
    assert parse_address("db.internal:5432") == ("db.internal", 5432)
    assert parse_address("[::1]:6379") == ("::1", 6379)
    with pytest.raises(ValueError, match="host:port"):
        parse_address("db.internal")
