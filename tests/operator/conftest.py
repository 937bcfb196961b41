"""Fixtures for the operator commands: run the real CLI as a subprocess against tmp files.

Every run gets its own `$ELB_UPGRADE_HISTORY`, `$ELB_UPGRADE_SNAPSHOT` and `$HOME`, the
fake platform on `PYTHONPATH`, and (with the `app` fixture) a config and a local HTTP
readiness server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

# --import-mode=importlib puts only tests/ on sys.path; the helpers and the fake platform
# live beside this file (a package named `operator` would shadow the stdlib module).
sys.path.insert(0, str(Path(__file__).resolve().parent))

from opsupport import BIN, CONFIG, HERE, Env, Readiness


@pytest.fixture
def sandbox(tmp_path: Path) -> Env:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELB_UPGRADE_")}
    home = tmp_path / "home"
    home.mkdir()
    env.update(
        HOME=str(home),
        NO_COLOR="1",
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")])),
        ELB_UPGRADE_HISTORY=str(tmp_path / "history.jsonl"),
        ELB_UPGRADE_SNAPSHOT=str(tmp_path / "snapshot.json"),
        ELB_UPGRADE_STATE_DIR=str(tmp_path),
        GIT_AUTHOR_NAME="op",
        GIT_AUTHOR_EMAIL="op@example.invalid",
        GIT_COMMITTER_NAME="op",
        GIT_COMMITTER_EMAIL="op@example.invalid",
    )
    return Env(tmp_path, env)


@pytest.fixture
def readiness() -> Iterator[Readiness]:
    server = Readiness()
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def shop(sandbox: Env, readiness: Readiness) -> Env:
    """`sandbox` plus an app checkout (a git repo with elb-upgrade.toml) on the fake platform."""
    checkout = sandbox.root / "shop"
    checkout.mkdir()
    (checkout / "elb-upgrade.toml").write_text(CONFIG)
    (checkout / ".gitignore").write_text(".env.local\n")
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-qm", "init"]):
        subprocess.run(["git", "-C", str(checkout), *args], check=True, env=sandbox.env)
    sandbox.env.update(
        FAKE_STATE=str(sandbox.root / "fake-state.json"),
        READINESS_URL=readiness.url,
        ELB_UPGRADE_CONFIG=str(checkout / "elb-upgrade.toml"),
    )
    return sandbox
