"""`AzurePlatform`: Azure Container Apps + Azure Container Registry behind `Platform`.

Nothing here imports the Azure SDK at module level: `elb-upgrade --help` and the docker
platform never pay for it. The session (settings, credential, subscription, clients) is
opened on first use, normally by the envelope's `check()`.

Concurrency, as Azure allows it (Container Apps have no ETag and take no If-Match): the
run holds elb-upgrade's lock; `current()` keeps the read the plan was made from; every
`deploy()` re-reads the app immediately before its PATCH and refuses (nothing changed)
when the change token moved since the plan, or, for a later deploy of the run (the
auto-rollback), when the app's images are none this run read or wrote. After the PATCH
the app must hold exactly the images sent, else the lost update is reported. A 409
(another operation in progress) is retried with backoff inside the deploy budget.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TextIO

from elb_upgrade.clock import Clock, SystemClock
from elb_upgrade.errors import ConfigError, PlatformError, PlatformUnavailable, RefusedError
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
# Docker's repository grammar: lowercase path components separated by `/`.
_REPOSITORY = re.compile(
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*\Z"
)
BACKOFF_MAX = 60.0


def check_repositories(app: AppSpec) -> None:
    """ConfigError for a repository name ACR would refuse (uppercase, spaces, …)."""
    for image in app.images:
        if not _REPOSITORY.match(image.repository):
            raise ConfigError(
                f"images.{image.key}.repository {image.repository!r} is not a valid registry "
                "repository name (lowercase letters, digits, '.', '_', '-', '/')",
                hint=f"use {image.repository.lower()!r} in elb-upgrade.toml"
                if _REPOSITORY.match(image.repository.lower())
                else "rename it with lowercase letters, digits and . _ - / only",
            )


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
        check_repositories(app)
        self.app = app
        self._factory = credential_factory
        self._clock: Clock = clock or SystemClock()
        self._run: Runner = run or run_command
        self._session: Session | None = None
        self._plan: AppRead | None = None  # the read the plan showed; None once we changed it
        self._known: set[Images] = set()  # template images this run read or wrote
        self._names = frozenset(c.name for c in app.containers)  # init containers we manage
        self._notes: list[str] = []  # warnings from current(), said at the next log line
        self._since: dict[str, float] = {}  # revision → when deploy made it (clock time)

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
        while self._notes:
            log(self._notes.pop(0))
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
        self._plan = app
        if app is None:
            return AppState(revision="", images=())
        if app.latest and app.serving != app.latest:
            self._notes.append(
                f"WARNING: the latest revision {app.latest} is not ready; the snapshot is the "
                f"serving revision {app.serving}"
            )
        if app.internal:
            self._notes.append(
                "WARNING: the app's ingress is internal: its FQDN answers only inside the "
                "environment's network, so run elb-upgrade from there or the gate will time out"
            )
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
        from elb_upgrade.platforms.azure import containerapp

        images = {name: c.image for name, c in pinned(wanted).items()}
        s = self._announce(log)
        self._refuse_missing(s, images)
        budget = s.settings.seconds("ELB_UPGRADE_AZURE_REVISION_WAIT", 300.0)
        deadline = self._clock.monotonic() + budget
        fresh, final, sent = self._update(s, images, deadline, log)
        if sent is not None:
            lost = containerapp.lost_update(sent, final)
            if lost:
                raise PlatformError(
                    "lost update: after elb-upgrade's update the app does not hold what was "
                    f"sent ({'; '.join(lost)}); someone else updated it at the same moment",
                    hint="check `az containerapp revision list -n <app> -g <rg> -o table` for "
                    "who changed what, then rerun",
                )
        revision = containerapp.latest_revision(s, final) if sent else fresh.latest
        self._since.setdefault(revision, self._clock.monotonic())
        log(f"new revision: {revision}" if sent else f"revision: {revision}")
        revision_json = self._wait_started(revision, deadline, log)
        staged = sent is not None and fresh.multiple
        return Deployment(
            revision=revision,
            images=containerapp.images_of(final, self._names),
            readiness_url=containerapp.revision_url(s, revision_json) if staged else None,
            readiness_revision=revision,
            staged=staged,
        )

    def _refuse_missing(self, s: Session, images: Mapping[str, str]) -> None:
        from elb_upgrade.platforms.azure import registry

        missing = sorted(i for i in set(images.values()) if not registry.exists(s, i))
        if missing:
            raise registry.ImageRefused(
                f"cannot deploy: not in the registry: {', '.join(missing)} (nothing was changed)",
                hint=registry.purge_advice(s, missing[0]),
            )

    def _update(
        self, s: Session, images: Mapping[str, str], deadline: float, log: LogSink
    ) -> tuple[AppRead, dict[str, Any], dict[str, Any] | None]:
        """Re-read, compare, PATCH; retry a busy app or a cancelled operation in budget.

        Returns the read the PATCH was based on, the app after it, and the body sent
        (None when the app already ran these images).
        """
        from elb_upgrade.platforms.azure import containerapp

        wait = s.settings.seconds("ELB_UPGRADE_AZURE_BACKOFF_SECONDS", 5.0)
        while True:
            fresh = containerapp.require(s)  # immediately before the PATCH
            self._refuse_moved(fresh)
            body = containerapp.patch_body(fresh, images)
            if body is None:
                log("the app already runs these images; no update needed")
                return fresh, fresh.body, None
            if fresh.multiple:
                containerapp.pin_traffic(fresh, body)
            changed = sorted(n for n, i in images.items() if fresh.state(images).image_of(n) != i)
            log(f"updating {s.app_name}: {', '.join(changed)} in one revision")
            try:
                final = containerapp.update(s, body)
            except containerapp.Busy as busy:
                wait = self._backoff(busy, busy.retry_after or wait, deadline, log)
                continue
            except containerapp.OperationEnded as ended:
                if ended.status.lower() != "canceled" or containerapp.changes(
                    fresh, containerapp.require(s)
                ):
                    raise
                wait = self._backoff(ended, wait, deadline, log)
                continue
            self._plan = None  # from now on the app is as we left it
            self._known.add(containerapp.images_of(body, self._names))
            return fresh, dict(final), body

    def _backoff(self, why: PlatformError, wait: float, deadline: float, log: LogSink) -> float:
        """Sleep `wait` (doubling, capped) or give up when the deploy budget is spent."""
        if self._clock.monotonic() + wait > deadline:
            raise RefusedError(
                f"{why.message}; still so when the deploy budget ran out (nothing was changed)",
                hint="wait for the other operation to finish (`az containerapp show --query "
                "properties.provisioningState`), then rerun; ELB_UPGRADE_AZURE_REVISION_WAIT "
                "sets the budget",
            )
        log(f"{why.message}; nothing changed, retrying in {wait:g}s")
        self._clock.sleep(wait)
        return min(wait * 2, BACKOFF_MAX)

    def _refuse_moved(self, fresh: AppRead) -> None:
        """RefusedError when the app moved since the plan (or is none this run knows)."""
        from elb_upgrade.platforms.azure import containerapp

        if self._plan is not None:
            moved = containerapp.changes(self._plan, fresh)
            if moved:
                raise RefusedError(
                    f"the app changed since the plan ({'; '.join(moved)}); nothing was "
                    "changed, rerun to plan against what runs now",
                    hint="someone else deployed meanwhile: `az containerapp revision list "
                    "-n <app> -g <rg> -o table` shows what changed",
                )
            return
        if self._known and fresh.state(self._names).images not in self._known:
            raise RefusedError(
                "the app changed since elb-upgrade last updated it (its images are none this "
                "run read or deployed); nothing was changed",
                hint="someone else deployed meanwhile; rerun elb-upgrade to snapshot the "
                "current state (`az containerapp revision list` shows what changed)",
            )

    # -- revisions -------------------------------------------------------------------
    def _wait_started(self, revision: str, deadline: float, log: LogSink) -> dict[str, Any] | None:
        """Poll until the revision is provisioned and running (or failed), within a bound."""
        from elb_upgrade.platforms.azure import containerapp

        s = self.session()
        interval = s.settings.seconds("ELB_UPGRADE_AZURE_POLL_SECONDS", 5.0)
        said, found = "", None
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
                log(f"{revision} still starting; the readiness gate takes over")
                return found
            self._clock.sleep(interval)

    def _classify(self, revision: str, found: dict[str, Any] | None) -> RevisionStatus:
        from elb_upgrade.platforms.azure import containerapp
        from elb_upgrade.platforms.azure.revision import UNHEALTHY_GRACE, classify

        age = self._clock.monotonic() - self._since.get(revision, self._clock.monotonic())
        if found is None:  # normal for a moment right after the PATCH
            if age >= UNHEALTHY_GRACE:
                return RevisionStatus(
                    RevisionState.FAILED,
                    f"revision {revision} still does not exist after {age:.0f}s",
                )
            return RevisionStatus(RevisionState.PENDING, f"revision {revision} is not listed yet")
        props = found.get("properties") or {}
        if str(props.get("provisioningState", "")).lower() == "provisioning":
            return classify(found, [], age)  # no replicas to list before it is provisioned
        return classify(found, containerapp.replicas(self.session(), revision), age)

    def revision_status(self, deployment: Deployment) -> RevisionStatus:
        from elb_upgrade.platforms.azure import containerapp

        found = containerapp.get_revision(self.session(), deployment.revision)
        return self._classify(deployment.revision, found)

    # -- multiple-revision mode --------------------------------------------------------
    def promote(self, deployment: Deployment, log: LogSink) -> None:
        """Multiple-revision mode: move all traffic to the gated revision."""
        from elb_upgrade.platforms.azure import containerapp

        if not deployment.staged:
            return
        s = self._announce(log)
        body = {
            "properties": {
                "configuration": {
                    "ingress": {"traffic": [{"revisionName": deployment.revision, "weight": 100}]}
                }
            }
        }
        log(f"moving all traffic to {deployment.revision}")
        containerapp.update(s, body, f"move traffic to {deployment.revision}")
        self._known.add(deployment.images)

    def discard(self, deployment: Deployment, log: LogSink) -> None:
        """Multiple-revision mode: deactivate the revision that failed its gate."""
        from elb_upgrade.platforms.azure import containerapp

        if not deployment.staged:
            return
        s = self._announce(log)
        log(f"deactivating {deployment.revision}; it never took traffic")
        containerapp.deactivate(s, deployment.revision)

    def manual_restore_commands(self, images: Mapping[str, str]) -> list[str]:
        return manual.manual_restore_commands(self.app, images)

    def follow_logs(self, container: str, out: TextIO) -> None:
        from elb_upgrade.platforms.azure import logs

        logs.follow(self.session(), container, out)
