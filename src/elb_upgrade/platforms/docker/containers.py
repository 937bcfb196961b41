"""The app's containers on the engine: names, labels, revisions, health.

Labels are the engine-side record of the app, so no state lives outside the engine:
    elb-upgrade.app        the app's name
    elb-upgrade.container  the container's name in the config
    elb-upgrade.revision   the revision (`<app>--<n>`) that created the container
    elb-upgrade.image      the image reference (`repository:tag`) it was deployed as; the
                           container itself runs the image ID, so a moved tag changes nothing
    elb-upgrade.port       the public port it serves behind the proxy (ported containers)
    elb-upgrade.upstream   its private address, `127.0.0.1:<port>` (ported containers)
A ported container runs once per revision, `<app>-<container>--<n>`, so the next revision
starts beside it; a container without a port is `<app>-<container>`, replaced in place.
Images built by the tool carry `elb-upgrade.git-sha`: the commit they were built from.
The app's revision is the newest of its containers' revisions: every deploy creates at
least one container, so that is always the revision the last deploy made.
"""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from elb_upgrade.clock import moment
from elb_upgrade.errors import ConfigError

APP_LABEL = "elb-upgrade.app"
CONTAINER_LABEL = "elb-upgrade.container"
REVISION_LABEL = "elb-upgrade.revision"
IMAGE_LABEL = "elb-upgrade.image"
GIT_SHA_LABEL = "elb-upgrade.git-sha"

PORT_LABEL = "elb-upgrade.port"
UPSTREAM_LABEL = "elb-upgrade.upstream"
OWN_LABELS = frozenset(
    {APP_LABEL, CONTAINER_LABEL, REVISION_LABEL, IMAGE_LABEL, PORT_LABEL, UPSTREAM_LABEL}
)
REVISION_ENV = "CONTAINER_APP_REVISION"
PORT_ENV = "PORT"  # how a ported container learns its private port

# A container that crashes is restarted at most this often before docker gives up; a
# revision whose container restarted this often has failed for good (no 180 s wait).
MAX_RESTARTS = 2
# A new container counts as started once it has run this long without a restart (docker
# swarm's `--update-monitor` idea): a command that crashes a moment after it starts is then
# caught by the gate, not after the run said success.
DEFAULT_MONITOR_SECONDS = 3.0
LOG_TAIL = 20


def container_name(app: str, container: str) -> str:
    return f"{app}-{container}"


def instance_name(app: str, container: str, revision: str) -> str:
    """A ported container of one revision: `<app>-<container>--<n>`."""
    return f"{app}-{container}--{revision_number(revision)}"


EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST_PRIVATE_PORT = 10000


def free_port(taken: set[int], rng: random.Random | None = None) -> int:
    """A loopback port that is free now, no container has been given, and lies below the
    kernel's ephemeral range (`ip_local_port_range`).

    The ephemeral range is where the kernel picks the local port of every outgoing
    connection: a port chosen there can be taken by any client socket on the host (a
    health poll, a load balancer's check) between this choice and the new container's
    bind, and the container then fails with "address already in use". Below the range,
    only another server can take it. Where the range is unknown, the kernel chooses."""
    low, _ = ephemeral_range()
    pick = rng or random.SystemRandom()
    for _ in range(200):
        port = pick.randrange(LOWEST_PRIVATE_PORT, low) if low > LOWEST_PRIVATE_PORT else 0
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            port = int(sock.getsockname()[1])
        if port not in taken:
            return port
    raise RuntimeError("no free loopback port in 200 tries")


def ephemeral_range(path: Path = EPHEMERAL_RANGE) -> tuple[int, int]:
    """The kernel's ephemeral port range; (0, 0) when it cannot be read."""
    try:
        low, high = (int(x) for x in path.read_text().split())
    except (OSError, ValueError):
        return 0, 0
    return low, high


def upstreams_in_use(client: Any) -> set[int]:
    """Private ports recorded on every container of every app on this engine.

    Other apps' runs create and remove containers meanwhile: one removed between the
    engine's list and its inspect is skipped (`ignore_removed`), not a failed deploy."""
    found = client.containers.list(all=True, filters={"label": UPSTREAM_LABEL}, ignore_removed=True)
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
    return list(
        client.containers.list(
            all=True, filters={"label": f"{APP_LABEL}={app}"}, ignore_removed=True
        )
    )


