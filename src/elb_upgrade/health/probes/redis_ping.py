"""`redis_probe`: PING over a long-lived redis-py client (elb-dashboard's Celery broker check)."""

from __future__ import annotations

import os

from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from elb_upgrade.health.probe import DEFAULT_TIMEOUT, IO_GRACE, Probe
from elb_upgrade.health.result import ComponentResult, skipped


def redis_probe(
    url: str | None = None,
    *,
    name: str = "redis",
    critical: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    env: str = "REDIS_URL",
) -> Probe:
    """Probe Redis at `url` (or `$REDIS_URL`); `skipped` when neither is set."""
    url = url if url is not None else os.environ.get(env, "")
    if not url:
        return Probe(name, lambda: skipped(f"{env} not set"), critical, timeout)
    # One client for the life of the app: its pool keeps the connection open, so a probe is
    # one round trip. Retries off: a retried PING would hide flakiness and multiply load.
    client = Redis.from_url(
        url,
        socket_timeout=timeout + IO_GRACE,
        socket_connect_timeout=timeout + IO_GRACE,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )

    def ping() -> ComponentResult | None:
        client.ping()
        return None

    return Probe(name, ping, critical, timeout)
