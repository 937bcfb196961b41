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
    Wanted,
    pinned,
)
from elb_upgrade.platforms.docker import containers as ct
from elb_upgrade.platforms.docker import manual
from elb_upgrade.platforms.docker.build import build_image
from elb_upgrade.platforms.docker.engine import connect, translated
from elb_upgrade.spec import AppSpec, ImageSpec

STOP_TIMEOUT = 10


class DockerPlatform:
    """The app's containers on the host network of the local engine."""

    name = "docker"

    def __init__(self, app: AppSpec) -> None:
        self.app = app
        self._specs = {c.name: c for c in app.containers}
        self._client: Any = None

    @property
    def client(self) -> Any:
        # Connected on first use: constructing the platform must not need the engine.
        if self._client is None:
            self._client = connect(self.app.settings)
        return self._client

    def check(self) -> None:
        with translated("checking the Docker Engine"):
            self.client.ping()

    def parity_check(self, log: LogSink) -> None:
        """Nothing to check: storage network rules exist only on azure."""

    def current(self) -> AppState:
        with translated(f"reading {self.app.name}'s containers"):
            found = {
                c.labels.get(ct.CONTAINER_LABEL, c.name): c
                for c in ct.app_containers(self.client, self.app.name)
            }
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
        """
        images = pinned(wanted)
        self._check_request(images)
        with translated(f"deploying {self.app.name}"):
            existing = {
                c.labels.get(ct.CONTAINER_LABEL): c
                for c in ct.app_containers(self.client, self.app.name)
            }
            number = ct.revision_number(ct.newest_revision(existing.values())) + 1
            revision = ct.revision_name(self.app.name, number)
            names = self._to_replace(images, existing)
            for name in names:
                log(f"{name}: {_shown(images[name])} as revision {revision}")
            # Concurrently: each stop waits for its process to exit; the waits overlap.
            with ThreadPoolExecutor(max_workers=len(names)) as pool:
                list(pool.map(lambda n: self._replace(n, images[n], revision, existing), names))
        redeployed_main = self._created_in(self.app.main_container, revision)
        return Deployment(
            revision=revision,
            images=tuple(images.values()),
            readiness_revision=revision if redeployed_main else None,
        )

    def revision_status(self, deployment: Deployment) -> RevisionStatus:
        """FAILED as soon as one deployed container exited or keeps restarting."""
        pending = []
        with translated(f"reading revision {deployment.revision}"):
            for wanted in deployment.images:
                container = self._find(wanted.name)
                problem = self._problem(container, wanted)
                if problem:
                    return RevisionStatus(RevisionState.FAILED, problem)
                if container.status != "running":
                    pending.append(wanted.name)
        if pending:
            return RevisionStatus(RevisionState.PENDING, f"starting: {', '.join(pending)}")
        return RevisionStatus(RevisionState.RUNNING)

    def promote(self, deployment: Deployment, log: LogSink) -> None:
        """Traffic follows the deploy itself here: nothing to switch."""

    def discard(self, deployment: Deployment, log: LogSink) -> None:
        """Never staged here: nothing to remove."""

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
        self, images: Mapping[str, ContainerImage], existing: Mapping[str | None, Any]
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

    def _find(self, container: str) -> Any:
        import docker.errors

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
