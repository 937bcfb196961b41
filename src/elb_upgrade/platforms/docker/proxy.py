"""The app's reverse proxy: HAProxy 2.6 in a container on the host network.

    proxy = Proxy(client, app, settings)       # <app>-proxy, state in <dir>/<app>/
    proxy.ensure(listens, log)                 # build the image / start it when missing
    proxy.switch("api", "127.0.0.1:41234")     # the port's upstream, in one CLI write
    proxy.sessions("api", slot)                # in-flight requests on a slot (drain)

One proxy per app, `<app>-proxy`, labelled `elb-upgrade.proxy-of=<app>`. Each public
port is a `listen` section named after its container with two server slots, `blue` and
`green`: one takes traffic, the other waits in maintenance for the next revision. A switch
points the idle slot at the new revision's private address, makes it ready and puts the
old slot in `drain` (its in-flight requests finish, no new ones arrive) through the
runtime API (a unix socket in the state directory), then rewrites `haproxy.cfg` from the
runtime state, so a restarted proxy routes where the running one did. The runtime state
is the truth; the file follows it.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elb_upgrade.errors import PlatformError, PlatformUnavailable
from elb_upgrade.platforms.base import LogSink
from elb_upgrade.platforms.docker.engine import translated

PROXY_LABEL = "elb-upgrade.proxy-of"
# The image's tag names HAProxy's branch and this recipe's revision: a new recipe gets a
# new tag, so a running proxy is never replaced behind the operator's back (see
# docs/operate/upgrade.md, "Upgrading the proxy").
IMAGE = "elb-proxy:haproxy-2.6-r1"
SLOTS = ("blue", "green")
MOUNT = "/etc/elb-proxy"
SOCKET = "admin.sock"
CONFIG = "haproxy.cfg"
ANSWER_TIMEOUT = 5.0
START_TIMEOUT = 15.0

DOCKERFILE = """\
ARG BASE_IMAGE=elb-base:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update -qq \\
    && apt-get install -y -qq --no-install-recommends haproxy socat >/dev/null \\
    && rm -rf /var/lib/apt/lists/* && haproxy -v
LABEL elb-upgrade.proxy-image="haproxy-2.6-r1"
# SIGUSR1 is HAProxy's soft stop: stop listening, let open connections finish.
STOPSIGNAL SIGUSR1
CMD ["haproxy", "-W", "-db", "-f", "/etc/elb-proxy/haproxy.cfg"]
"""

# Long client/server/tunnel timeouts: streaming responses and websockets stay open
# through a switch. A connection refused or an empty answer on a fresh connection is
# retried on the other ready slot (never a request the upstream may have started on).
HEAD = f"""\
# Written by elb-upgrade for the app {{app}}; rewritten after every traffic switch.
# Do not edit: the public ports come from [containers.*] port in elb-upgrade.toml.
global
    stats socket {MOUNT}/{SOCKET} mode 600 level admin
    stats timeout 30s

defaults
    mode http
    option http-keep-alive
    timeout connect 2s
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h
    timeout http-request 30s
    timeout http-keep-alive 10s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response
"""


@dataclass(frozen=True)
class Slot:
    """One server slot of a listen section, as the runtime API reports it."""

    name: str
    addr: str  # "127.0.0.1:41234"; ":0"-ish placeholders for a never-used slot
    status: str  # "no check" (ready), "DRAIN", "MAINT"
    sessions: int

    @property
    def ready(self) -> bool:
        return self.status not in ("MAINT", "DRAIN")


@dataclass(frozen=True)
class Listen:
    """One public port: its section name (the container), port and slots."""

    name: str
    port: int
    slots: tuple[Slot, ...] = ()

    @property
    def active(self) -> Slot | None:
        return next((s for s in self.slots if s.ready), None)

    def slot(self, name: str) -> Slot | None:
        return next((s for s in self.slots if s.name == name), None)


def render(app: str, listens: Iterable[Listen]) -> str:
    """`haproxy.cfg` for `listens`: each ready slot enabled, every other one disabled."""
    parts = [HEAD.format(app=app)]
    for listen in listens:
        parts.append(f"\nlisten {listen.name}\n    bind 127.0.0.1:{listen.port}\n")
        for name in SLOTS:
            found = listen.slot(name)
            addr = found.addr if found and ":" in found.addr else "127.0.0.1:1"
            off = "" if found and found.ready else " disabled"
            parts.append(f"    server {name} {addr}{off}\n")
    return "".join(parts)


def parse_stat(text: str) -> dict[str, list[Slot]]:
    """`show stat` CSV → section name → its server slots."""
    rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
    found: dict[str, list[Slot]] = {}
    for row in rows:
        name, server = row.get("pxname") or "", row.get("svname") or ""
        if server in SLOTS:
            found.setdefault(name, []).append(
                Slot(server, row.get("addr") or "", row.get("status") or "", _int(row.get("scur")))
            )
    return found


def _int(value: str | None) -> int:
    return int(value) if value and value.isdigit() else 0


def bound_ports(config_text: str) -> dict[str, int]:
    """Section name → public port, from a `haproxy.cfg` this module wrote."""
    found: dict[str, int] = {}
    section = ""
    for line in config_text.splitlines():
        words = line.split()
        if words[:1] == ["listen"] and len(words) > 1:
            section = words[1]
        elif words[:1] == ["bind"] and section and ":" in words[-1]:
            port = words[-1].rpartition(":")[2]
            if port.isdigit():
                found[section] = int(port)
    return found


def state_root(settings: Mapping[str, str]) -> Path:
    """Where each app's proxy keeps haproxy.cfg and its admin socket (`ELB_PROXY_DIR`)."""
    chosen = settings.get("ELB_PROXY_DIR")
    if chosen:
        return Path(chosen).expanduser()
    if os.geteuid() == 0:
        return Path("/var/lib/elb-upgrade/proxy")
    state = settings.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "elb-upgrade" / "proxy"


class Proxy:
    """The reverse proxy of one app: its container, config file and runtime API."""

    def __init__(self, client: Any, app: str, settings: Mapping[str, str]) -> None:
        self.client, self.app = client, app
        self.name = f"{app}-proxy"
        self.image = settings.get("ELB_PROXY_IMAGE") or IMAGE
        self.base_image = settings.get("ELB_BASE_IMAGE") or "elb-base:bookworm"
        self.dir = state_root(settings) / app

    # -- the container -------------------------------------------------------------
    def container(self) -> Any:
        """The proxy container, or None when this app has none yet."""
        import docker.errors

        with translated(f"looking up {self.name}"):
            try:
                return self.client.containers.get(self.name)
            except docker.errors.NotFound:
                return None

    def state_dir(self, container: Any) -> Path:
        """The host folder mounted into `container` (the running one's, not the setting)."""
        for mount in container.attrs.get("Mounts", []):
            if mount.get("Destination") == MOUNT:
                return Path(str(mount["Source"]))
        return self.dir

    def ensure(self, listens: Iterable[Listen], log: LogSink) -> None:
        """Start the proxy (building its image first) when this app has none."""
        if self.container() is not None:
            return
        self.ensure_image(log)
        listens = list(listens)
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write(self.dir / CONFIG, render(self.app, listens))
        with contextlib.suppress(FileNotFoundError):
            (self.dir / SOCKET).unlink()  # a dead proxy's socket file
        ports = ", ".join(f"{x.name} on 127.0.0.1:{x.port}" for x in listens)
        log(f"starting the proxy {self.name} ({ports}; state in {self.dir})")
        with translated(f"starting {self.name}"):
            self.client.containers.run(
                self.image,
                name=self.name,
                detach=True,
                network_mode="host",
                volumes={str(self.dir): {"bind": MOUNT, "mode": "rw"}},
                labels={PROXY_LABEL: self.app},
                restart_policy={"Name": "unless-stopped"},
            )
        self._wait_started()

    def ensure_image(self, log: LogSink) -> str:
        return ensure_image(self.client, self.image, self.base_image, log)

    def _wait_started(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            problem = self.problem()
            if problem is None:
                return
            if time.monotonic() > deadline:
                raise PlatformError(
                    f"the proxy {self.name} did not start: {problem}",
                    hint=f"read `docker logs {self.name}`; a public port may be in use "
                    "(ss -ltnp): free it, `docker rm -f " + self.name + "` and rerun",
                )
            time.sleep(0.1)

    def problem(self) -> str | None:
        """Why the proxy cannot route now, or None when it runs and answers."""
        container = self.container()
        if container is None:
            return "it does not exist"
        if container.status != "running":
            logs = bytes(container.logs(tail=5)).decode(errors="replace").strip()
            return f"it is {container.status} (last log lines: {logs or 'none'})"
        try:
            self.command("show info")
        except PlatformError as exc:
            return exc.message
        return None

    # -- the runtime API -----------------------------------------------------------
    def socket_path(self) -> Path:
        container = self.container()
        return (self.state_dir(container) if container is not None else self.dir) / SOCKET

    def command(self, line: str) -> str:
        """Send one runtime API command line (`;` separates several); return the answer."""
        path = self.socket_path()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(ANSWER_TIMEOUT)
                sock.connect(str(path))
                sock.sendall(line.encode() + b"\n")
                chunks = []
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
        except OSError as exc:
            raise PlatformUnavailable(
                f"the proxy {self.name} does not answer on {path} ({exc.strerror or exc})",
                hint=f"`docker restart {self.name}` (its routes come back from {CONFIG})",
            ) from exc
        return b"".join(chunks).decode(errors="replace")

    def listens(self) -> dict[str, Listen]:
        """Every listen section the running proxy has, with its slots."""
        container = self.container()
        if container is None:
            return {}
        ports = bound_ports(_read(self.state_dir(container) / CONFIG))
        slots = parse_stat(self.command("show stat -1 4 -1"))
        return {
            name: Listen(name, ports.get(name, 0), tuple(found)) for name, found in slots.items()
        }

    def switch(self, name: str, upstream: str) -> tuple[Listen, Slot | None]:
        """Route `name`'s public port to `upstream`; return the listen and the old slot."""
        listen = self.listens().get(name)
        if listen is None:
            raise PlatformError(
                f"the proxy {self.name} has no section for {name}",
                hint=f"`docker rm -f {self.name}` and rerun: the next deploy recreates it",
            )
        old = listen.active
        spare = next(s for s in SLOTS if old is None or s != old.name)
        host, _, port = upstream.rpartition(":")
        commands = [
            f"set server {name}/{spare} addr {host} port {port}",
            f"set server {name}/{spare} state ready",
        ]
        if old is not None:
            commands.append(f"set server {name}/{old.name} state drain")
        answer = self.command("; ".join(commands))
        if answer.strip() and "changed" not in answer:
            raise PlatformError(
                f"the proxy {self.name} refused to switch {name}: {answer.strip()[:200]}",
                hint=f"read `docker logs {self.name}`; the old revision still serves",
            )
        return listen, old

    def retire(self, name: str, slot: str) -> None:
        """Take a drained slot out of rotation for good."""
        self.command(f"set server {name}/{slot} state maint")

    def sessions(self, name: str, slot: str) -> int:
        found = self.listens().get(name)
        server = found.slot(slot) if found else None
        return server.sessions if server else 0

    def save(self) -> None:
        """Rewrite haproxy.cfg from the runtime state (a restart routes the same way)."""
        container = self.container()
        if container is None:
            return
        listens = self.listens().values()
        _write(self.state_dir(container) / CONFIG, render(self.app, listens))


def ensure_image(client: Any, image: str, base_image: str, log: LogSink) -> str:
    """Build the proxy image `image` from `base_image` unless it exists (scripts/setup.sh)."""
    import docker.errors

    with translated(f"building {image}"):
        try:
            client.images.get(image)
            return image
        except docker.errors.ImageNotFound:
            pass
        log(f"building the proxy image {image} (HAProxy from Debian, once)")
        try:
            client.images.build(
                fileobj=io.BytesIO(DOCKERFILE.encode()),
                tag=image,
                buildargs={"BASE_IMAGE": base_image},
                network_mode="host",
                rm=True,
                forcerm=True,
            )
        except docker.errors.BuildError as exc:
            raise PlatformError(
                f"building the proxy image {image} failed: {exc.msg}",
                hint="the build runs `apt-get install haproxy socat` through the host's "
                "network: check that apt works here, then rerun scripts/setup.sh",
            ) from exc
    return image


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def _write(path: Path, text: str) -> None:
    """Replace `path` atomically, so a kill never leaves half a config."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
