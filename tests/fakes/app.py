"""Builders for the envelope tests: a git checkout of a fake app, its readiness server,
and a way to run the real `elb-upgrade` CLI against them as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fakes.cli import Ran, command, popen_process, run_cli, run_process
from fakes.git import GIT_ENV, commit_all, git
from fakes.herd import Herd, Spec
from fakes.platform import load_state, readiness_answer, update_state
from fakes.readiness import ReadinessServer
from fakes.zygote import PRELOAD

__all__ = ["GIT_ENV", "App", "ReadinessServer", "app_fixture", "make_app"]

TESTS = Path(__file__).resolve().parents[1]
# What a run of the fake app imports: a herd's launcher imports them once (the zygote's
# list, and the fake platform, which every herd run uses).
RUN_MODULES = (*PRELOAD, "fakes.platform")

CONFIG = """\
[app]
name = "{name}"
platform = "fakes.platform:FakePlatform"
readiness_url = "{url}"
main_container = "api"

[images.api]
repository = "demo-api"
context = "api"

[images.frontend]
repository = "demo-frontend"
context = "frontend"

[containers.api]
image = "api"

[containers.worker]
image = "api"

[containers.frontend]
image = "frontend"

[scopes]
api = ["api"]
frontend = ["frontend"]
full = ["api", "frontend"]

[aliases]
worker = "api"
beat = "api"

[platform]
FAKE_STATE = "{state}"
"""


@dataclass
class App:
    """A git checkout of the fake app plus everything a run of the CLI needs."""

    root: Path
    state: Path
    history: Path
    snapshot: Path
    server: ReadinessServer
    name: str = "demo"
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def lock(self) -> Path:
        return self.snapshot.with_name(self.snapshot.name + ".lock")

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(GIT_ENV)
        env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
        env["ELB_UPGRADE_HISTORY"] = str(self.history)
        env["ELB_UPGRADE_SNAPSHOT"] = str(self.snapshot)
        env["ELB_UPGRADE_STATE_DIR"] = str(self.snapshot.parent)
        env.pop("ELB_UPGRADE_CONFIG", None)
        env.pop("NO_COLOR", None)
        env.update(self.extra_env)
        env.update(extra)
        return env

    def command(self, *args: str) -> list[str]:
        return command(*args)

    def run(self, *args: str, input: str | None = "", timeout: float = 60, **env: str) -> Ran:
        """`elb-upgrade ARGS` in this process (fakes/cli.py puts everything back); a hang
        is ended by pytest-timeout, so `timeout` only matters to `run_process`."""
        return run_cli(args, cwd=self.root, env=self.env(**env), input=input)

    def run_process(
        self, *args: str, input: str | None = "", timeout: float = 60, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """`elb-upgrade ARGS` as its own process: for exit statuses, signals and locks."""
        return run_process(args, cwd=self.root, env=self.env(**env), input=input, timeout=timeout)

    def popen(self, *args: str, **env: str) -> subprocess.Popen[str]:
        return popen_process(args, cwd=self.root, env=self.env(**env))

    def herd(
        self, runs: Sequence[tuple[Sequence[str], Mapping[str, str]]], preload: Sequence[str] = ()
    ) -> Herd:
        """Every `(args, env)` of `runs` as its own process, all at once (fakes/herd.py)."""
        specs = [Spec(args, self.env(**env), self.root) for args, env in runs]
        folder = Path(tempfile.mkdtemp(prefix="herd-", dir=self.root.parent))
        return Herd(specs, folder, preload=(*RUN_MODULES, *preload))

    def set(self, **changes: Any) -> None:
        update_state(self.state, **changes)

    def get(self) -> dict[str, Any]:
        return load_state(self.state)

    def lines(self) -> list[dict[str, Any]]:
        if not self.history.exists():
            return []
        return [json.loads(line) for line in self.history.read_text().splitlines()]

    def git(self, *args: str) -> str:
        return git(self.root, *args)

    def commit(self, message: str = "change") -> None:
        commit_all(self.root, message)


def make_app(tmp: Path, name: str = "demo", running: Mapping[str, str] | None = None) -> App:
    """A committed checkout whose fake platform already runs `running` (default: v1)."""
    root, state = tmp / "checkout", tmp / "fake-state.json"
    root.mkdir()
    server = ReadinessServer(lambda: readiness_answer(load_state(state)))
    (root / "elb-upgrade.toml").write_text(CONFIG.format(name=name, url=server.url, state=state))
    for folder in ("api", "frontend"):
        (root / folder).mkdir()
        (root / folder / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM $BASE_IMAGE\n")
    images = dict(
        running
        if running is not None
        else {"api": "demo-api:v1", "worker": "demo-api:v1", "frontend": "demo-frontend:v1"}
    )
    update_state(
        state, images=images, revision=f"{name}--1" if images else "", n=1 if images else 0
    )
    app = App(root, state, tmp / "history.jsonl", tmp / f"snapshot-{name}.json", server, name)
    app.git("init", "-q", "-b", "main")
    app.commit("initial")
    return app


def app_fixture(tmp_path: Path) -> Iterator[App]:
    app = make_app(tmp_path)
    try:
        yield app
    finally:
        app.server.close()
