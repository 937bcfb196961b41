"""Envelope benchmarks (issue 2): CLI start-up, lock contention, gate confirmation latency.

Each ratio is measured side by side in one run, interleaving the two commands, so a
noisy shared machine slows both alike.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "tests"))


def _wall(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
    return time.perf_counter() - start


def startup(rounds: int = 25) -> list[dict[str, Any]]:
    script = str(VENV_BIN / "elb-upgrade")
    complete = dict(
        os.environ, _ELB_UPGRADE_COMPLETE="bash_complete", COMP_WORDS="elb-upgrade ", COMP_CWORD="1"
    )
    base, help_, comp = [], [], []
    for _ in range(rounds):
        base.append(_wall([sys.executable, "-c", "pass"]))
        help_.append(_wall([script, "--help"]))
        comp.append(_wall([script], complete))
    b = statistics.median(base)
    rows = []
    for name, times in (("elb-upgrade --help", help_), ("completion (TAB)", comp)):
        ratio = statistics.median(times) / b
        rows.append(
            {
                "benchmark": "startup",
                "metric": f"{name} / python -c pass",
                "value": ratio,
                "target": "<= 3x",
                "ok": ratio <= 3,
            }
        )
    rows.append(
        {
            "benchmark": "startup",
            "metric": "python -c pass (ms, median)",
            "value": b * 1000,
            "target": "",
            "ok": None,
        }
    )
    return rows


def lock_contention(runs: int = 20) -> list[dict[str, Any]]:
    from fakes.app import make_app

    with tempfile.TemporaryDirectory() as tmp:
        app = make_app(Path(tmp))
        app.set(sleep_build=10)
        try:
            start = time.perf_counter()
            procs = [app.popen("api", "--yes") for _ in range(runs)]
            exited: dict[int, float] = {}
            while len(exited) < runs - 1:
                for i, proc in enumerate(procs):
                    if i not in exited and proc.poll() is not None:
                        exited[i] = time.perf_counter() - start
                time.sleep(0.002)
            losers = max(exited.values())
            for proc in procs:
                proc.communicate(timeout=60)
            codes = sorted(p.returncode for p in procs)
        finally:
            app.server.close()
    return [
        {
            "benchmark": "lock",
            "metric": f"{runs} concurrent runs: all losers exited (s)",
            "value": losers,
            "target": "< 1 s",
            "ok": losers < 1.0,
        },
        {
            "benchmark": "lock",
            "metric": "exit codes (winners/losers)",
            "value": f"{codes.count(0)}/{codes.count(1)}",
            "target": "1/19",
            "ok": codes.count(0) == 1 and codes.count(1) == runs - 1,
        },
    ]


class _Flip:
    """A readiness endpoint that turns healthy at a set moment."""

    def __init__(self) -> None:
        self.healthy_at = float("inf")
        flip = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                ok = time.monotonic() >= flip.healthy_at
                body = b'{"status":"ready"}' if ok else b'{"status":"not_ready"}'
                self.send_response(200 if ok else 503)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/ready"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def _confirm_latency(flip: _Flip, delay: float, interval: float, fixed: bool) -> float:
    from elb_upgrade.clock import SystemClock
    from elb_upgrade.gate import GateSpec, wait_ready
    from elb_upgrade.platforms.base import RevisionState, RevisionStatus
    from elb_upgrade.readiness_fetch import http_fetch

    fetch, close = http_fetch()
    flip.healthy_at = time.monotonic() + delay
    running = RevisionStatus(RevisionState.RUNNING)
    if fixed:  # cli-upgrade.sh: curl, then sleep 5, until 200
        while fetch(flip.url, 5).status != 200:
            time.sleep(interval)
    else:
        wait_ready(GateSpec(flip.url, None, 60, interval), lambda: running, fetch, SystemClock())
    close()
    return time.monotonic() - flip.healthy_at


def gate_latency() -> list[dict[str, Any]]:
    flip = _Flip()
    delays = [1.3, 2.9, 4.2, 6.6]
    ours = [_confirm_latency(flip, d, 5.0, fixed=False) for d in delays]
    seed = [_confirm_latency(flip, d, 5.0, fixed=True) for d in delays]
    flip.httpd.shutdown()
    worst = max(ours)
    return [
        {
            "benchmark": "gate",
            "metric": "healthy → confirmed, worst (s)",
            "value": worst,
            "target": "<= 1 s",
            "ok": worst <= 1.0,
        },
        {
            "benchmark": "gate",
            "metric": "healthy → confirmed, mean (s)",
            "value": statistics.mean(ours),
            "target": "",
            "ok": None,
        },
        {
            "benchmark": "gate",
            "metric": "seed fixed 5 s polling, mean (s)",
            "value": statistics.mean(seed),
            "target": "",
            "ok": None,
        },
    ]


def run() -> list[dict[str, Any]]:
    return [*startup(), *lock_contention(), *gate_latency()]
