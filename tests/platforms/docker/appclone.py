"""A committed git copy of examples/dashboard on its own ports, driven through the CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from dockerkit import REPO

from fakes.cli import Ran, command, run_cli
from fakes.git import commit_all, git
from fakes.services import free_port
from fakes.zygote import Forked

EXAMPLE = REPO / "examples" / "dashboard"
BREAK_STORAGE = 'TABLE_ENDPOINT = "http://127.0.0.1:1/devstoreaccount1"  # wrong on purpose\n'
CRASH_ON_START = 'raise SystemExit("boom: the api cannot start")\n'


class Clone:
    """The example app as an operator's checkout: its own name, ports, history, snapshot."""

    def __init__(self, root: Path, name: str, wheel: Path) -> None:
        self.root, self.name = root / "app", name
        shutil.copytree(EXAMPLE, self.root, ignore=shutil.ignore_patterns("*.whl", "__pycache__"))
        shutil.copy(wheel, self.root / "api" / "wheels")
        self.ports = {
            "API_PORT": free_port(),
            "FRONTEND_PORT": free_port(),
            "TERMINAL_PORT": free_port(),
        }
        self.history_path = root / "history.jsonl"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ELB_UPGRADE_")}
        self.env.update({k: str(v) for k, v in self.ports.items()})
        self.env.update(
            ELB_APP_NAME=name,
            ELB_UPGRADE_HISTORY=str(self.history_path),
            ELB_UPGRADE_SNAPSHOT=str(root / "snapshot.json"),
            ELB_UPGRADE_STATE_DIR=str(root),
            # A new container counts as started after 1 s without a restart, not the
            # default 3 s: these tests' releases do not crash late. The test whose worker
            # crashes keeps the default (`monitor_seconds` is unit-tested on a fake clock).
            ELB_MONITOR_SECONDS="1",
        )
        self.git("init", "-q", "-b", "main")
        # The name in the message makes every copy's commit, and so its image labels, its
        # own: no image is shared with a copy another worker removes meanwhile.
        self.commit(f"first version of {name}")

    def git(self, *args: str) -> str:
        return git(self.root, *args)

    def commit(self, message: str, appends: dict[str, str] | None = None) -> None:
        """Append each text to its file (path relative to the app), then commit everything."""
        for path, text in (appends or {}).items():
            with (self.root / path).open("a") as f:
                f.write(text)
        commit_all(self.root, message, allow_empty=True)

    def set_version(self, version: str) -> None:
        (self.root / "api" / "version.py").write_text(f'VERSION = "{version}"\n')
        self.commit(f"version {version}")

    def run(self, *args: str, timeout: float = 240) -> Ran:
        """`elb-upgrade ARGS` in this process; stdout holds the progress (stderr) and then
        the closing line, in the order an operator's terminal shows them."""
        done = run_cli(args, cwd=self.root, env=self.env, input="")
        return Ran(done.args, done.returncode, done.stderr + done.stdout, "")

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """`elb-upgrade ARGS` as its own process (forked by fakes/zygote.py), stderr into
        stdout."""
        return Forked(
            command(*args),
            cwd=self.root,
            env=self.env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            bufsize=1,
        )

    def history(self) -> list[dict[str, Any]]:
        lines = self.history_path.read_text().splitlines() if self.history_path.exists() else []
        return [json.loads(line) for line in lines]

    def results(self) -> list[str]:
        return [line["result"] for line in self.history()]

    def ready(self) -> tuple[int, dict[str, Any]]:
        """The api's readiness answer (status code, body)."""
        url = f"http://127.0.0.1:{self.ports['API_PORT']}/api/health/ready"
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:
                return answer.status, json.load(answer)
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def page(self) -> str:
        url = f"http://127.0.0.1:{self.ports['FRONTEND_PORT']}/"
        with urllib.request.urlopen(url, timeout=10) as answer:
            return str(answer.read().decode())
