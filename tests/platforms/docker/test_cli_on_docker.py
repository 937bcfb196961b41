"""`status` against the real docker platform, and the guide's manual docker rollback.

Needs the Docker Engine and the base image (`scripts/setup.sh`); fails, never skips,
without them. The app's only container sleeps: readiness is the test's own server.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from elb_upgrade import config, lock, snapshot
from elb_upgrade.platforms.base import AppState, ContainerImage
from elb_upgrade.platforms.docker import DockerPlatform
from fakes.git import commit_all, git
from fakes.sandbox import Env, blocks, ready_body

pytestmark = pytest.mark.docker
BASE_IMAGE = "elb-base:bookworm"
SLEEP = ["python3", "-c", "import time; time.sleep(600)"]
CONFIG = """\
[app]
name = "{app}"
platform = "docker"
readiness_url = "{url}"

[images.api]
repository = "{app}-api"

[containers.api]
image = "api"
command = {command}
env = {{ GREETING = "hello there", PORT = "0" }}

[scopes]
api = ["api"]
"""


@pytest.fixture
def engine() -> Any:
    import docker

    try:
        client = docker.from_env(timeout=120)
        client.ping()
        client.images.get(BASE_IMAGE)
    except Exception as exc:
        pytest.fail(f"needs the Docker Engine and {BASE_IMAGE}: run scripts/setup.sh ({exc})")
    return client


@pytest.fixture
def docker_app(engine: Any, sandbox: Env, readiness: Any) -> Iterator[tuple[Env, str]]:
    """App `opst-<id>` running `<app>-api:v2` (revision 1); its snapshot lists v1."""
    app = f"opst-{uuid.uuid4().hex[:8]}"
    base = engine.images.get(BASE_IMAGE)
    for version in ("v1", "v2"):
        base.tag(f"{app}-api", version)
    path = sandbox.root / "elb-upgrade.toml"
    command = json.dumps(SLEEP)
    path.write_text(CONFIG.format(app=app, url=readiness.url, command=command))
    sandbox.env["ELB_UPGRADE_CONFIG"] = str(path)
    readiness.set(200, ready_body(f"{app}--1"))
    cfg = config.load(path, sandbox.env)
    try:
        DockerPlatform(cfg.app).deploy({"api": f"{app}-api:v2"}, lambda _line: None)
        before = AppState(f"{app}--0", (ContainerImage("api", f"{app}-api:v1"),))
        snapshot.write(
            sandbox.snapshot, snapshot.Snapshot(app, "docker", "2026-05-23T03:22:49Z", before)
        )
        yield sandbox, app
    finally:
        for container in engine.containers.list(
            all=True, filters={"label": f"elb-upgrade.app={app}"}
        ):
            container.remove(force=True)
        for version in ("v1", "v2"):
            engine.images.remove(f"{app}-api:{version}", noprune=True)


def _status(sandbox: Env) -> dict[str, Any]:
    done = sandbox.run("status", "--json")
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_status_reads_the_running_app_from_the_engine(docker_app: tuple[Env, str]) -> None:
    sandbox, app = docker_app
    data = _status(sandbox)
    assert data["platform"] == "docker"
    assert data["running"] == {
        "revision": f"{app}--1",
        "images": [{"name": "api", "image": f"{app}-api:v2"}],
    }
    assert data["snapshot"]["state"] == "differs"
    assert data["snapshot"]["differences"] == [f"api: snapshot {app}-api:v1, running {app}-api:v2"]
    text = sandbox.run("status").stdout
    assert f"running: revision {app}--1\n  api  {app}-api:v2\n" in text


def test_the_guides_manual_docker_rollback_works(
    docker_app: tuple[Env, str], readiness: Any
) -> None:
    sandbox, app = docker_app
    manual = next(b for b in blocks("sh") if "docker run" in b)
    old_image = re.search(r"(elb-dashboard-api:\S+)$", manual, re.M)
    assert old_image is not None
    script = (
        manual.replace(old_image.group(1), f"{app}-api:v1 {' '.join(map(repr, SLEEP))}")
        .replace("/tmp/elb-dashboard-api.env", str(sandbox.root / "api.env"))
        .replace("http://127.0.0.1:8000/api/health/ready", readiness.url)
        .replace("elb-dashboard", app)
    )
    for line in script.splitlines():
        done = sandbox.shell(line)
        assert done.returncode == 0, f"{line}\n{done.stderr}"
    data = _status(sandbox)
    assert data["running"]["images"] == [{"name": "api", "image": f"{app}-api:v1"}]
    assert data["running"]["revision"] == f"{app}--manual"
    assert data["snapshot"]["state"] == "matches"
    env = (sandbox.root / "api.env").read_text().splitlines()
    assert "GREETING=hello there" in env and not any(e.startswith("CONTAINER_APP_REV") for e in env)


LOGGING = ["python3", "-u", "-c", "print('hello from api'); import time; time.sleep(600)"]


@pytest.fixture
def logging_app(engine: Any, sandbox: Env, readiness: Any) -> Iterator[tuple[Env, str, Path]]:
    """A git checkout of app `oplg-<id>` whose api prints a line, then sleeps; not deployed."""
    app = f"oplg-{uuid.uuid4().hex[:8]}"
    checkout = sandbox.root / "checkout"
    (checkout / "api").mkdir(parents=True)
    (checkout / "api" / "Dockerfile").write_text(f"FROM {BASE_IMAGE}\n")
    text = CONFIG.format(app=app, url=readiness.url, command=json.dumps(LOGGING))
    (checkout / "elb-upgrade.toml").write_text(text.replace(
        f'repository = "{app}-api"', f'repository = "{app}-api"\ncontext = "api"'
    ))  # fmt: skip
    git(checkout, "init", "-q", "-b", "main", env=sandbox.env)
    commit_all(checkout, "init", env=sandbox.env)
    sandbox.env["ELB_UPGRADE_CONFIG"] = str(checkout / "elb-upgrade.toml")
    readiness.set(200, ready_body(f"{app}--1"))
    try:
        yield sandbox, app, checkout
    finally:
        for container in engine.containers.list(
            all=True, filters={"label": f"elb-upgrade.app={app}"}
        ):
            container.remove(force=True)
        with contextlib.suppress(Exception):
            engine.images.remove(f"{app}-api:v3", noprune=True)  # only this test's tag


def test_logs_follows_a_real_container_after_the_run_is_recorded_and_unlocked(
    logging_app: tuple[Env, str, Path],
) -> None:
    sandbox, app, checkout = logging_app
    proc = subprocess.Popen(
        [sys.executable, "-m", "elb_upgrade", "api", "--logs", "--tag", "v3"],
        cwd=checkout,
        env=sandbox.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:  # the summary first, then the container's own log
        seen.append(line)
        if "hello from api" in line:
            break
    assert seen[0].startswith(f"success: {app} api → {app}--1"), seen
    [entry] = [json.loads(x) for x in sandbox.history.read_text().splitlines()]
    assert (entry["app"], entry["result"], entry["exit_code"]) == (app, "success", 0)
    assert not lock.is_held(lock.lock_path(snapshot.default_path(app, sandbox.env)))
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err  # the run's exit code, not 143
    assert "stopped following the log; the run's result stands: success (exit 0)" in err
    assert len(sandbox.history.read_text().splitlines()) == 1
