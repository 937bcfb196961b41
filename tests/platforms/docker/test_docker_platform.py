"""DockerPlatform against the real engine, with tiny images built from the base image."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from dockerkit import BASE_IMAGE, port_open, remove_app

from elb_upgrade.errors import (
    BuildError,
    ImageMissingError,
    PlatformError,
    PlatformUnavailable,
)
from elb_upgrade.platforms.base import RevisionState
from elb_upgrade.platforms.docker import DockerPlatform
from elb_upgrade.spec import AppSpec, ContainerSpec, ImageSpec
from fakes.services import free_port
from fakes.wait import wait_until

# A web server that says which revision it is; SERVE_MARK makes two builds differ.
SERVER = """\
import os, http.server as h
print("serving", os.environ["CONTAINER_APP_REVISION"], os.environ.get("MARK"), flush=True)
h.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), h.BaseHTTPRequestHandler).serve_forever()
"""
CRASH = 'import sys; print("boom: cannot connect to the database", flush=True); sys.exit(3)'


def write_image(folder: Path, program: str, mark: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "main.py").write_text(program)
    (folder / "Dockerfile").write_text(
        f"ARG BASE_IMAGE={BASE_IMAGE}\nFROM ${{BASE_IMAGE}}\nENV MARK={mark or 'none'}\n"
        'COPY main.py /main.py\nCMD ["python3", "/main.py"]\n'
    )
    return folder


class Kit:
    """One app of two containers (`web` serves readiness, `side`) on free ports."""

    def __init__(self, name: str, root: Path, client: Any) -> None:
        self.name, self.root, self.client = name, root, client
        self.ports = {"web": free_port(), "side": free_port()}
        images = (
            ImageSpec("server", f"{name}-server", write_image(root / "server", SERVER)),
            ImageSpec("crash", f"{name}-crash", write_image(root / "crash", CRASH)),
        )
        containers = tuple(
            ContainerSpec(c, "server", env={"PORT": str(p)}) for c, p in self.ports.items()
        )
        self.spec = AppSpec(name, containers, images, main_container="web")
        self.platform = DockerPlatform(self.spec)
        self.lines: list[str] = []

    def build(self, key: str = "server", tag: str = "v1", mark: str = "") -> str:
        image = next(i for i in self.spec.images if i.key == key)
        if mark:
            write_image(image.context, SERVER, mark)
        return self.platform.build(image, tag, self.lines.append)

    def container(self, name: str) -> Any:
        return self.client.containers.get(f"{self.name}-{name}")

    def wait_state(
        self, deployment: Any, want: RevisionState, platform: DockerPlatform | None = None
    ) -> Any:
        seconds = 120  # a guard against a hang, not a speed target (bench_docker measures it)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            status = (platform or self.platform).revision_status(deployment)
            if status.state is want:
                return status
            time.sleep(0.2)
        pytest.fail(f"revision {deployment.revision} not {want} after {seconds}s: {status}")


@pytest.fixture
def kit(app_name: str, tmp_path: Path, engine: Any) -> Kit:
    return Kit(app_name, tmp_path, engine)


def test_build_tags_repository_colon_tag_and_streams_the_log(kit: Kit) -> None:
    ref = kit.build(tag="v1")
    assert ref == f"{kit.name}-server:v1"
    assert kit.platform.image_exists(ref)
    assert any("Successfully tagged" in line for line in kit.lines)


def test_image_exists_is_false_for_an_unknown_image(kit: Kit) -> None:
    assert not kit.platform.image_exists(f"{kit.name}-server:never-built")


def test_failed_build_raises_build_error_with_the_last_lines(kit: Kit) -> None:
    context = kit.root / "broken"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM {BASE_IMAGE}\nRUN echo marker-before-failure && exit 7\n"
    )
    with pytest.raises(BuildError) as caught:
        kit.platform.build(ImageSpec("broken", f"{kit.name}-broken", context), "v1", print)
    assert "marker-before-failure" in caught.value.log_tail
    assert len(caught.value.log_tail.splitlines()) <= 30
    assert "non-zero code" in caught.value.message


def test_build_without_a_dockerfile_names_the_setting_to_fix(kit: Kit, tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="no Dockerfile"):
        kit.platform.build(ImageSpec("x", f"{kit.name}-x", tmp_path / "empty"), "v1", print)


def test_current_is_empty_before_the_first_deploy(kit: Kit) -> None:
    state = kit.platform.current()
    assert (state.revision, state.images) == ("", ())


def test_first_deploy_creates_labelled_containers_on_the_host_network(kit: Kit) -> None:
    ref = kit.build()
    deployment = kit.platform.deploy({"web": ref, "side": ref}, kit.lines.append)
    revision = f"{kit.name}--1"
    assert (deployment.revision, deployment.readiness_revision) == (revision, revision)
    for name in ("web", "side"):
        attrs = kit.container(name).attrs
        assert attrs["HostConfig"]["NetworkMode"] == "host"
        assert attrs["Config"]["Labels"] == {
            "elb-upgrade.app": kit.name,
            "elb-upgrade.container": name,
            "elb-upgrade.revision": revision,
            "elb-upgrade.image": ref,
        }
        assert f"CONTAINER_APP_REVISION={revision}" in attrs["Config"]["Env"]
    kit.wait_state(deployment, RevisionState.RUNNING)
    state = kit.platform.current()
    assert state.revision == revision
    assert {(c.name, c.image) for c in state.images} == {("web", ref), ("side", ref)}


def test_later_deploy_replaces_only_the_containers_whose_image_changed(kit: Kit) -> None:
    v1 = kit.build(tag="v1")
    kit.platform.deploy({"web": v1, "side": v1}, print)
    side_before = kit.container("side").id
    v2 = kit.build(tag="v2", mark="two")
    deployment = kit.platform.deploy({"web": v2, "side": v1}, print)
    assert deployment.revision == f"{kit.name}--2"
    assert kit.container("side").id == side_before
    web = kit.container("web")
    assert web.labels["elb-upgrade.revision"] == f"{kit.name}--2"
    assert f"CONTAINER_APP_REVISION={kit.name}--2" in web.attrs["Config"]["Env"]
    assert kit.platform.current().image_of("web") == v2
    kit.wait_state(deployment, RevisionState.RUNNING)


def test_readiness_revision_is_none_when_the_main_container_was_not_redeployed(kit: Kit) -> None:
    v1 = kit.build(tag="v1")
    kit.platform.deploy({"web": v1, "side": v1}, print)
    v2 = kit.build(tag="v2", mark="two")
    deployment = kit.platform.deploy({"side": v2}, print)
    assert deployment.revision == f"{kit.name}--2"
    assert deployment.readiness_revision is None
    assert kit.platform.current().revision == f"{kit.name}--2"


def test_a_deploy_with_nothing_changed_is_still_a_new_running_revision(kit: Kit) -> None:
    v1 = kit.build()
    kit.platform.deploy({"web": v1}, print)
    deployment = kit.platform.deploy({"web": v1}, print)
    assert deployment.readiness_revision == f"{kit.name}--2"
    assert kit.container("web").labels["elb-upgrade.revision"] == f"{kit.name}--2"


def test_a_crash_on_start_is_reported_failed_with_its_log(kit: Kit) -> None:
    v1 = kit.build()
    kit.platform.deploy({"web": v1, "side": v1}, print)
    crash = kit.build(key="crash")
    deployment = kit.platform.deploy({"web": crash}, print)
    status = kit.wait_state(deployment, RevisionState.FAILED)
    assert f"{kit.name}-web" in status.detail
    assert "boom: cannot connect to the database" in status.detail


def test_a_port_in_use_fails_the_revision_and_says_so(kit: Kit, engine: Any) -> None:
    v1 = kit.build()
    kit.platform.deploy({"web": v1}, print)
    wait_until(lambda: port_open(kit.ports["web"]))
    clash = DockerPlatform(
        AppSpec(f"{kit.name}x", kit.spec.containers, kit.spec.images, main_container="web")
    )
    try:
        deployment = clash.deploy({"web": v1}, print)
        status = kit.wait_state(deployment, RevisionState.FAILED, clash)
        assert "a port is in use" in status.detail
    finally:
        remove_app(engine, f"{kit.name}x")


def test_deploying_a_missing_image_fails_before_touching_the_app(kit: Kit) -> None:
    v1 = kit.build()
    kit.platform.deploy({"web": v1}, print)
    before = kit.container("web").id
    with pytest.raises(ImageMissingError, match="never-built"):
        kit.platform.deploy({"web": f"{kit.name}-server:never-built"}, print)
    assert kit.container("web").id == before
    assert kit.container("web").status == "running"


def test_deploying_nothing_or_an_unknown_container_is_refused(kit: Kit) -> None:
    with pytest.raises(PlatformError, match="nothing to deploy"):
        kit.platform.deploy({}, print)
    with pytest.raises(PlatformError, match="unknown containers"):
        kit.platform.deploy({"nope": "x:1"}, print)
    assert kit.platform.current().images == ()


def test_follow_logs_streams_the_log_until_the_container_stops(kit: Kit) -> None:
    v1 = kit.build()
    kit.platform.deploy({"web": v1}, print)
    out = io.StringIO()
    follower = threading.Thread(target=kit.platform.follow_logs, args=("web", out))
    follower.start()
    wait_until(lambda: f"serving {kit.name}--1" in out.getvalue(), what="the first log line")
    kit.container("web").stop(timeout=5)
    follower.join(timeout=60)
    assert not follower.is_alive()


def test_an_unreachable_engine_raises_platform_unavailable_naming_the_fix(kit: Kit) -> None:
    spec = AppSpec(
        kit.name,
        kit.spec.containers,
        kit.spec.images,
        "web",
        settings={"DOCKER_HOST": "unix:///nonexistent/docker.sock"},
    )
    with pytest.raises(PlatformUnavailable) as caught:
        DockerPlatform(spec).check()
    assert "scripts/setup.sh" in str(caught.value)
