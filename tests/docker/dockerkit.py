"""Helpers for the Docker tests: names, ports, clean-up (fixtures are in conftest.py)."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BASE_IMAGE = "elb-base:bookworm"
SETUP = "run scripts/setup.sh (it starts the Docker Engine, Redis and Azurite and builds "
SETUP += f"{BASE_IMAGE})"


def remove_app(client: Any, name: str) -> None:
    """Remove what a test made for app `name`: its containers (by their app label) and its
    own image tags (repositories `name-*`).

    Never by image ID and never another tag: identical builds (the example's frontend and
    terminal images) share one image ID across every copy of the app, and a deployed app's
    snapshot needs its own tags to roll back. Untagging the last tag removes the image.
    """
    for container in client.containers.list(all=True, filters={"label": f"elb-upgrade.app={name}"}):
        container.remove(force=True)
    import docker.errors

    # One listing call: `images.list()` inspects each image after listing, which fails
    # when another test removes an image in between. Only this app's own tags go: another
    # app's tag of the same image (same layers, same ID) is never touched.
    for image in client.api.images():
        for tag in image.get("RepoTags") or []:
            if tag.startswith(f"{name}-"):
                with contextlib.suppress(docker.errors.NotFound):
                    client.images.remove(tag)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_until(check: Callable[[], bool], seconds: float = 15, what: str = "") -> None:
    """Poll `check` until it is true; AssertionError after `seconds`."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {seconds}s: {what or check}")
        time.sleep(0.1)
