"""Readiness library under load: overhead, hung-dependency bound, amplification.

    uv run python bench/run.py health          # BENCH_SECONDS=30 sets the amplification run

An app is served by uvicorn on 127.0.0.1 in a subprocess (this file, `serve MODE PORT`)
and driven by `wrk` (Debian package; scripts/setup.sh installs it) in another process:

1. warm `/api/health/ready` vs a bare FastAPI constant endpoint, same server, rounds
   alternated: throughput ratio (target ≥ 0.8) and p99 latency of both;
2. one dependency hung (a TCP peer that accepts and never answers, probe timeout 1 s):
   worst-case `/ready` latency ≤ timeout + 100 ms; the same with stale-while-revalidate;
3. amplification: requests served per PING that reached Redis (counted at Redis with
   INFO commandstats) over a BENCH_SECONDS run at full load;
4. hostile error text: worst `/ready` and `/api/health` latency while a probe gets an
   80 KB hostile `-ERR` from Redis, side by side with one that gets a short `-ERR`
   (tests/health/hostile_app.py, modes `long` / `short`, rounds alternated);
5. storm: 2,000 connections on `/ready` while probes raise SystemExit and
   KeyboardInterrupt, return garbage and get an 80 KB hostile error: the server stays up,
   every answer is 503 with a valid body (checked per response by a wrk Lua script),
   `/api/health` p99 from a second client, and probe calls per cache window.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
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
    from fakes import services  # tests/fakes/services.py: real redis-server, hung peer

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
        rows += hostile_text({"REDIS_URL": redis.url}, Path(tmp))
        rows += storm({"REDIS_URL": redis.url}, Path(tmp), seconds)
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


HOSTILE_APP = ROOT / "tests" / "health" / "hostile_app.py"
STORM_CONNECTIONS = 2000
STORM_SETTLE = 2  # seconds for wrk to open its 2,000 connections before liveness is timed
STORM_DELAY_MS = 8000  # mean wait of a storm connection before each request (random)
VALIDATE_LUA = """
bad, count = 0, 0
local threads = {}
function setup(thread) table.insert(threads, thread) end
local mean_delay = tonumber(os.getenv("WRK_DELAY_MS") or "0")
math.randomseed(os.time())
-- uniform in [0, 2 x mean]: connections spread out instead of firing in lockstep
function delay() return math.random(0, 2 * mean_delay) end
function response(status, headers, body)
  count = count + 1
  if status ~= 503 or #body > 4096 or not string.find(body, '"status":"not_ready"', 1, true)
     or not string.find(body, '"retry_after_seconds":30}', 1, true) then
    bad = bad + 1
  end
end
function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    io.write(string.format("VALIDATED %d INVALID %d\\n", t:get("count"), t:get("bad")))
  end
end
"""


def hostile_text(env: dict[str, str], tmp: Path) -> list[Row]:
    """Worst latencies with an 80 KB hostile error vs a short one, rounds alternated."""
    worst: dict[str, dict[str, float]] = {m: {"ready": 0.0, "live": 0.0} for m in ("long", "short")}
    with (
        server("long", env, tmp, app=HOSTILE_APP) as long,
        server("short", env, tmp, app=HOSTILE_APP) as short,
    ):
        for _ in range(2):
            for mode, base in (("long", long), ("short", short)):
                ready, live = wrk_pair(base + "/api/health/ready", base + "/api/health", 8)
                worst[mode]["ready"] = max(worst[mode]["ready"], ready["max"])
                worst[mode]["live"] = max(worst[mode]["live"], live["max"])
    rows = []
    for key, label in (("ready", "/ready"), ("live", "/api/health")):
        ratio = worst["long"][key] / max(worst["short"][key], 1e-3)
        rows += [
            row(f"80 KB error: worst {label} ms", worst["long"][key]),
            row(f"short error: worst {label} ms", worst["short"][key]),
            row(f"worst {label}: 80 KB / short", ratio, "≤ 2 (noise)", ratio <= 2),
        ]
    return rows


def storm(env: dict[str, str], tmp: Path, seconds: int) -> list[Row]:
    """2,000 connections on /ready against misbehaving probes; liveness measured aside."""
    from health.hostile_app import DOWN_TTL

    script = tmp / "validate.lua"
    script.write_text(VALIDATE_LUA)
    with server("storm", env, tmp, app=HOSTILE_APP) as base:
        started = time.monotonic()
        ready, live = wrk_pair(
            base + "/api/health/ready",
            base + "/api/health",
            seconds,
            connections=STORM_CONNECTIONS,
            script=script,
        )
        elapsed = time.monotonic() - started
        up = _answers(base + "/api/health")
        calls = json.loads(_get(base + "/calls"))
    validated = int(_find(r"VALIDATED (\d+)", ready["out"]))
    invalid = int(_find(r"INVALID (\d+)", ready["out"]))
    allowed = math.floor(elapsed / DOWN_TTL) + 1
    most = max(calls.values())
    return [
        row("storm: /ready answers checked", float(validated)),
        row(
            "storm: answers not 503 + valid body",
            float(invalid),
            "0",
            invalid == 0 and validated > 0,
        ),
        row("storm: socket errors", ready["errors"]),
        row("storm: server up afterwards", float(up), "1", up),
        row("storm: /api/health p99 ms", live["p99"], "< 50", live["p99"] < 50),
        row("storm: /ready p99 ms", ready["p99"]),
        row("storm: most calls of one probe", float(most), f"≤ {allowed}", most <= allowed),
    ]


def wrk_pair(
    first: str, second: str, seconds: int, connections: int = 16, script: Path | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """wrk on `first` and, at the same time, a light wrk (2 connections) on `second`."""
    extra = ["-s", str(script)] if script else []
    env = {**os.environ, "WRK_DELAY_MS": str(STORM_DELAY_MS if script else 0)}
    heavy = subprocess.Popen(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "--timeout",
            "10s",
            *extra,
            first,
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    if script:  # measure liveness once the 2,000 connections are open
        time.sleep(STORM_SETTLE)
    light = wrk(second, seconds - (STORM_SETTLE if script else 0), connections=2)
    out, _ = heavy.communicate()
    if heavy.returncode != 0:
        raise RuntimeError(f"wrk failed:\n{out}")
    return parse_wrk(out), light


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:  # loopback only
        return response.read().decode()


def _answers(url: str) -> bool:
    try:
        return json.loads(_get(url))["status"] == "ok"
    except OSError:
        return False


def mean(results: list[dict[str, float]], key: str) -> float:
    return sum(r[key] for r in results) / len(results)


@contextmanager
def server(mode: str, env: dict[str, str], tmp: Path, app: Path | None = None) -> Iterator[str]:
    """Serve the bench app (or `app MODE PORT`) in a uvicorn subprocess; yield its base URL."""
    from fakes import services

    port = services.free_port()
    log = tmp / f"uvicorn-{mode}.log"
    command = [str(app)] if app else [__file__, "serve"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, *command, mode, str(port)],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        services.wait_for_port(port, proc, log, timeout=30)
        yield f"http://127.0.0.1:{port}"
        if proc.poll() is not None:
            raise RuntimeError(f"the {mode} server died: {log.read_text()[-2000:]}")
    finally:
        proc.terminate()
        proc.wait(10)


def wrk(url: str, seconds: int, connections: int = CONNECTIONS) -> dict[str, Any]:
    """Run wrk (one thread: the server gets the other core) and parse its summary."""
    args = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    return parse_wrk(out)


def parse_wrk(out: str) -> dict[str, Any]:
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "out": out,
        "errors": float(sum(int(g) for g in errors.groups())) if errors else 0.0,
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
