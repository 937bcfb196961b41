"""Readiness library under load: overhead, hung-dependency bound, amplification.

    uv run python bench/run.py health          # BENCH_SECONDS=30 sets the amplification run

An app is served by uvicorn on 127.0.0.1 in a subprocess (this file, `serve MODE PORT`)
and driven by `wrk` (Debian package; scripts/setup.sh installs it) in another process:

1. warm `/api/health/ready` vs a bare FastAPI constant endpoint, same server, rounds
   alternated: throughput ratio (target ≥ 0.8) and p99 latency of both;
2. one dependency hung (a TCP peer that accepts and never answers, probe timeout 1 s):
   worst-case `/ready` latency ≤ timeout + 100 ms; the same with stale-while-revalidate;
3. amplification: requests served per PING that reached Redis (counted at Redis with
   INFO commandstats) over a BENCH_SECONDS run at full load.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the shared real-service helpers

PROBE_TIMEOUT = 1.0
CONNECTIONS = 32
ROUND_SECONDS = 3
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}
Row = dict[str, Any]


def row(metric: str, value: float, target: str = "", ok: bool | None = None) -> Row:
    return {"benchmark": "health", "metric": metric, "value": value, "target": target, "ok": ok}


def run() -> list[Row]:
    import services  # tests/services.py: real redis-server, hung peer

    if shutil.which("wrk") is None:
        raise RuntimeError("wrk not found: run scripts/setup.sh (apt-get install wrk)")
    seconds = int(os.environ.get("BENCH_SECONDS", "30"))
    with (
        tempfile.TemporaryDirectory() as tmp,
        services.redis_server(Path(tmp)) as redis,
        services.hung_server() as hung,
    ):
        env = {"BENCH_REDIS_URL": redis.url, "BENCH_HUNG_URL": f"redis://127.0.0.1:{hung}/0"}
        rows = overhead(env, Path(tmp))
        rows += hung_dependency(env, Path(tmp))
        rows += amplification(env, Path(tmp), redis.url, seconds)
    return rows


def overhead(env: dict[str, str], tmp: Path) -> list[Row]:
    with server("plain", env, tmp) as base:
        wrk(base + "/api/health/ready", 1)  # warm the cache and the connections
        ready, const = [], []
        for _ in range(3):  # alternate, so drift on a shared machine hits both alike
            const.append(wrk(base + "/const", ROUND_SECONDS))
            ready.append(wrk(base + "/api/health/ready", ROUND_SECONDS))
    ratio = sum(r["rps"] for r in ready) / sum(c["rps"] for c in const)
    return [
        row("ready (warm) req/s", mean(ready, "rps")),
        row("bare constant endpoint req/s", mean(const, "rps")),
        row("throughput ratio ready/bare", ratio, "≥ 0.8", ratio >= 0.8),
        row("ready p99 latency ms", mean(ready, "p99")),
        row("bare p99 latency ms", mean(const, "p99")),
    ]


def hung_dependency(env: dict[str, str], tmp: Path) -> list[Row]:
    rows = []
    bound = PROBE_TIMEOUT * 1000 + 100
    for mode, label in (
        ("hung", "hung dep: worst /ready ms"),
        ("hung-swr", "hung dep, SWR: worst ms"),
    ):
        with server(mode, env, tmp) as base:
            wrk(base + "/api/health/ready", 1)  # the first, cold probe waits in any mode
            stats = wrk(base + "/api/health/ready", 8, connections=16)
        target = f"≤ {bound:.0f}" if mode == "hung" else "≤ 1000 (k8s)"
        limit = bound if mode == "hung" else 1000.0
        rows.append(row(label, stats["max"], target, stats["max"] <= limit))
    return rows


def amplification(env: dict[str, str], tmp: Path, redis_url: str, seconds: int) -> list[Row]:
    import redis

    admin = redis.Redis.from_url(redis_url)
    with server("plain", env, tmp) as base:
        admin.config_resetstat()  # from a cold cache: the first probe counts too
        stats = wrk(base + "/api/health/ready", seconds)
        pings = int(admin.info("commandstats").get("cmdstat_ping", {}).get("calls", 0))
    admin.close()
    allowed = math.ceil(seconds / 15) + 1  # the cold probe, then one per expired ok TTL
    per_call = stats["requests"] / max(pings, 1)
    return [
        row(f"requests in {seconds}s at full load", float(stats["requests"])),
        row("PINGs that reached Redis", float(pings), f"≤ {allowed}", pings <= allowed),
        row("requests served per probe call", per_call),
    ]


def mean(results: list[dict[str, float]], key: str) -> float:
    return sum(r[key] for r in results) / len(results)


@contextmanager
def server(mode: str, env: dict[str, str], tmp: Path) -> Iterator[str]:
    """Serve the bench app in a uvicorn subprocess; yield its base URL."""
    import services

    port = services.free_port()
    log = tmp / f"uvicorn-{mode}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, __file__, "serve", mode, str(port)],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        services.wait_for_port(port, proc, log, timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def wrk(url: str, seconds: int, connections: int = CONNECTIONS) -> dict[str, float]:
    """Run wrk (one thread: the server gets the other core) and parse its summary."""
    args = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    return {
        "rps": float(_find(r"Requests/sec:\s+([\d.]+)", out)),
        "requests": float(_find(r"(\d+) requests in", out)),
        "p99": _ms(_find(r"99%\s+([\d.]+\w+)", out)),
        "max": _ms(_find(r"Latency\s+\S+\s+\S+\s+([\d.]+\w+)", out)),
    }


def _find(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    if match is None:
        raise RuntimeError(f"unexpected wrk output (no {pattern!r}):\n{text}")
    return match.group(1)


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return float(number) * UNITS[unit]


def build_app(mode: str) -> Any:
    """The served app: readiness over real Redis (+ a hung peer), and a constant route."""
    from fastapi import FastAPI

    from elb_upgrade.health import CachePolicy, Readiness, health_router, redis_probe

    probes = [redis_probe(os.environ["BENCH_REDIS_URL"], timeout=PROBE_TIMEOUT)]
    if mode.startswith("hung"):
        hung = os.environ["BENCH_HUNG_URL"]
        probes.append(redis_probe(hung, name="hung", timeout=PROBE_TIMEOUT))
    policy = CachePolicy(stale_while_revalidate=mode.endswith("swr"))
    readiness = Readiness(version="bench", probes=probes, cache=policy)
    app = FastAPI()
    app.include_router(health_router(readiness))

    @app.get("/const")
    async def const() -> dict[str, str]:
        return {"status": "ok"}

    return app


if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    import uvicorn

    mode, port = sys.argv[2], int(sys.argv[3])
    uvicorn.run(build_app(mode), host="127.0.0.1", port=port, log_level="warning", access_log=False)
