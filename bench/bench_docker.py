"""The docker platform, measured on the example app (needs scripts/setup.sh first).

    uv run python bench/run.py docker

1. Envelope overhead: `elb-upgrade api --yes` against the same work done by hand with the
   docker CLI (build, then stop/remove/run the api and worker containers, then poll
   readiness until the new revision answers 200), alternating, same app, same run.
   Each round commits a one-line change first, so both sides really rebuild a layer.
2. Time to rollback for an api image that crashes on start: from the deploy line to the
   previous images serving again, against the seed's fixed wait (--health-timeout 180 s).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
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


def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="elb-bench-") as tmp:
        app = BenchApp(Path(tmp))
        try:
            app.cli("full")
            envelope, by_hand = overhead(app)
            rollback = time_to_rollback(app)
        finally:
            app.remove()
    ratio = statistics.median(envelope) / statistics.median(by_hand)
    return [
        row("api upgrade via elb-upgrade (median s)", statistics.median(envelope)),
        row("api upgrade by hand, docker CLI (median s)", statistics.median(by_hand)),
        row("envelope overhead ratio", ratio, "<= 1.15", ratio <= 1.15),
        row(
            "crash-on-start: deploy → old serving (s)",
            rollback,
            "<= 15 (seed: 180)",
            rollback <= 15,
        ),
    ]


def row(metric: str, value: float, target: str = "", ok: bool | None = None) -> dict[str, Any]:
    return {
        "benchmark": "docker",
        "metric": metric,
        "value": round(value, 3),
        "target": target,
        "ok": ok,
    }


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
    """A committed copy of the example app on free ports, as the app `elb-bench`."""

    def __init__(self, tmp: Path) -> None:
        self.root = tmp / "dashboard"
        shutil.copytree(EXAMPLE, self.root, ignore=shutil.ignore_patterns("*.whl", "__pycache__"))
        subprocess.run(
            ["uv", "build", "-q", "--wheel", "--out-dir", str(tmp / "wheel")], cwd=REPO, check=True
        )
        for wheel in (tmp / "wheel").glob("*.whl"):
            shutil.copy(wheel, self.root / "api" / "wheels")
        self.ports = {k: str(free_port()) for k in ("API_PORT", "FRONTEND_PORT", "TERMINAL_PORT")}
        self.env = {
            **os.environ,
            **self.ports,
            "ELB_APP_NAME": APP,
            "ELB_UPGRADE_HISTORY": str(tmp / "history.jsonl"),
            "ELB_UPGRADE_SNAPSHOT": str(tmp / "snapshot.json"),
        }
        self.git("init", "-q")
        self.change("first version")

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
            ["docker", "ps", "-aq", "--filter", f"label=elb-upgrade.app={APP}"],
            capture_output=True,
            text=True,
        ).stdout.split()
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
        tags = subprocess.run(
            ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"],
            capture_output=True,
            text=True,
        ).stdout.split()
        ours = [t for t in tags if t.startswith(f"{APP}-")]
        if ours:
            subprocess.run(["docker", "rmi", "-f", *ours], capture_output=True)


def docker(*args: str) -> None:
    subprocess.run(["docker", *args], check=True, capture_output=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
