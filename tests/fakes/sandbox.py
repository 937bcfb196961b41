"""Helpers for the operator tests: a sandboxed CLI runner, history lines, a git checkout.

Every run gets its own `$ELB_UPGRADE_HISTORY`, `$ELB_UPGRADE_SNAPSHOT` and `$HOME`, the
fake platform (fakes/platform.py) on `PYTHONPATH`, and (with the `shop` fixture) a config
and a local HTTP readiness server (fakes/readiness.py) whose answer the test sets.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fakes.cli import Ran, run_cli, run_process
from fakes.git import commit_all, git

TESTS = Path(__file__).resolve().parents[1]
GUIDE = TESTS.parent / "docs" / "operate" / "upgrade.md"
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def blocks(language: str) -> list[str]:
    return [body for lang, body in _FENCE.findall(GUIDE.read_text()) if lang == language]


BIN = Path(sys.executable).parent

CONFIG = """\
# The example app's shape (examples/dashboard) on the fake platform.
[app]
name = "${APP_NAME:-shop}"
platform = "fakes.platform:FakePlatform"
readiness_url = "${READINESS_URL}"
main_container = "api"

[images.api]
repository = "${APP_NAME:-shop}-api"

[images.frontend]
repository = "${APP_NAME:-shop}-frontend"

[images.terminal]
repository = "${APP_NAME:-shop}-terminal"

[containers.api]
image = "api"

[containers.worker]
image = "api"

[containers.frontend]
image = "frontend"

[containers.terminal]
image = "terminal"

[scopes]
api = ["api"]
frontend = ["frontend"]
terminal = ["terminal"]
full = ["api", "frontend", "terminal"]

[aliases]
worker = "api"
beat = "api"
"""


def entry(ts: str, scope: str, result: str, elapsed: int, app: str = "shop", **more: Any) -> str:
    """One history line as `elb_upgrade.history` writes it (keys in contract order)."""
    exit_code = {"success": 0, "rollback_success": 0, "rollback_failed": 3}.get(result, 1)
    sha = more.pop("head_sha", "58cc179")
    stamp = "".join(ch for ch in ts if ch.isdigit())
    fields = {
        "ts": ts,
        "scope": scope,
        "app": app,
        "tag": more.pop("tag", f"{stamp}-{sha}"),
        "head_sha": sha,
        "result": result,
        "elapsed_seconds": elapsed,
        "message": more.pop("message", ""),
        "exit_code": exit_code,
        **more,
    }
    return json.dumps(fields, separators=(",", ":"))


@dataclass
class Env:
    """A sandbox: tmp paths, environment, and `run()` for the CLI."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def history(self) -> Path:
        return Path(self.env["ELB_UPGRADE_HISTORY"])

    @property
    def snapshot(self) -> Path:
        return Path(self.env["ELB_UPGRADE_SNAPSHOT"])

    def write_history(self, lines: Sequence[str]) -> Path:
        self.history.write_text("".join(line + "\n" for line in lines))
        return self.history

    def run(
        self, *args: str, cwd: Path | None = None, prefix: Sequence[str] = ()
    ) -> Ran | subprocess.CompletedProcess[str]:
        """The CLI in this process; as its own process when `prefix` wraps it."""
        if prefix:
            return run_process(args, cwd=cwd or self.root, env=self.env, prefix=prefix, input="")
        return run_cli(args, cwd=cwd or self.root, env=self.env, input=None)

    def shell(self, command: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-o", "pipefail", "-c", command],
            env=self.env,
            cwd=cwd or self.root,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )


def ready_body(revision: str, **components: dict[str, Any]) -> dict[str, Any]:
    comps = components or {"redis": {"status": "ok"}}
    down = any(c.get("status") == "down" for c in comps.values())
    return {
        "status": "not_ready" if down else "ready",
        "version": "1.0",
        "revision": revision,
        "components": comps,
        "retryable": down,
        "retry_after_seconds": 30 if down else None,
    }


HOLDER = """
import sys, time
from pathlib import Path
from elb_upgrade import lock
from elb_upgrade.clock import SystemClock
held = lock.try_acquire(Path(sys.argv[1]), lock.Holder.current("full", SystemClock()))
print("held", flush=True)
time.sleep(120)
"""


def hold_lock(path: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """Another real process that holds the flock at `path` until killed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    return proc


def make_checkout(root: Path, env: dict[str, str]) -> Path:
    """A committed clone of the app (config at its root) tracking a bare `origin`."""
    origin, checkout = root / "origin.git", root / "app"
    git(root, "init", "-q", "--bare", "-b", "main", str(origin), env=env)
    checkout.mkdir()
    (checkout / "elb-upgrade.toml").write_text(CONFIG)
    git(checkout, "init", "-q", "-b", "main", env=env)
    commit_all(checkout, "init", env=env)
    git(checkout, "remote", "add", "origin", str(origin), env=env)
    git(checkout, "push", "-q", "-u", "origin", "main", env=env)
    return checkout


DEMO = "elb-dashboard"
DEMO_HISTORY = [
    entry("2026-05-18T09:12:03Z", "full", "success", 131, app=DEMO, head_sha="3f9a2c1"),
    entry("2026-05-19T14:40:55Z", "api", "success", 58, app=DEMO, head_sha="7b1d0e4"),
    entry(
        "2026-05-20T10:02:11Z",
        "api",
        "upgrade_failed_rolled_back",
        236,
        app=DEMO,
        head_sha="9e2b7a5",
        message="not ready after 180s: HTTP 503, down: azure_storage; rolled back to "
        "elb-dashboard--6",
    ),
    entry("2026-05-20T10:09:40Z", "api", "lock_held", 0, app=DEMO, head_sha="9e2b7a5", tag=""),
    entry("2026-05-20T11:30:27Z", "api", "success", 61, app=DEMO, head_sha="d4c81f0"),
    entry("2026-05-21T08:15:00Z", "frontend", "success", 44, app=DEMO, head_sha="e1a6b39"),
    entry("2026-05-22T16:47:31Z", "full", "build_in_progress", 73, app=DEMO, head_sha="1a2b3c4"),
    entry(
        "2026-05-22T16:55:02Z",
        "rollback",
        "rollback_success",
        39,
        app=DEMO,
        head_sha="",
        tag="20260520113027-d4c81f0",
    ),
    entry("2026-05-23T03:22:48Z", "full", "success", 127, app=DEMO, head_sha="58cc179"),
]

# A known history for exact statistics (tests/history/test_stats.py explains it).
KNOWN = [
    entry("2026-05-01T10:00:00Z", "full", "success", 100),
    entry("2026-05-02T10:00:00Z", "api", "upgrade_failed_rolled_back", 200),  # outage starts
    entry("2026-05-02T11:00:00Z", "api", "lock_held", 0),  # touched nothing
    entry("2026-05-02T12:00:00Z", "api", "success", 60),  # recovered: 12:01:00 - 10:00 = 7260 s
    "this line is not json",
    entry("2026-05-03T09:00:00Z", "full", "build_in_progress", 30),  # outage starts
    entry("2026-05-03T09:30:00Z", "rollback", "rollback_success", 40),  # 09:30:40 - 09:00 = 1840
    entry("2026-05-04T08:00:00Z", "full", "success", 140),  # last success, ends 08:02:20
    entry("2026-05-04T09:00:00Z", "full", "rollback_failed", 50, app="blog"),  # unrecovered
    '{"foreign": "tool"}',
    entry("2026-05-04T10:00:00Z", "api", "aborted_by_user", 0),
]
