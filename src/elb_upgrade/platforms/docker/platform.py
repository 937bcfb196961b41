"""`DockerPlatform`: the `Platform` protocol on the local Docker Engine."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TextIO

from elb_upgrade.errors import ImageMissingError, PlatformError, RefusedError
from elb_upgrade.platforms.base import (
    AppState,
    ContainerImage,
    Deployment,
    ImageInfo,
    LogSink,
    RevisionState,
    RevisionStatus,
    Route,
    Wanted,
    pinned,
)
from elb_upgrade.platforms.docker import containers as ct
from elb_upgrade.platforms.docker import manual
from elb_upgrade.platforms.docker.bluegreen import Stager, drain_seconds
from elb_upgrade.platforms.docker.build import build_image
from elb_upgrade.platforms.docker.engine import connect, translated
from elb_upgrade.platforms.docker.proxy import Proxy
from elb_upgrade.spec import AppSpec, ImageSpec

STOP_TIMEOUT = 10


class DockerPlatform:
    """The app's containers on the host network of the local engine.

    Containers with a `port` in the config run blue/green behind the app's proxy
    (`bluegreen.Stager`): a deploy stages them on private ports, the gate polls them
    there, `promote` switches the proxy and drains the old ones. Containers without a
    port (and whole apps without one) are replaced in place, as before.
    """

    name = "docker"

    def __init__(self, app: AppSpec) -> None:
        self.app = app
        self._specs = {c.name: c for c in app.containers}
        self._client: Any = None
        self._stager: Stager | None = None
        self.ported = {c.name for c in app.containers if c.port}
        self.uptime = ct.Uptime()

    @property
    def _monitor(self) -> float:
        return ct.monitor_seconds(self.app.settings)

    @property
    def client(self) -> Any:
        # Connected on first use: constructing the platform must not need the engine.
        if self._client is None:
            self._client = connect(self.app.settings)
        return self._client

    @property
    def stager(self) -> Stager:
        if self._stager is None:
            proxy = Proxy(self.client, self.app.name, self.app.settings)
            self._stager = Stager(self.client, self.app, proxy)
        return self._stager

    def check(self) -> None:
        with translated("checking the Docker Engine"):
            self.client.ping()
        ct.monitor_seconds(self.app.settings)  # a bad value is refused before any change
        if self.ported:
            drain_seconds(self.app.settings)
            with translated(f"checking the proxy of {self.app.name}"):
                self.stager.preflight()

    def routes(self) -> tuple[Route, ...]:
        """Which revision each public port routes to (empty for an app without ports)."""
        if not self.ported:
            return ()
        with translated(f"reading the routes of {self.app.name}"):
            return self.stager.routes()

    def parity_check(self, log: LogSink) -> None:
        """Nothing to check: storage network rules exist only on azure."""

    def current(self) -> AppState:
        with translated(f"reading {self.app.name}'s containers"):
            found = self._serving()
        if not found:
            return AppState("", ())
        order = [*self._specs, *sorted(set(found) - set(self._specs))]
        images = tuple(_running(n, found[n]) for n in order if n in found)
        return AppState(ct.newest_revision(found.values()), images)

    def build(self, image: ImageSpec, tag: str, log: LogSink, git_sha: str = "") -> str:
        ref = f"{image.repository}:{tag}"
        if self.resolve(ref) is not None:
            raise RefusedError(
                f"{ref} already exists; a build never replaces an existing tag",
                hint="deploy it as it is with --tag, or pick a new tag",
            )
        return build_image(self.client, image, tag, log, git_sha)

    def resolve(self, image: str) -> ImageInfo | None:
        """The image ID and recorded commit of `image` (a reference or an ID)."""
        import docker.errors

        with translated(f"looking up image {image}"):
            try:
                found = self.client.images.get(image)
            except docker.errors.ImageNotFound:
                return None
        labels = found.attrs.get("Config", {}).get("Labels") or {}
        return ImageInfo(image, str(found.id), str(labels.get(ct.GIT_SHA_LABEL, "")))

    def image_exists(self, image: str) -> bool:
        import docker.errors

        with translated(f"looking up image {image}"):
            try:
                self.client.images.get(image)
            except docker.errors.ImageNotFound:
                return False
        return True

    def deploy(self, wanted: Wanted, log: LogSink) -> Deployment:
        """Make a new revision; (re)create the given containers whose image or spec changed.

        Each container runs its image by ID when a digest is given; with a spec given
        (a restore) that spec is applied exactly, else the config's command and env.
        Ported containers are staged beside the serving ones (the result is `staged`);
        containers without a port are replaced now, unless ported ones were staged too,
        then `promote` replaces them after the switch.
        """
        images = pinned(wanted)
        self._check_request(images)
        ct.monitor_seconds(self.app.settings)  # refused before anything changes
        with translated(f"deploying {self.app.name}"):
            every = ct.app_containers(self.client, self.app.name)
            number = ct.revision_number(ct.newest_revision(every)) + 1
            revision = ct.revision_name(self.app.name, number)
            if self.ported & set(images):
                drain_seconds(self.app.settings)  # refused before anything changes
                self.stager.prepare(log)
            existing = self._serving()
            names = self._to_replace(images, existing)
            staged = [n for n in names if n in self.ported]
            for name in names:
                later = " (after the switch)" if staged and name not in self.ported else ""
                log(f"{name}: {_shown(images[name])} as revision {revision}{later}")
            if staged:
                self.stager.stage(staged, images, revision)
                return self._staged(images, revision)
            # Concurrently: each stop waits for its process to exit; the waits overlap.
            with ThreadPoolExecutor(max_workers=len(names)) as pool:
                list(pool.map(lambda n: self._replace(n, images[n], revision, existing), names))
        redeployed_main = self._created_in(self.app.main_container, revision)
        return Deployment(
            revision=revision,
            images=tuple(images.values()),
            readiness_revision=revision if redeployed_main else None,
        )

    def _staged(self, images: Mapping[str, ContainerImage], revision: str) -> Deployment:
        staged = self.stager.of_revision(revision)
        return Deployment(
            revision=revision,
            images=tuple(images.values()),
            readiness_url=self.stager.readiness_url(revision),
            readiness_revision=revision if self.app.main_container in staged else None,
            staged=True,
        )

    def revision_status(self, deployment: Deployment) -> RevisionStatus:
        """FAILED as soon as one deployed container exited or keeps restarting."""
        if deployment.staged:
            with translated(f"reading revision {deployment.revision}"):
                return self._staged_status(deployment)
        pending = []
        with translated(f"reading revision {deployment.revision}"):
            for wanted in deployment.images:
                container = self._find(wanted.name)
                problem = self._problem(container, wanted)
                if problem:
                    return RevisionStatus(RevisionState.FAILED, problem)
                if not self.uptime.settled(container, self._monitor):
                    pending.append(wanted.name)
        if pending:
            return RevisionStatus(
                RevisionState.PENDING,
                f"starting: {', '.join(pending)} (running {self._monitor:g}s without a restart)",
            )
        return RevisionStatus(RevisionState.RUNNING)

    def _staged_status(self, deployment: Deployment) -> RevisionStatus:
        """FAILED when a staged container failed; RUNNING once each one listens."""
        pending = []
        for name, container in self.stager.of_revision(deployment.revision).items():
            wanted = next(i for i in deployment.images if i.name == name)
            problem = self._problem(container, wanted)
            if problem:
                return RevisionStatus(RevisionState.FAILED, problem)
            settled = self.uptime.settled(container, self._monitor)
            if not settled or not ct.listening(ct.upstream(container)):
                pending.append(f"{name} ({ct.upstream(container)})")
        if pending:
            return RevisionStatus(RevisionState.PENDING, f"not listening yet: {', '.join(pending)}")
        return RevisionStatus(RevisionState.RUNNING)

    def promote(self, deployment: Deployment, log: LogSink) -> None:
        """Switch the public ports to a gated staged revision, drain the old one, then
        replace the containers without a port (a no-op for a deploy that did not stage)."""
        if not deployment.staged:
            return
        with translated(f"switching {self.app.name} to {deployment.revision}"):
            self.stager.promote(deployment.revision, drain_seconds(self.app.settings), log)
            existing = self._serving()
            later = [
                i.name
                for i in deployment.images
                if i.name not in self.ported and not self._up_to_date(existing.get(i.name), i)
            ]
            images = {i.name: i for i in deployment.images}
            for name in later:
                log(f"{name}: replacing with {_shown(images[name])}")
            _each(lambda n: self._replace(n, images[n], deployment.revision, existing), later)

    def discard(self, deployment: Deployment, log: LogSink) -> None:
        """Remove a staged revision that failed its gate; the serving one is untouched."""
        if not deployment.staged:
            return
        with translated(f"removing {deployment.revision}"):
            self.stager.discard(deployment.revision, log)

    def manual_restore_commands(self, images: Mapping[str, str]) -> list[str]:
        return manual.manual_restore_commands(self.app, images)

    def follow_logs(self, container: str, out: TextIO) -> None:
        """Stream the container's log to `out` until it stops or Ctrl+C."""
        with translated(f"following {container}'s log"):
            found = self._find(container)
            if found is None:
                raise PlatformError(
                    f"no container {container!r} in {self.app.name}",
                    hint="deploy the app first: elb-upgrade full",
                )
            try:
                for chunk in found.logs(stream=True, follow=True, tail=50):
                    out.write(bytes(chunk).decode("utf-8", errors="replace"))
                    out.flush()
            except KeyboardInterrupt:
                return  # Ctrl+C is how the operator stops following, not an error

    # -- helpers -------------------------------------------------------------------

    def _check_request(self, images: Mapping[str, ContainerImage]) -> None:
        if not images:
            raise PlatformError(
                f"nothing to deploy for {self.app.name}: no containers given",
                hint="check the scope's image keys against [containers] in elb-upgrade.toml",
            )
        unknown = sorted(set(images) - set(self._specs))
        if unknown:
            raise PlatformError(
                f"cannot deploy unknown containers {unknown} of {self.app.name}",
                hint=f"the config defines: {', '.join(self._specs)}",
            )
        missing = [c.identity for c in images.values() if not self.image_exists(c.identity)]
        if missing:
            # Checked before anything is stopped, so a bad request leaves the app running.
            raise ImageMissingError(
                f"cannot deploy {self.app.name}: image(s) not found: {', '.join(missing)}",
                hint="rebuild them (elb-upgrade <scope>) or restore a snapshot whose images exist",
            )

    def _to_replace(
        self, images: Mapping[str, ContainerImage], existing: Mapping[str, Any]
    ) -> list[str]:
        """Containers whose image or spec changed or that are not healthy; all given if none.

        A deploy is never a no-op: with nothing changed it restarts what it was given,
        so the revision it reports is the one that really runs.
        """
        changed = [n for n in images if not self._up_to_date(existing.get(n), images[n])]
        return changed or list(images)

    @staticmethod
    def _up_to_date(container: Any, wanted: ContainerImage) -> bool:
        return (
            container is not None
            and ct.is_healthy(container)
            and _runs(container, wanted)
            and (wanted.spec is None or ct.applied_spec(container) == wanted.spec)
        )

    def _replace(
        self, name: str, wanted: ContainerImage, revision: str, existing: Mapping[Any, Any]
    ) -> None:
        old = existing.get(name)
        # Host networking: the old container must free its ports before the new one binds.
        if old is not None:
            old.stop(timeout=STOP_TIMEOUT)
            old.remove(force=True)
        own = {
            ct.APP_LABEL: self.app.name,
            ct.CONTAINER_LABEL: name,
            ct.REVISION_LABEL: revision,
            ct.IMAGE_LABEL: wanted.image,
        }
        self.client.containers.run(
            wanted.identity,  # the image ID: what the tag named when it was recorded
            name=ct.container_name(self.app.name, name),
            detach=True,
            init=True,  # a PID 1 that forwards SIGTERM, so stops take milliseconds
            **self._run_spec(name, wanted, revision, own),
        )

    def _run_spec(
        self, name: str, wanted: ContainerImage, revision: str, own: Mapping[str, str]
    ) -> dict[str, Any]:
        """`containers.run` arguments: the recorded spec exactly, else the config's."""
        spec = wanted.spec
        if spec is None:
            config = self._specs[name]
            return {
                "command": list(config.command) or None,
                "network_mode": "host",
                "environment": {**config.env, ct.REVISION_ENV: revision},
                "labels": dict(own),
                "restart_policy": {"Name": "on-failure", "MaximumRetryCount": ct.MAX_RESTARTS},
            }
        ports = spec.get("ports") or {}
        return {
            "command": list(spec.get("command") or ()) or None,
            "network_mode": spec.get("network_mode") or "host",
            "environment": {**spec.get("env", {}), ct.REVISION_ENV: revision},
            "labels": {**spec.get("labels", {}), **own},
            "restart_policy": dict(spec.get("restart_policy") or {}),
            **({"ports": _port_bindings(ports)} if ports else {}),
        }

    def _serving(self) -> dict[str, Any]:
        """Container name → the container that serves it (for ported ones, the routed one)."""
        found = {
            c.labels.get(ct.CONTAINER_LABEL, c.name): c
            for c in ct.app_containers(self.client, self.app.name)
            if not ct.upstream(c)
        }
        if self.ported:
            found.update(self.stager.serving())
        return found

    def _find(self, container: str) -> Any:
        import docker.errors

        if container in self.ported:
            return self._serving().get(container)
        try:
            found = self.client.containers.get(ct.container_name(self.app.name, container))
        except docker.errors.NotFound:
            return None
        return found

    def _created_in(self, container: str, revision: str) -> bool:
        with translated(f"reading {container}"):
            found = self._find(container)
        return found is not None and found.labels.get(ct.REVISION_LABEL) == revision

    def _problem(self, container: Any, wanted: ContainerImage) -> str | None:
        if container is None:
            return f"a container of this revision is gone ({wanted.image})"
        if not _runs(container, wanted):
            return f"{container.name} runs {ct.image_of(container)}, not {_shown(wanted)}"
        why = ct.failure(container)
        if why is None:
            return None
        logs = ct.log_tail(container)
        return f"{container.name} {why}{ct.hint_for(logs)}; its last log lines:\n{logs}"


def _running(name: str, container: Any) -> ContainerImage:
    """What `container` runs: its reference, image ID and applied spec."""
    return ContainerImage(
        name, ct.image_of(container), ct.image_id(container), ct.applied_spec(container)
    )


def _runs(container: Any, wanted: ContainerImage) -> bool:
    """Whether `container` runs `wanted`'s image: by ID when pinned, else by reference."""
    if wanted.digest:
        return ct.image_id(container) == wanted.digest
    return ct.image_of(container) == wanted.image


def _shown(wanted: ContainerImage) -> str:
    return f"{wanted.image} ({wanted.digest[:19]})" if wanted.digest else wanted.image


def _port_bindings(ports: Mapping[str, Any]) -> dict[str, Any]:
    """`HostConfig.PortBindings` as recorded → the SDK's `ports` argument."""
    return {
        port: [(b.get("HostIp", ""), int(b["HostPort"])) for b in bindings or ()] or None
        for port, bindings in ports.items()
    }


def _each(action: Any, names: list[str]) -> None:
    if not names:
        return
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        list(pool.map(action, names))
