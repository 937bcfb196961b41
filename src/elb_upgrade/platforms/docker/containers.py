"""The app's containers on the engine: names, labels, revisions, health.

Labels are the engine-side record of the app, so no state lives outside the engine:
    elb-upgrade.app        the app's name
    elb-upgrade.container  the container's name in the config
    elb-upgrade.revision   the revision (`<app>--<n>`) that created the container
    elb-upgrade.port       the public port it serves behind the proxy (ported containers)
    elb-upgrade.upstream   its private address, `127.0.0.1:<port>` (ported containers)
A ported container runs once per revision, `<app>-<container>--<n>`, so the next revision
starts beside it; a container without a port is `<app>-<container>`, replaced in place.
The app's revision is the newest of its containers' revisions: every deploy creates at
least one container, so that is always the revision the last deploy made.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import Any

APP_LABEL = "elb-upgrade.app"
CONTAINER_LABEL = "elb-upgrade.container"
REVISION_LABEL = "elb-upgrade.revision"
PORT_LABEL = "elb-upgrade.port"
UPSTREAM_LABEL = "elb-upgrade.upstream"
REVISION_ENV = "CONTAINER_APP_REVISION"
PORT_ENV = "PORT"  # how a ported container learns its private port

# A container that crashes is restarted at most this often before docker gives up; a
# revision whose container restarted this often has failed for good (no 180 s wait).
MAX_RESTARTS = 2
LOG_TAIL = 20


def container_name(app: str, container: str) -> str:
    return f"{app}-{container}"


def instance_name(app: str, container: str, revision: str) -> str:
    """A ported container of one revision: `<app>-<container>--<n>`."""
    return f"{app}-{container}--{revision_number(revision)}"


def free_port(taken: set[int]) -> int:
    """A loopback port the OS says is free and no container has been given."""
    for _ in range(100):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in taken:
            return port
    raise RuntimeError("no free loopback port in 100 tries")


def upstreams_in_use(client: Any) -> set[int]:
    """Private ports recorded on every container of every app on this engine."""
    found = client.containers.list(all=True, filters={"label": UPSTREAM_LABEL})
    return {int(c.labels[UPSTREAM_LABEL].rpartition(":")[2]) for c in found}


def upstream(container: Any) -> str:
    return str(container.labels.get(UPSTREAM_LABEL, ""))


def listening(address: str) -> bool:
    """Whether something accepts TCP connections at `host:port`."""
    host, _, port = address.rpartition(":")
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, int(port))) == 0


def revision_name(app: str, number: int) -> str:
    return f"{app}--{number}"


def revision_number(revision: str) -> int:
    """`<app>--<n>` → n; anything else → 0 (never the newest)."""
    _, _, number = revision.rpartition("--")
    return int(number) if number.isdigit() else 0


def app_containers(client: Any, app: str) -> list[Any]:
    """Every container of `app`, running or not."""
    return list(client.containers.list(all=True, filters={"label": f"{APP_LABEL}={app}"}))


def newest_revision(containers: Iterable[Any]) -> str:
    revisions = [c.labels.get(REVISION_LABEL, "") for c in containers]
    return max(revisions, key=revision_number, default="")


def image_of(container: Any) -> str:
    """The image reference the container was created from (not its resolved id)."""
    return str(container.attrs["Config"]["Image"])


def is_healthy(container: Any) -> bool:
    """Running and not crash-looping (`status` must be fresh: reload() first)."""
    return bool(container.status == "running" and restarts(container) < MAX_RESTARTS)


def restarts(container: Any) -> int:
    return int(container.attrs.get("RestartCount", 0))


def failure(container: Any) -> str | None:
    """Why `container` has failed for good, or None while it runs or starts."""
    state = container.attrs.get("State", {})
    if container.status in ("exited", "dead"):
        return f"exited with code {state.get('ExitCode')} after {restarts(container)} restarts"
    if restarts(container) >= MAX_RESTARTS:
        return f"keeps restarting ({restarts(container)} restarts)"
    return None


def log_tail(container: Any, lines: int = LOG_TAIL) -> str:
    raw = container.logs(tail=lines)
    return bytes(raw).decode("utf-8", errors="replace").rstrip()


def hint_for(logs: str) -> str:
    """A next step for failures recognisable from the log (host networking shares ports)."""
    if "address already in use" in logs.lower():
        return " (a port is in use: stop what listens on it, `ss -ltnp`, or change the port)"
    return ""