def newest_revision(containers: Iterable[Any]) -> str:
    revisions = [c.labels.get(REVISION_LABEL, "") for c in containers]
    return max(revisions, key=revision_number, default="")


def image_of(container: Any) -> str:
    """The image reference the container was deployed as (not its resolved id)."""
    labels = container.attrs["Config"].get("Labels") or {}
    return str(labels.get(IMAGE_LABEL) or container.attrs["Config"]["Image"])


def image_id(container: Any) -> str:
    """The immutable ID (`sha256:…`) of the image the container runs."""
    return str(container.attrs.get("Image", ""))


def applied_spec(container: Any) -> dict[str, Any]:
    """What the engine applied to `container`, as plain JSON, without our bookkeeping
    (the revision's env variable, a ported container's private `PORT`, our labels): what
    a restore re-applies exactly."""
    config, host = container.attrs["Config"], container.attrs.get("HostConfig") or {}
    env = dict(e.partition("=")[::2] for e in config.get("Env") or ())
    env.pop(REVISION_ENV, None)
    if (config.get("Labels") or {}).get(UPSTREAM_LABEL):
        env.pop(PORT_ENV, None)  # each revision gets a private port of its own
    labels = {k: v for k, v in (config.get("Labels") or {}).items() if k not in OWN_LABELS}
    policy = host.get("RestartPolicy") or {}
    return {
        "command": list(config.get("Cmd") or ()),
        "env": dict(sorted(env.items())),
        "labels": dict(sorted(labels.items())),
        "restart_policy": {
            "Name": str(policy.get("Name") or ""),
            "MaximumRetryCount": int(policy.get("MaximumRetryCount") or 0),
        },
        "network_mode": str(host.get("NetworkMode") or ""),
        "ports": host.get("PortBindings") or {},
    }


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


def seconds_setting(settings: Mapping[str, str], key: str, default: float, most: float) -> float:
    """`[platform] <key> = "N"` (or `ELB_<KEY>` in the environment), from 0 to `most`."""
    raw = settings.get(key) or settings.get(f"ELB_{key.upper()}") or ""
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= most:
        raise ConfigError(
            f"{key} must be a number of seconds from 0 to {most:g} (got {raw[:20]!r}); "
            "nothing was changed",
            hint=f'fix [platform] {key} in elb-upgrade.toml, e.g. {key} = "{default:g}"',
        )
    return value


def monitor_seconds(settings: Mapping[str, str]) -> float:
    """How long a new container must run without a restart to count as started; 0 trusts
    "running" at once."""
    return seconds_setting(settings, "monitor_seconds", DEFAULT_MONITOR_SECONDS, 600)


class Uptime:
    """How long each container has run without a restart.

    The longer of two readings: how long this process has watched it running with the same
    restart count (its own monotonic clock), and the engine's `State.StartedAt` against
    this host's wall clock (a container that started before this run began, such as the
    one a second rollback finds serving). A remote engine's clock skew can only make the
    second reading wrong, never the first."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._clock, self._wall = clock, wall
        self._since: dict[str, tuple[int, float]] = {}

    def settled(self, container: Any, seconds: float) -> bool:
        """True once `container` has been running, with no new restart, for `seconds`."""
        if container.status != "running":
            self._since.pop(container.id, None)
            return False
        now, count = self._clock(), restarts(container)
        first = self._since.get(container.id)
        if first is None or first[0] != count:
            first = self._since[container.id] = (count, now)
        return max(now - first[1], self._engine_uptime(container)) >= seconds

    def _engine_uptime(self, container: Any) -> float:
        started = started_at(container)
        return 0.0 if started is None else self._wall() - started


def started_at(container: Any) -> float | None:
    """The engine's `State.StartedAt` as a POSIX time (None when missing or unreadable;
    the engine says `0001-01-01T00:00:00Z` for a container that never started)."""
    when = moment(container.attrs.get("State", {}).get("StartedAt"))
    return None if when is None or when.year == 1 else when.timestamp()
