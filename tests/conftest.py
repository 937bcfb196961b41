"""Fixtures shared by the whole suite (each area adds its own in its folder)."""

from __future__ import annotations

import gc
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from fakes.app import App, app_fixture
from fakes.git import commit_all, git
from fakes.platform import MEMORY
from fakes.readiness import ReadinessServer
from fakes.sandbox import BIN, CONFIG, TESTS, Env
from fakes.schedule import spread

# A test's verdict may not depend on machine load (2 cores shared with other test runs):
# no per-example deadline, and no health check that fails a test for being slow to
# generate or for generating big data. Loaded always; a test's own @settings adds to it.
LOAD_INDEPENDENT = "load-independent"
SLOW_OK = (HealthCheck.too_slow, HealthCheck.data_too_large)
settings.register_profile(LOAD_INDEPENDENT, deadline=None, suppress_health_check=SLOW_OK)
settings.load_profile(LOAD_INDEPENDENT)

# How heavy a test is for the scheduler, by the fixture that makes it so: the example app
# deployed behind its proxy under load, or deployed at all (tests/platforms/docker), or
# several hosts' runs sharing one Azurite container (tests/state).
HEAVY_FIXTURES = {"live": 3, "clone": 2, "container": 1}


def _weight(item: pytest.Item) -> int:
    names = getattr(item, "fixturenames", ())
    return max((w for name, w in HEAVY_FIXTURES.items() if name in names), default=0)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Spread the heavy tests over the xdist workers' slices (tests/fakes/schedule.py)."""
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    items[:] = spread(items, workers, _weight)


def pytest_configure(config: pytest.Config) -> None:
    """A worker allocates far more than it frees (modules, collected items, fixtures): the
    garbage collector's youngest generation runs every 50,000 allocations, not 700."""
    gc.set_threshold(50_000, 20, 100)


def pytest_collection_finish(session: pytest.Session) -> None:
    """What collection built lives as long as the worker: full passes skip it from here on."""
    gc.collect()
    gc.freeze()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    """A committed git checkout of a fake app, already running v1, with its readiness server."""
    yield from app_fixture(tmp_path)


@pytest.fixture
def restored_signals() -> Iterator[None]:
    """In-process runs install SIGINT/SIGTERM/SIGHUP handlers: put pytest's back afterwards."""
    held = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    saved = {s: signal.getsignal(s) for s in held}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


# The operator commands' sandbox: its own history, snapshot and $HOME, the shop app's
# config on the fake platform, and a readiness endpoint whose answer a test sets.
@pytest.fixture
def sandbox(tmp_path: Path) -> Env:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELB_UPGRADE_")}
    home = tmp_path / "home"
    home.mkdir()
    env.update(
        HOME=str(home),
        NO_COLOR="1",
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")])),
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
def readiness() -> Iterator[ReadinessServer]:
    server = ReadinessServer()
    yield server
    server.close()


@pytest.fixture
def shop(sandbox: Env, readiness: ReadinessServer) -> Env:
    """`sandbox` plus an app checkout (a git repo with elb-upgrade.toml) on the fake platform.

    The platform's state is in memory (`FAKE_STATE` names it): `shop.run` is in process."""
    checkout = sandbox.root / "shop"
    checkout.mkdir()
    (checkout / "elb-upgrade.toml").write_text(CONFIG)
    (checkout / ".gitignore").write_text(".env.local\n")
    git(checkout, "init", "-q", "-b", "main", env=sandbox.env)
    commit_all(checkout, "init", env=sandbox.env)
    sandbox.env.update(
        FAKE_STATE=f"{MEMORY}{sandbox.root}",
        READINESS_URL=readiness.url,
        ELB_UPGRADE_CONFIG=str(checkout / "elb-upgrade.toml"),
    )
    return sandbox
