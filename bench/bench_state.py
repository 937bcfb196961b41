"""Team mode against a private Azurite: the shared lock's cost, and `history --stats`
reading 10,000 lines from the shared history blob.

    uv run python bench/run.py state

- lock acquire + release, median and p95 over 40 rounds each, the `azure-blob` lease
  (acquire, holder metadata, clear, release: 4 requests plus the renewal thread's start
  and stop) and the local flock interleaved round by round, and their ratio;
- the real CLI `elb-upgrade history --stats` over 10,000 chained lines in one append
  blob vs the same lines in a local file, median of 5 runs each, interpreter start-up
  included, and `history --verify` over them.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from bench_history import generate  # noqa: E402

from elb_upgrade.clock import SystemClock  # noqa: E402
from elb_upgrade.lock import Holder  # noqa: E402
from elb_upgrade.state import chain  # noqa: E402
from elb_upgrade.state.azure_blob import AzureBlobBackend  # noqa: E402
from elb_upgrade.state.local import LocalBackend  # noqa: E402
from fakes.services import AZURITE_ACCOUNT, AZURITE_KEY, azurite  # noqa: E402

ROUNDS = 40
LINES = 10_000
CLI_ROUNDS = 5
HOLDER = Holder(1, "bench", "bench", "api", "2026-05-01T00:00:00Z")


def _ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return statistics.median(ordered) * 1000, p95 * 1000


def _lock_rounds(shared: Any, local: Any) -> tuple[list[float], list[float]]:
    blob_times, flock_times = [], []
    clock = SystemClock()
    for _ in range(ROUNDS):
        for backend, times in ((shared, blob_times), (local, flock_times)):
            begin = time.perf_counter()
            with backend.lock("bench", HOLDER, "run", 0, clock, print):
                pass
            times.append(time.perf_counter() - begin)
    return blob_times, flock_times


def _chained_lines(source: Path) -> bytes:
    out, prev = [], chain.GENESIS
    for raw in source.read_bytes().splitlines(keepends=True):
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        data.update(run_id=uuid.uuid4().hex, host="bench", user="bench", prev=prev)
        line = (json.dumps(data, separators=(",", ":")) + "\n").encode()
        out.append(line)
        prev = chain.digest(line)
    return b"".join(out)


def _upload_history(client: Any, data: bytes) -> None:
    blob = client.get_blob_client("elb-dashboard/history.jsonl")
    blob.create_append_blob()
    lines = data.splitlines(keepends=True)
    for start in range(0, len(lines), 2000):  # whole lines per block, far under 4 MiB
        blob.append_block(b"".join(lines[start : start + 2000]))


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> float:
    command = [sys.executable, "-m", "elb_upgrade", *args]
    times = []
    for _ in range(CLI_ROUNDS):
        begin = time.perf_counter()
        subprocess.run(command, env=env, cwd=cwd, check=True, capture_output=True)
        times.append(time.perf_counter() - begin)
    return statistics.median(times)


def run() -> list[dict[str, Any]]:
    from azure.storage.blob import ContainerClient

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp_name, contextlib.ExitStack() as stack:
        tmp = Path(tmp_name)
        storage = stack.enter_context(azurite(tmp / "azurite"))
        url = f"http://127.0.0.1:{storage.blob_port}/{AZURITE_ACCOUNT}/bench"
        client = ContainerClient.from_container_url(
            url, credential={"account_name": AZURITE_ACCOUNT, "account_key": AZURITE_KEY}
        )
        client.create_container()
        env = dict(os.environ)
        env["AZURE_STORAGE_CONNECTION_STRING"] = storage.connection_string()
        env["ELB_UPGRADE_SNAPSHOT"] = str(tmp / "snapshot.json")
        env["HOME"] = str(tmp)

        shared = AzureBlobBackend(url, 15, env)
        local = LocalBackend(env)
        _lock_rounds(shared, local)  # warm both (connections, imports)
        blob_times, flock_times = _lock_rounds(shared, local)
        blob_med, blob_p95 = _ms(blob_times)
        flock_med, flock_p95 = _ms(flock_times)
        rows += [
            _row("lock acquire+release, azure-blob median (ms)", blob_med),
            _row("lock acquire+release, azure-blob p95 (ms)", blob_p95),
            _row("lock acquire+release, local flock median (ms)", flock_med),
            _row("lock acquire+release, local flock p95 (ms)", flock_p95),
            _row("azure-blob / flock (median ratio)", blob_med / flock_med),
        ]

        source = tmp / "plain.jsonl"
        generate(source, LINES)
        data = _chained_lines(source)
        _upload_history(client, data)
        (tmp / "local.jsonl").write_bytes(data)
        team = tmp / "team"
        team.mkdir()
        (team / "elb-upgrade.toml").write_text(
            f'[state]\nbackend = "azure-blob"\ncontainer_url = "{url}"\n'
        )
        solo = tmp / "solo"
        solo.mkdir()
        env["ELB_UPGRADE_HISTORY"] = str(tmp / "local.jsonl")
        blob_stats = _cli(["history", "--stats"], env, team)
        file_stats = _cli(["history", "--stats"], env, solo)
        verify = _cli(["history", "--verify"], env, team)
        rows += [
            _row(f"history --stats, {LINES:,} lines from the blob (s)", blob_stats),
            _row(f"history --stats, {LINES:,} lines from a file (s)", file_stats),
            _row(f"history --verify, {LINES:,} chained lines (s)", verify),
        ]
    return rows


def _row(metric: str, value: float, target: float | None = None) -> dict[str, Any]:
    return {
        "benchmark": "state",
        "metric": metric,
        "value": round(value, 3),
        "target": f"< {target:g}" if target else "",
        "ok": None if target is None else value < target,
    }
