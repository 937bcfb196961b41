"""The docker platform, measured on the example app (needs scripts/setup.sh first).

    uv run python bench/run.py docker

1. Envelope overhead: `elb-upgrade api --yes` against the same work done by hand with the
   docker CLI (build, then stop/remove/run the api and worker containers, then poll
   readiness until the new revision answers 200), alternating, same app, same run.
   Each round commits a one-line change first, so both sides really rebuild a layer.
2. Time to rollback for an api image that crashes on start: from the deploy line to the
   previous images serving again, against cli-upgrade.sh's fixed wait (180 s).
   Both on a copy of the app without `port` (direct replacement, as by hand).
3. Zero downtime, side by side in one run: the same app once with `port` (blue/green
   behind the proxy) and once without (direct replacement), alternated rounds of
   `elb-upgrade api --yes` under a client at about 100 requests/s on the api's port:
   failed requests and p99 latency during each upgrade; for the proxy, the time from the
   new revision answering ready on its private port to the first answer it gives through
   the public port. Then `wrk` at steady load on the same api container, through the
   proxy and on its private port directly: the proxy's cost per request (p50, p99).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "dashboard"
ROUNDS = 7
INTERVAL = 0.25  # readiness polling interval, the same on both sides
APP = "elb-bench"
PROXIED = "elb-bench-px"
ZD_ROUNDS = 3
RATE = 100  # requests per second of the load client
WRK_SECONDS = 5


def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="elb-bench-") as tmp:
        app = BenchApp(Path(tmp) / "direct", APP, proxied=False)
        proxied = BenchApp(Path(tmp) / "proxied", PROXIED, proxied=True)
        try:
            app.cli("full")
            proxied.cli("full")
            zero = zero_downtime(app, proxied)
            envelope, by_hand = overhead(app)
            rollback = time_to_rollback(app)
        finally:
            app.remove()
            proxied.remove()
    ratio = statistics.median(envelope) / statistics.median(by_hand)
    return [
        *zero,
        row("api upgrade via elb-upgrade (median s)", statistics.median(envelope)),
        row("api upgrade by hand, docker CLI (median s)", statistics.median(by_hand)),
        row("envelope overhead ratio", ratio, "<= 1.15", ratio <= 1.15),
        row(
            "crash-on-start: deploy → old serving (s)",
            rollback,
            "<= 15 (was 180)",
            rollback <= 15,
        ),
    ]


def row(
    metric: str, value: float | str, target: str = "", ok: bool | None = None
) -> dict[str, Any]:
    return {
        "benchmark": "docker",
        "metric": metric,
        "value": value if isinstance(value, str) else round(value, 3),
        "target": target,
        "ok": ok,
    }


def zero_downtime(direct: BenchApp, proxied: BenchApp) -> list[dict[str, Any]]:
    failed: dict[str, list[int]] = {"direct": [], "proxy": []}
    p99: dict[str, list[float]] = {"direct": [], "proxy": []}
    switch: list[float] = []
    for n in range(ZD_ROUNDS):
        for kind, app in (("direct", direct), ("proxy", proxied)):
            app.change(f"zero downtime {kind} {n}")
            with Load(int(app.ports["API_PORT"])) as load, ReadyWatch(app) as watch:
                app.cli("api", "--health-interval", str(INTERVAL))
                load.settle()
            failed[kind].append(load.failed)
            p99[kind].append(load.p99_ms())
            if kind == "proxy" and watch.ready_at is not None:
                first = load.first_from(watch.revision)
                if first is not None:
                    switch.append(first - watch.ready_at)
    through, direct_ms = proxy_overhead(proxied, 8)
    serial_via, serial_direct = proxy_overhead(proxied, 1)
    return [
        row("upgrade under load, direct: failed requests (max)", max(failed["direct"])),
        row("upgrade under load, proxy: failed requests (max)", max(failed["proxy"]), "0",
            max(failed["proxy"]) == 0),
        row("upgrade under load, direct: p99 ms (median)", statistics.median(p99["direct"])),
        row("upgrade under load, proxy: p99 ms (median)", statistics.median(p99["proxy"])),
        row("new revision ready → switched, s (median)", statistics.median(switch or [-1.0])),
        row("new revision ready → switched, s (max)", max(switch or [-1.0])),
        row("failed requests per direct upgrade (all rounds)", str(failed["direct"])),
        row("1 connection p50 ms, via proxy", serial_via["p50"]),
        row("1 connection p50 ms, direct", serial_direct["p50"]),
        row("1 connection p99 ms, via proxy", serial_via["p99"]),
        row("1 connection p99 ms, direct", serial_direct["p99"]),
        row("steady load p50 ms, via proxy", through["p50"]),
        row("steady load p50 ms, direct", direct_ms["p50"]),
        row("steady load p99 ms, via proxy", through["p99"]),
        row("steady load p99 ms, direct", direct_ms["p99"]),
        row("steady load req/s, via proxy", through["rps"]),
        row("steady load req/s, direct", direct_ms["rps"]),
    ]  # fmt: skip


def proxy_overhead(app: BenchApp, connections: int) -> tuple[dict[str, float], dict[str, float]]:
    """wrk on the api through the proxy and on its private port, alternated; medians."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk not found: run scripts/setup.sh (apt-get install wrk)")
    public = f"http://127.0.0.1:{app.ports['API_PORT']}/api/health"
    private = f"http://{app.upstream()}/api/health"
    wrk(public, 1, connections)
    wrk(private, 1, connections)
    via: list[dict[str, float]] = []
    direct: list[dict[str, float]] = []
    for _ in range(3):
        via.append(wrk(public, WRK_SECONDS, connections))
        direct.append(wrk(private, WRK_SECONDS, connections))
    return _medians(via), _medians(direct)


