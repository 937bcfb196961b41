"""An app whose readiness probes misbehave, served by a real uvicorn in a subprocess.

    python tests/health/hostile_app.py MODE PORT      # REDIS_URL: a real redis-server

Used by tests/health/test_hostile_server.py and bench/bench_health.py. Modes:

- `storm`: one sync probe raises `SystemExit`, one `KeyboardInterrupt`, one returns garbage
  (`{"status": "ok"}`), one gets an 80 KB hostile `-ERR` from Redis: every answer is 503;
- `long` / `short`: one probe gets an 80 KB hostile / a short `-ERR` from Redis.

`GET /calls` answers how often each probe was called (counted in the app).
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Callable
from typing import Any

# `redis.error_reply` makes a real Redis answer `-ERR <text>`; the text is a JWT-like
# run with no whitespace, the input that made the old redaction backtrack for 28 s.
HOSTILE_SCRIPT = "return redis.error_reply('ERR eyJ' .. string.rep('a.', 40000))"
SHORT_SCRIPT = "return redis.error_reply('ERR short failure')"
DOWN_TTL = 3.0


def counted(calls: Counter[str], name: str, check: Callable[[], Any]) -> Callable[[], Any]:
    def call() -> Any:
        calls[name] += 1
        return check()

    return call


def redis_error(script: str) -> Callable[[], None]:
    """A check that sends `script` to the real Redis at $REDIS_URL (which answers -ERR)."""
    import redis

    client = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=2)

    def check() -> None:
        client.eval(script, 0)

    return check


def raises(exc: BaseException) -> Callable[[], None]:
    def check() -> None:
        raise exc

    return check


def checks(mode: str) -> dict[str, Callable[[], Any]]:
    if mode == "storm":
        return {
            "exit": raises(SystemExit(3)),
            "interrupt": raises(KeyboardInterrupt()),
            "garbage": lambda: {"status": "ok"},
            "hostile": redis_error(HOSTILE_SCRIPT),
        }
    if mode in ("long", "short"):
        return {"cache": redis_error(HOSTILE_SCRIPT if mode == "long" else SHORT_SCRIPT)}
    raise SystemExit(f"unknown mode {mode!r}: use storm, long or short")


def build_app(mode: str) -> Any:
    from fastapi import FastAPI

    from elb_upgrade.health import CachePolicy, Probe, Readiness, health_router

    calls: Counter[str] = Counter()
    probes = [Probe(n, counted(calls, n, c), timeout=2) for n, c in checks(mode).items()]
    policy = CachePolicy(down_ttl=DOWN_TTL)
    readiness = Readiness(version="hostile", probes=probes, cache=policy)
    app = FastAPI()
    app.include_router(health_router(readiness))

    @app.get("/calls")
    async def probe_calls() -> dict[str, int]:
        return dict(calls)

    return app


if __name__ == "__main__":
    import resource

    import uvicorn

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # room for 2,000 connections
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 8192)), hard))
    mode, port = sys.argv[1], int(sys.argv[2])
    uvicorn.run(
        build_app(mode),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        backlog=4096,
        timeout_keep_alive=60,  # like a load balancer's pool: connections stay open
    )
