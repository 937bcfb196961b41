"""Fixtures for tests against the real Docker Engine, Redis and Azurite.

These tests never skip: without the engine they fail and say how to start it. Every
test uses its own app name, image repositories and ports, and removes what it made.
"""

from __future__ import annotations

import fcntl
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# This folder cannot be imported as the package `docker` (that is the SDK), so its helper
# module is found by putting the folder itself on the path.
sys.path.insert(0, str(Path(__file__).parent))

from appclone import Clone
from dockerkit import BASE_IMAGE, REPO, SETUP, port_open, remove_app


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.docker)


@pytest.fixture(scope="session")
def engine() -> Any:
    """A docker client; fails (never skips) when the engine or the base image is missing."""
    import docker

    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:
        pytest.fail(f"the Docker Engine is not reachable ({exc}): {SETUP}", pytrace=False)
    try:
        client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"the base image {BASE_IMAGE} is missing: {SETUP}", pytrace=False)
    return client


@pytest.fixture(scope="session")
def services() -> None:
    """Redis and Azurite, which the example app's readiness probes."""
    for name, port in (("Redis", 6379), ("Azurite Table", 10002)):
        if not port_open(port):
            pytest.fail(f"{name} is not listening on 127.0.0.1:{port}: {SETUP}", pytrace=False)


@pytest.fixture
def app_name(engine: Any) -> Iterator[str]:
    """A unique app name; its containers and images are removed afterwards."""
    name = f"t{uuid.uuid4().hex[:8]}"
    yield name
    remove_app(engine, name)


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """The elb_upgrade wheel the example api image installs, built once per test run: the
    first xdist worker to need it builds it, the others wait on the lock and reuse it."""
    base = tmp_path_factory.getbasetemp()
    shared = base if worker_id == "master" else base.parent  # this run's folder
    out = shared / "wheel"
    with (shared / "wheel.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not any(out.glob("elb_upgrade-*.whl")):
            subprocess.run(
                ["uv", "build", "--quiet", "--wheel", "--out-dir", str(out)],
                cwd=REPO,
                check=True,
            )
    return next(out.glob("elb_upgrade-*.whl"))


@pytest.fixture
def clone(app_name: str, tmp_path: Path, wheel: Path, services: None) -> Clone:
    """The example app committed in a fresh git repo, not deployed yet."""
    return Clone(tmp_path, app_name, wheel)


@pytest.fixture
def deployed(clone: Clone) -> Clone:
    """The example app after its first `elb-upgrade full --yes`."""
    done = clone.run("full", "--yes")
    assert done.returncode == 0, done.stdout
    return clone
