"""Helpers for the Docker tests: names, ports, clean-up (fixtures are in conftest.py)."""

from __future__ import annotations

import contextlib
import queue
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
PROXY_LABEL = "elb-upgrade.proxy-of"
PROXY_STATE = Path("/var/lib/elb-upgrade/proxy")  # the default as root (tests run as root)
BASE_IMAGE = "elb-base:bookworm"
SETUP = "run scripts/setup.sh (it starts the Docker Engine, Redis and Azurite and builds "
SETUP += f"{BASE_IMAGE})"


def remove_app(client: Any, name: str) -> None:
    """Remove what a test made for app `name`: its containers (by their app label), its
    proxy with the proxy's state, and its own image tags (repositories `name-*`).

    Never by image ID and never another tag: identical builds (the example's frontend and
    terminal images) share one image ID across every copy of the app, and a deployed app's
    snapshot needs its own tags to roll back. Untagging the last tag removes the image.
    """
    import docker.errors

    _remove_containers(client, name)
    shutil.rmtree(PROXY_STATE / name, ignore_errors=True)
    # One listing call: `images.list()` inspects each image after listing, which fails
    # when another test removes an image in between. Only this app's own tags go: another
    # app's tag of the same image (same layers, same ID) is never touched. `noprune`: the
    # untagged parent layers stay, since another worker's build may be using them as its
    # cache at this moment.
    for image in client.api.images():
        for tag in image.get("RepoTags") or []:
            if tag.startswith(f"{name}-"):
                with contextlib.suppress(docker.errors.NotFound):
                    # force: a run the test killed may have started one more container
                    # of the app after the pass above; it goes in the pass below
                    client.images.remove(tag, noprune=True, force=True)
    _remove_containers(client, name)


def _remove_containers(client: Any, name: str) -> None:
    """The app's containers and its proxy, each skipped if already gone."""
    import docker.errors

    for label in (f"elb-upgrade.app={name}", f"{PROXY_LABEL}={name}"):
        found = client.containers.list(all=True, filters={"label": label}, ignore_removed=True)
        for container in found:
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)


def instances(client: Any, app: str, container: str) -> list[Any]:
    """Every container of `app` that runs `container` (one per revision behind a proxy)."""
    labels = [f"elb-upgrade.app={app}", f"elb-upgrade.container={container}"]
    return list(client.containers.list(all=True, filters={"label": labels}))


def image_of(client: Any, app: str, container: str) -> str:
    """The image of the one container of `app` running `container` (asserts there is one)."""
    found = instances(client, app, container)
    assert len(found) == 1, [c.name for c in found]
    return str(found[0].attrs["Config"]["Image"])


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Lines:
    """A running CLI's output, read line by line with the time each line arrived."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.seen: list[tuple[float, str]] = []
        self._queue: queue.Queue[tuple[float, str] | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put((time.monotonic(), line))
        self._queue.put(None)

    def wait_for(self, pattern: str, seconds: float = 120, after: float = 0.0) -> float:
        """When the first line matching `pattern` arrived (at or after `after`)."""
        for at, line in self.seen:
            if at >= after and re.search(pattern, line):
                return at
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                item = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if item is None:
                break
            self.seen.append(item)
            if item[0] >= after and re.search(pattern, item[1]):
                return item[0]
        raise AssertionError(f"no line matching {pattern!r}:\n{self.text()}")

    def finish(self, seconds: float = 120) -> int:
        code = self.process.wait(timeout=seconds)
        while (item := self._queue.get(timeout=60)) is not None:
            self.seen.append(item)
        return code

    def text(self) -> str:
        return "".join(line for _, line in self.seen)


def serving_container(client: Any, app: str, name: str) -> Any:
    """The running container of `app`'s container `name` (behind the proxy a ported one is
    `<app>-<name>--<n>`: the newest running revision; without a port `<app>-<name>`)."""
    found = client.containers.list(
        filters={"label": [f"elb-upgrade.app={app}", f"elb-upgrade.container={name}"]}
    )
    if not found:
        raise LookupError(f"no running container {name} of {app}")
    return max(found, key=lambda c: int(c.labels["elb-upgrade.revision"].rpartition("--")[2]))
