"""Blue/green revisions behind the app's proxy: stage, switch, drain, retire, clean up.

    stager = Stager(client, app, proxy)
    stager.preflight()                            # read-only: proxy up and as configured
    instances = stager.stage(names, images, rev)  # new containers on private ports
    stager.promote(rev, log)                      # switch, drain, stop the old ones
    stager.discard(rev, log)                      # a failed gate: remove the new ones

The proxy's runtime state says which instance of a ported container serves; every other
instance is a leftover of a run that was killed, removed by `clean_up` at the start of
the next deploy. So a kill -9 at any moment leaves one revision serving.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from elb_upgrade.errors import (
    PlatformError,
    PlatformUnavailable,
    PreflightError,
    RefusedError,
)
from elb_upgrade.platforms.base import ContainerImage, LogSink, Route
from elb_upgrade.platforms.docker import containers as ct
from elb_upgrade.platforms.docker.proxy import Listen, Proxy, Slot
from elb_upgrade.spec import AppSpec, ContainerSpec

RETIRE_TIMEOUT = 3  # the old revision was drained already: a short stop
DRAIN_POLL = 0.1
DEFAULT_DRAIN_SECONDS = 10.0


def drain_seconds(settings: Mapping[str, str]) -> float:
    """`[platform] drain_seconds = "10"` (or the environment); 0 switches without waiting."""
    return ct.seconds_setting(settings, "drain_seconds", DEFAULT_DRAIN_SECONDS, 3600)


class Stager:
    """The ported containers of one app and the proxy in front of them."""

    def __init__(self, client: Any, app: AppSpec, proxy: Proxy) -> None:
        self.client, self.app, self.proxy = client, app, proxy
        self.ported = {c.name: c for c in app.containers if c.port}

    # -- what runs -------------------------------------------------------------------
    def instances(self) -> dict[str, list[Any]]:
        """Ported container name → its instances (every revision), oldest first."""
        found: dict[str, list[Any]] = {}
        for c in ct.app_containers(self.client, self.app.name):
            name = c.labels.get(ct.CONTAINER_LABEL, "")
            if name in self.ported and ct.upstream(c):
                found.setdefault(name, []).append(c)
        for group in found.values():
            group.sort(key=lambda c: ct.revision_number(c.labels.get(ct.REVISION_LABEL, "")))
        return found

    def active(self) -> dict[str, str]:
        """Section → the upstream its ready slot points at ({} without a proxy)."""
        if self.proxy.container() is None:
            return {}
        return {
            name: listen.active.addr
            for name, listen in self.proxy.listens().items()
            if listen.active is not None
        }

    def serving(self) -> dict[str, Any]:
        """Ported container name → the instance the proxy routes to (else the newest)."""
        try:
            active = self.active()
        except PlatformUnavailable:
            active = {}
        chosen = {}
        for name, group in self.instances().items():
            routed = [c for c in group if ct.upstream(c) == active.get(name)]
            chosen[name] = routed[0] if routed else group[-1]
        return chosen

    def routes(self) -> tuple[Route, ...]:
        active = self.active()
        by_upstream = {ct.upstream(c): c for g in self.instances().values() for c in g}
        found = []
        for name, spec in self.ported.items():
            addr = active.get(name, "")
            container = by_upstream.get(addr)
            revision = container.labels.get(ct.REVISION_LABEL, "") if container else ""
            found.append(Route(spec.port or 0, name, revision, addr))
        return tuple(found)

    # -- preflight -------------------------------------------------------------------
    def preflight(self) -> None:
        """Refuse (changing nothing) when the proxy is down or not what the config says."""
        container = self.proxy.container()
        if container is None:
            self._refuse_direct()
            return  # the first deploy starts it
        problem = self.proxy.problem()
        if problem is not None:
            raise PlatformUnavailable(
                f"the proxy {self.proxy.name} in front of {self.app.name} is down: {problem}; "
                "nothing was changed",
                hint=f"`docker start {self.proxy.name}` (its routes come back from its "
                f"haproxy.cfg), or `docker logs {self.proxy.name}` to see why it stopped",
            )
        have = {name: listen.port for name, listen in self.proxy.listens().items()}
        want = {name: spec.port for name, spec in self.ported.items()}
        if have != want:
            raise PlatformUnavailable(
                f"the proxy {self.proxy.name} listens on {_ports(have)} but "
                f"elb-upgrade.toml says {_ports(want)}; nothing was changed",
                hint=f"recreate it with the config's ports: `docker rm -f {self.proxy.name}` "
                "and rerun (the public ports are down until the new revision is promoted)",
            )

    def _refuse_direct(self) -> None:
        """A container deployed before it had a port holds the port the proxy needs."""
        for c in ct.app_containers(self.client, self.app.name):
            name = c.labels.get(ct.CONTAINER_LABEL, "")
            if name in self.ported and not ct.upstream(c) and c.status == "running":
                raise PreflightError(
                    f"{c.name} serves port {self.ported[name].port} itself (deployed before "
                    "elb-upgrade.toml gave it a port); the proxy needs that port; "
                    "nothing was changed",
                    hint=f"`docker rm -f {c.name}` (a short outage) and rerun; later "
                    "upgrades switch without one",
                )

    # -- deploy ----------------------------------------------------------------------
    def prepare(self, log: LogSink) -> None:
        """Start the proxy if missing, then remove what interrupted runs left behind."""
        self._refuse_direct()
        try:
            self.proxy.ensure(self._seed_routes(), log)
        except PlatformError as exc:
            # No container of the app was touched: there is nothing to roll back.
            raise RefusedError(
                f"{exc.message}; no container of {self.app.name} was changed", hint=exc.hint
            ) from exc
        self.clean_up(log)

    def _seed_routes(self) -> list[Listen]:
        """Listens for a new proxy: each routed to its newest running instance, if any."""
        groups = self.instances()
        listens = []
        for name, spec in self.ported.items():
            running = [c for c in groups.get(name, []) if c.status == "running"]
            slots = (Slot("blue", ct.upstream(running[-1]), "no check", 0),) if running else ()
            listens.append(Listen(name, spec.port or 0, slots))
        return listens

    def clean_up(self, log: LogSink) -> None:
        """Remove instances no port routes to; end drains a killed run left open."""
        listens = self.proxy.listens()
        for name, listen in listens.items():
            for slot in listen.slots:
                if slot.status == "DRAIN":
                    log(f"{name}: ending the drain of a slot an interrupted run left open")
                    self.proxy.retire(name, slot.name)
        active = {n: x.active.addr for n, x in listens.items() if x.active is not None}
        stale = [
            c
            for name, group in self.instances().items()
            for c in group
            if ct.upstream(c) != active.get(name)
        ]
        for c in stale:
            log(f"removing {c.name}: a revision no port routes to (left by an interrupted run)")
        _each(lambda c: c.remove(force=True), stale)
        self.proxy.save()

    def stage(
        self, names: Iterable[str], images: Mapping[str, ContainerImage], revision: str
    ) -> None:
        """Start `names` (ported) as `revision` on private ports beside what serves."""
        taken = ct.upstreams_in_use(self.client) | {s.port or 0 for s in self.ported.values()}
        jobs = []
        for name in names:
            port = ct.free_port(taken)
            taken.add(port)
            jobs.append((self.ported[name], images[name], port))
        _each(lambda job: self._start(job[0], job[1], job[2], revision), jobs)

    def _start(self, spec: ContainerSpec, wanted: ContainerImage, port: int, revision: str) -> None:
        """Run `wanted` by its identity (image ID when pinned) with its recorded command and
        env (a restore) or the config's, on its own private port."""
        recorded = wanted.spec or {}
        command = list(recorded.get("command") or ()) if wanted.spec else list(spec.command)
        env = dict(recorded.get("env") or {}) if wanted.spec else dict(spec.env)
        self.client.containers.run(
            wanted.identity,
            command or None,
            name=ct.instance_name(self.app.name, spec.name, revision),
            detach=True,
            init=True,
            network_mode="host",
            environment={
                **env,
                ct.PORT_ENV: str(port),
                ct.REVISION_ENV: revision,
            },
            labels={
                ct.APP_LABEL: self.app.name,
                ct.CONTAINER_LABEL: spec.name,
                ct.REVISION_LABEL: revision,
                ct.IMAGE_LABEL: wanted.image,
                ct.PORT_LABEL: str(spec.port),
                ct.UPSTREAM_LABEL: f"127.0.0.1:{port}",
            },
            restart_policy={"Name": "on-failure", "MaximumRetryCount": ct.MAX_RESTARTS},
        )

    def of_revision(self, revision: str) -> dict[str, Any]:
        return {
            name: c
            for name, group in self.instances().items()
            for c in group
            if c.labels.get(ct.REVISION_LABEL) == revision
        }

    def readiness_url(self, revision: str) -> str | None:
        """The configured readiness URL, pointed at `revision`'s private address."""
        parts = urlsplit(self.app.readiness_url)
        staged = self.of_revision(revision)
        for name, spec in self.ported.items():
            if name in staged and parts.port == spec.port:
                return urlunsplit(parts._replace(netloc=ct.upstream(staged[name])))
        return None

    # -- after the gate --------------------------------------------------------------
    def promote(self, revision: str, drain: float, log: LogSink) -> None:
        """Switch each staged port to `revision`, drain and stop the old instances."""
        staged = self.of_revision(revision)
        old_slots = []
        for name, container in staged.items():
            _, old = self.proxy.switch(name, ct.upstream(container))
            log(f"{name}: port {self.ported[name].port} → {revision} ({ct.upstream(container)})")
            if old is not None:
                old_slots.append((name, old.name))
        self.proxy.save()
        self._drain(old_slots, drain, log)
        for name, slot in old_slots:
            self.proxy.retire(name, slot)
        self.proxy.save()
        retired = [
            c
            for name, group in self.instances().items()
            if name in staged
            for c in group
            if c.labels.get(ct.REVISION_LABEL) != revision
        ]
        for c in retired:
            log(f"stopping {c.name} ({c.labels.get(ct.REVISION_LABEL)}): drained")
        _each(_retire, retired)

    def _drain(self, slots: list[tuple[str, str]], seconds: float, log: LogSink) -> None:
        """Wait until the old slots have no request in flight, at most `seconds`."""
        if not slots:
            return
        deadline = time.monotonic() + seconds
        busy = self._busy(slots)
        while busy and time.monotonic() < deadline:
            time.sleep(DRAIN_POLL)
            busy = self._busy(slots)
        if busy:
            log(f"drain: {busy} request(s) still open after {seconds:g}s; cut when stopped")
        else:
            log("drain: the old revision has no request in flight")

    def _busy(self, slots: list[tuple[str, str]]) -> int:
        return sum(self.proxy.sessions(name, slot) for name, slot in slots)

    def discard(self, revision: str, log: LogSink) -> None:
        """Remove `revision`'s staged instances; no port ever routed to them."""
        staged = list(self.of_revision(revision).values())
        for c in staged:
            log(f"removing {c.name}: {revision} never took traffic")
        _each(lambda c: c.remove(force=True), staged)


def _retire(container: Any) -> None:
    container.stop(timeout=RETIRE_TIMEOUT)
    container.remove(force=True)


def _each(action: Any, items: list[Any]) -> None:
    """Run `action` on every item concurrently (engine calls overlap their waits)."""
    if not items:
        return
    with ThreadPoolExecutor(max_workers=len(items)) as pool:
        list(pool.map(action, items))


def _ports(ports: Mapping[str, int | None]) -> str:
    return ", ".join(f"{n}:{p}" for n, p in sorted(ports.items())) or "no port"
