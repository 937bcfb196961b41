"""`tcp_probe`: a port accepts a TCP connection (for dependencies without a cheap ping)."""

from __future__ import annotations

import asyncio
import os

from elb_upgrade.health.probe import DEFAULT_TIMEOUT, Probe
from elb_upgrade.health.result import ComponentResult, skipped


def tcp_probe(
    name: str,
    address: str | None = None,
    *,
    env: str | None = None,
    critical: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
) -> Probe:
    """Probe that `host:port` (or `$env`) accepts a connection; unset → `skipped`."""
    address = address if address is not None else os.environ.get(env or "", "")
    if not address:
        return Probe(name, lambda: skipped(f"{env or 'address'} not set"), critical, timeout)
    host, port = parse_address(address)

    async def connect() -> ComponentResult | None:
        # Async on purpose: a connect needs no client state, and cancellation by the
        # probe timeout closes the half-open socket at once (a thread could not).
        _reader, writer = await asyncio.open_connection(host, port)
        writer.close()
        await writer.wait_closed()
        return None

    return Probe(name, connect, critical, timeout)


def parse_address(address: str) -> tuple[str, int]:
    """`host:port` or `[v6]:port` → (host, port); a bad address is a programming error."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"tcp probe address must be host:port, got {address!r}")
    return host.strip("[]"), int(port)