def _medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def wrk(url: str, seconds: int, connections: int) -> dict[str, float]:
    """wrk with one thread (the other core serves); p50, p99, req/s."""
    args = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s", url]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout

    def find(pattern: str) -> str:
        match = re.search(pattern, out)
        if match is None:
            raise RuntimeError(f"unexpected wrk output (no {pattern!r}):\n{out}")
        return match.group(1)

    return {
        "p50": _ms(find(r"50%\s+([\d.]+\w+)")),
        "p99": _ms(find(r"99%\s+([\d.]+\w+)")),
        "rps": float(find(r"Requests/sec:\s+([\d.]+)")),
    }


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


class Load:
    """About 100 GET /api/health per second on one keep-alive connection; every answer's
    arrival time, latency, revision and success. Bounded at 10 minutes."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.answers: list[tuple[float, float, str, bool]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)

    def settle(self) -> None:
        """A second more of answers after the upgrade returned (the drain, the worker)."""
        time.sleep(1.0)

    def _loop(self) -> None:
        import http.client

        conn = None
        deadline = time.monotonic() + 600
        while not self._stop.is_set() and time.monotonic() < deadline:
            started = time.monotonic()
            conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            revision, ok = "", False
            try:
                conn.request("GET", "/api/health")
                reply = conn.getresponse()
                body = reply.read()
                ok = reply.status == 200
                revision = str(json.loads(body).get("revision", "")) if ok else ""
            except (OSError, ValueError, http.client.HTTPException):
                ok = False
            if not ok:
                conn.close()
                conn = None
            now = time.monotonic()
            self.answers.append((now, (now - started) * 1000, revision, ok))
            time.sleep(max(0.0, 1 / RATE - (now - started)))

    @property
    def failed(self) -> int:
        return sum(1 for a in self.answers if not a[3])

    def p99_ms(self) -> float:
        """p99 of the answered requests (a refused connection fails fast: not counted)."""
        latencies = sorted(a[1] for a in self.answers if a[3])
        return latencies[int(len(latencies) * 0.99) - 1] if latencies else 0.0

    def first_from(self, revision: str) -> float | None:
        return next((a[0] for a in self.answers if a[2] == revision and a[3]), None)


class ReadyWatch:
    """When the staged api revision first answers ready on its private port (10 ms polls)."""

    def __init__(self, app: BenchApp) -> None:
        self.app = app
        self.before = app.upstream() if app.proxied else ""
        self.ready_at: float | None = None
        self.revision = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> ReadyWatch:
        if self.app.proxied:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.app.proxied:
            self._thread.join(60)

    def _loop(self) -> None:
        deadline = time.monotonic() + 600
        while not self._stop.is_set() and time.monotonic() < deadline:
            staged = self.app.staged(self.before)
            if staged is not None:
                revision, upstream = staged
                try:
                    url = f"http://{upstream}/api/health/ready"
                    with urllib.request.urlopen(url, timeout=2) as answer:
                        if json.load(answer).get("revision") == revision:
                            self.ready_at, self.revision = time.monotonic(), revision
                            return
                except (OSError, ValueError):
                    pass
            time.sleep(0.01)


def overhead(app: BenchApp) -> tuple[list[float], list[float]]:
    envelope, by_hand = [], []
    for n in range(ROUNDS):
        app.change(f"envelope {n}")
        started = time.monotonic()
        app.cli("api", "--health-interval", str(INTERVAL))
        envelope.append(time.monotonic() - started)
        app.change(f"by hand {n}")
        started = time.monotonic()
        app.by_hand(f"{APP}-api:hand{n}", f"{APP}--hand{n}")
        by_hand.append(time.monotonic() - started)
    return envelope, by_hand


def time_to_rollback(app: BenchApp) -> float:
    """Seconds from the deploy line of a crash-on-start upgrade to the old images serving."""
    app.change("crash on start", file="api/app.py", text='raise SystemExit("boom")\n')
    process = app.popen("api", "--health-timeout", "180", "--health-interval", str(INTERVAL))
    assert process.stdout is not None
    deploy_at = None
    for line in process.stdout:
        if deploy_at is None and "deploy" in line and "==>" in line:
            deploy_at = time.monotonic()
    process.wait()
    app.wait_ready(revision=None)
    if deploy_at is None or process.returncode == 0:
        raise RuntimeError("the crash-on-start upgrade did not deploy and roll back")
    return time.monotonic() - deploy_at


class BenchApp:
    """A committed copy of the example app on free ports, as the app `name`; without
    `proxied` its `port` settings become plain PORT variables (direct replacement)."""

    def __init__(self, tmp: Path, name: str, proxied: bool) -> None:
        self.name, self.proxied = name, proxied
        self.root = tmp / "dashboard"
        shutil.copytree(EXAMPLE, self.root, ignore=shutil.ignore_patterns("*.whl", "__pycache__"))
        if not proxied:
            config = self.root / "elb-upgrade.toml"
            config.write_text(without_ports(config.read_text()))
        subprocess.run(
            ["uv", "build", "-q", "--wheel", "--out-dir", str(tmp / "wheel")], cwd=REPO, check=True
        )
        for wheel in (tmp / "wheel").glob("*.whl"):
            shutil.copy(wheel, self.root / "api" / "wheels")
        self.ports = {k: str(free_port()) for k in ("API_PORT", "FRONTEND_PORT", "TERMINAL_PORT")}
        self.env = {
            **os.environ,
            **self.ports,
            "ELB_APP_NAME": name,
            "ELB_DRAIN_SECONDS": "10",
            # The crash monitor (3 s by default) is a safety wait the by-hand deploy does not
            # make: off here, so the ratio measures the envelope's own machinery.
            "ELB_MONITOR_SECONDS": "0",
            "ELB_UPGRADE_HISTORY": str(tmp / "history.jsonl"),
            "ELB_UPGRADE_SNAPSHOT": str(tmp / "snapshot.json"),
        }
        self.git("init", "-q")
        self.change("first version")

    def containers(self) -> list[Any]:
        import docker

        client = docker.from_env()
        labels = [f"elb-upgrade.app={self.name}", "elb-upgrade.container=api"]
        return list(client.containers.list(filters={"label": labels}))

    def upstream(self) -> str:
        """The private address of the api instance the proxy routes to (the only one)."""
        found = [c.labels["elb-upgrade.upstream"] for c in self.containers()]
        if len(found) != 1:
            raise RuntimeError(f"expected one api instance of {self.name}, found {found}")
        return found[0]

    def staged(self, serving: str) -> tuple[str, str] | None:
        """(revision, private address) of an api instance other than `serving`."""
        for c in self.containers():
            if c.labels.get("elb-upgrade.upstream") != serving:
                return c.labels["elb-upgrade.revision"], c.labels["elb-upgrade.upstream"]
        return None

    def git(self, *args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", *args],
            cwd=self.root,
            check=True,
            capture_output=True,
        )

    def change(self, message: str, file: str = "api/version.py", text: str = "") -> None:
        with (self.root / file).open("a") as f:
            f.write(text or f"# {message}\n")
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)

    def cli(self, *args: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "elb_upgrade", *args, "--yes"],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"elb-upgrade {' '.join(args)} failed:\n{done.stdout[-3000:]}")

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "elb_upgrade", *args, "--yes"],
            cwd=self.root,
            env=self.env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )

    def by_hand(self, image: str, revision: str) -> None:
        """What an operator would type: build, replace api and worker, wait for readiness."""
        docker(
            "build",
            "-q",
            "--network",
            "host",
            "-t",
            image,
            "--build-arg",
            "BASE_IMAGE=elb-base:bookworm",
            str(self.root / "api"),
        )
        env = self.container_env()
        for name, command in (("api", []), ("worker", ["python3", "worker.py"])):
            docker("stop", "-t", "10", f"{APP}-{name}")
            docker("rm", f"{APP}-{name}")
            values = {**env[name], "CONTAINER_APP_REVISION": revision}
            flags = [f"-e{k}={v}" for k, v in values.items()]
            docker(
                "run",
                "-d",
                "--init",
                "--network",
                "host",
                "--name",
                f"{APP}-{name}",
                "--restart",
                "on-failure:2",
                "--label",
                f"elb-upgrade.app={APP}",
                "--label",
                f"elb-upgrade.container={name}",
                "--label",
                f"elb-upgrade.revision={revision}",
                *flags,
                image,
                *command,
            )
        self.wait_ready(revision)

    def container_env(self) -> dict[str, dict[str, str]]:
        from elb_upgrade import config

        loaded = config.load(self.root / "elb-upgrade.toml", self.env)
        return {c.name: dict(c.env) for c in loaded.app.containers}

    def wait_ready(self, revision: str | None, seconds: float = 120) -> None:
        url = f"http://127.0.0.1:{self.ports['API_PORT']}/api/health/ready"
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=5) as answer:
                    if revision is None or json.load(answer).get("revision") == revision:
                        return
            except (OSError, ValueError, urllib.error.HTTPError):
                pass
            time.sleep(INTERVAL)
        raise RuntimeError(f"{url} not ready with revision {revision} after {seconds}s")

    def remove(self) -> None:
        ids = subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label=elb-upgrade.app={self.name}"],
            capture_output=True,
            text=True,
        ).stdout.split()
        ids += subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label=elb-upgrade.proxy-of={self.name}"],
            capture_output=True,
            text=True,
        ).stdout.split()
        shutil.rmtree(f"/var/lib/elb-upgrade/proxy/{self.name}", ignore_errors=True)
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
        tags = subprocess.run(
            ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"],
            capture_output=True,
            text=True,
        ).stdout.split()
        ours = [t for t in tags if t.startswith(f"{self.name}-")]
        if ours:
            subprocess.run(["docker", "rmi", "-f", *ours], capture_output=True)


def without_ports(config: str) -> str:
    """The example config with each `port = X` turned into the variable `PORT = X`."""
    lines, section, ports = config.splitlines(), "", {}
    for line in lines:
        header = re.fullmatch(r"\[containers\.([\w-]+)\]", line)
        section = header.group(1) if header else ("" if line.startswith("[") else section)
        found = re.fullmatch(r"port = (.+)", line)
        if found and section:
            ports[section] = found.group(1)
    out = []
    for line in lines:
        header = re.fullmatch(r"\[containers\.([\w-]+)\.env\]", line)
        found = re.fullmatch(r"port = (.+)", line)
        if found:
            section = next(n for n, v in ports.items() if v == found.group(1))
            if f"[containers.{section}.env]" not in lines:
                out.append(f"env = {{ PORT = {found.group(1)} }}")
            continue
        out.append(line)
        if header and header.group(1) in ports:
            out.append(f"PORT = {ports[header.group(1)]}")
    return "\n".join(out) + "\n"


def docker(*args: str) -> None:
    subprocess.run(["docker", *args], check=True, capture_output=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
