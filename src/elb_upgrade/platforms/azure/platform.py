"""`AzurePlatform`: Azure Container Apps + Azure Container Registry behind `Platform`.

Nothing here imports the Azure SDK at module level: `elb-upgrade --help` and the docker
platform never pay for it. The session (settings, credential, subscription, clients) is
opened on first use, normally by the envelope's `check()`.

Optimistic concurrency: `current()` keeps the app's JSON and ETag; the first `deploy()`
patches that very template with `If-Match` on that ETag. Any later deploy of the run (the
auto-rollback) re-reads the app and accepts it only if its images are ones this run saw
or wrote, then uses the fresh ETag.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TextIO

from elb_upgrade.clock import Clock, SystemClock
from elb_upgrade.errors import ConflictError, ImageMissingError, PlatformUnavailable
from elb_upgrade.platforms.azure import manual
from elb_upgrade.platforms.azure.settings import Runner, load, run_command
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
from elb_upgrade.spec import AppSpec, ImageSpec

if TYPE_CHECKING:
    from elb_upgrade.platforms.azure.containerapp import AppRead
    from elb_upgrade.platforms.azure.session import CredentialFactory, Session

Images = tuple[ContainerImage, ...]


class AzurePlatform:
    """The app is a Container App; images build in, and are checked against, ACR."""

    name = "azure"

    def __init__(
        self,
        app: AppSpec,
        *,
        credential_factory: CredentialFactory | None = None,
        clock: Clock | None = None,
        run: Runner | None = None,
    ) -> None:
        self.app = app
        self._factory = credential_factory
        self._clock: Clock = clock or SystemClock()
        self._run: Runner = run or run_command
        self._session: Session | None = None
        self._base: AppRead | None = None  # the read the next update's If-Match comes from
        self._known: set[Images] = set()  # template images this run read or wrote
        self._names = frozenset(c.name for c in app.containers)  # init containers we manage

    def session(self) -> Session:
        if self._session is None:
            from elb_upgrade.platforms.azure.session import default_credential, open_session

            settings = load(self.app.settings, self._run)
            self._session = open_session(settings, self._factory or default_credential, self._run)
        return self._session

    def _announce(self, log: LogSink) -> Session:
        s = self.session()
        line = s.announce()
        if line:
            log(line)
        return s

    def check(self) -> None:
        from elb_upgrade.platforms.azure import containerapp

        containerapp.require(self.session())  # logged in, authorised, and the app exists

    def parity_check(self, log: LogSink) -> None:
        from elb_upgrade.platforms.azure import parity

        parity.check(self._announce(log), log)

    def current(self) -> AppState:
        from elb_upgrade.platforms.azure import containerapp

        app = containerapp.read(self.session())
        self._base = app
        if app is None:
            return AppState(revision="", images=())
        state = app.state(self._names)
        self._known.add(state.images)
        return state

    def build(self, image: ImageSpec, tag: str, log: LogSink, git_sha: str = "") -> str:
        from elb_upgrade.platforms.azure.acr import AcrBuild

        return AcrBuild(self._announce(log), self._clock).run(image, tag, log)

    def image_exists(self, image: str) -> bool:
        from elb_upgrade.platforms.azure import registry

        return registry.exists(self.session(), image)

    def resolve(self, image: str) -> ImageInfo | None:
        """The registry's manifest digest of `image` (None when gone or not in our ACR)."""
        from elb_upgrade.platforms.azure import registry

        digest = registry.digest(self.session(), image)
        return ImageInfo(image, digest) if digest else None

    def deploy(self, wanted: Wanted, log: LogSink) -> Deployment:
        from elb_upgrade.platforms.azure import containerapp, registry

        images = {name: c.image for name, c in pinned(wanted).items()}
        s = self._announce(log)
        missing = sorted(i for i in set(images.values()) if not registry.exists(s, i))
        if missing:
            raise ImageMissingError(
                f"cannot deploy: not in the registry: {', '.join(missing)}",
                hint=registry.purge_advice(s, missing[0]),
            )
        base = self._base_for_update()
        body = containerapp.patch_body(base, images)
        final = base.body
        if body is None:
            log("the app already runs these images; no update needed")
        else:
            self._base = None  # whatever happens now, re-read before any other update
            self._known.add(containerapp.images_of(body, self._names))
            changed = sorted(n for n, i in images.items() if base.state(images).image_of(n) != i)
            log(
                f"updating {s.app_name}: {', '.join(changed)} in one revision"
                + (" (If-Match on the snapshot's ETag)" if base.etag else "")
            )
            final = containerapp.update(s, base, body)
        revision = containerapp.latest_revision(s, final)
        log(f"new revision: {revision}")
        revision_json = self._wait_started(revision, log)
        return Deployment(
            revision=revision,
            images=containerapp.images_of(final, self._names),
            readiness_url=containerapp.readiness_url(s, final, revision_json),
            readiness_revision=revision,
        )

    def _base_for_update(self) -> AppRead:
        from elb_upgrade.platforms.azure import containerapp

        if self._base is not None and self._base.etag:
            return self._base
        fresh = containerapp.require(self.session())
        if self._known and fresh.state(self._names).images not in self._known:
            raise ConflictError(
                "the app changed since the snapshot; rerun (its images are none this run "
                "read or deployed)",
                hint="someone else deployed meanwhile; rerun elb-upgrade to snapshot the "
                "current state (`az containerapp revision list` shows what changed)",
            )
        return fresh

    def _wait_started(self, revision: str, log: LogSink) -> dict[str, Any] | None:
        """Poll until the revision is provisioned and running (or failed), within a bound."""
        from elb_upgrade.platforms.azure import containerapp

        s = self.session()
        limit = s.settings.seconds("ELB_UPGRADE_AZURE_REVISION_WAIT", 300.0)
        interval = s.settings.seconds("ELB_UPGRADE_AZURE_POLL_SECONDS", 5.0)
        deadline, said, found = self._clock.monotonic() + limit, "", None
        while True:
            try:
                found = containerapp.get_revision(s, revision)
                status = self._classify(revision, found)
            except PlatformUnavailable as exc:  # a blip after the update is not a failure
                status = RevisionStatus(RevisionState.PENDING, f"status unavailable: {exc.message}")
            if status.detail != said:
                log(status.detail)
                said = status.detail
            if status.state is not RevisionState.PENDING:
                return found
            if self._clock.monotonic() >= deadline:
                log(f"{revision} still starting after {limit:g}s; the readiness gate takes over")
                return found
            self._clock.sleep(interval)

    def _classify(self, revision: str, found: dict[str, Any] | None) -> RevisionStatus:
        from elb_upgrade.platforms.azure import containerapp
        from elb_upgrade.platforms.azure.revision import classify

        if found is None:
            return RevisionStatus(RevisionState.FAILED, f"revision {revision} does not exist")
        props = found.get("properties") or {}
        if str(props.get("provisioningState", "")).lower() == "provisioning":
            return classify(found, [])  # no replicas to list before it is provisioned
        return classify(found, containerapp.replicas(self.session(), revision))

    def revision_status(self, deployment: Deployment) -> RevisionStatus:
        from elb_upgrade.platforms.azure import containerapp

        found = containerapp.get_revision(self.session(), deployment.revision)
        return self._classify(deployment.revision, found)

    def promote(self, deployment: Deployment, log: LogSink) -> None:
        """Traffic follows the deploy itself here: nothing to switch."""

    def discard(self, deployment: Deployment, log: LogSink) -> None:
        """Never staged here: nothing to remove."""

    def manual_restore_commands(self, images: Mapping[str, str]) -> list[str]:
        return manual.manual_restore_commands(self.app, images)

    def follow_logs(self, container: str, out: TextIO) -> None:
        from elb_upgrade.platforms.azure import logs

        logs.follow(self.session(), container, out)
