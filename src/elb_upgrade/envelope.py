"""The one sequencer of side effects: preflight → plan → snapshot → deploy → gate → rollback.

`Envelope.run()` returns an `Outcome` for every ending it decides itself; errors it
cannot handle propagate as `elb_upgrade.errors` exceptions (or KeyboardInterrupt /
`Terminated`), which `elb_upgrade.run` turns into a result, an exit code and exactly one
history line. `phase` tells that caller where an interrupt landed. The caller holds the
lock for the whole of `run()`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from elb_upgrade import gitops, signals, snapshot
from elb_upgrade.clock import Clock, iso_z
from elb_upgrade.config import ROLLBACK, Config
from elb_upgrade.errors import (
    ConflictError,
    Declined,
    ImageMissingError,
    PlatformError,
    RefusedError,
    SnapshotError,
)
from elb_upgrade.gate import Fetch, GateSpec, Verdict, wait_ready
from elb_upgrade.outcome import Options, Outcome
from elb_upgrade.platforms.base import AppState, Deployment, Platform, RevisionState, RevisionStatus
from elb_upgrade.report import Target, explain_failure, explain_stranded
from elb_upgrade.ui import Reporter


@dataclass(frozen=True)
class Seams:
    """The side effects the envelope needs besides the platform."""

    clock: Clock
    fetch: Fetch
    git: gitops.Git
    snapshot_path: Path
    follow_logs: Callable[[str], None] | None = None


class Envelope:
    def __init__(
        self,
        config: Config,
        platform: Platform,
        options: Options,
        ui: Reporter,
        seams: Seams,
        outcome: Outcome | None = None,
    ) -> None:
        self.config, self.platform, self.opts, self.ui, self.seams = (
            config,
            platform,
            options,
            ui,
            seams,
        )
        self.phase = "preflight"
        self.outcome = outcome or Outcome(result="aborted")
        # What the current deploy or restore puts in place: reported if it is cut short.
        self.target: Target | None = None

    # -- the sequence -------------------------------------------------------------------
    def run(self) -> Outcome:
        """Run under the lock the caller holds (see `elb_upgrade.run`)."""
        self._preflight()
        if self.opts.scope == ROLLBACK:
            return self._rollback_scope()
        return self._upgrade()

    def _preflight(self) -> None:
        self.ui.phase(f"preflight: {self.config.app.name} on {self.platform.name}")
        git = self.seams.git
        if self.opts.scope != ROLLBACK:
            if self.opts.pull:
                gitops.pull(git, self.opts.branch)
            elif self.opts.branch:
                gitops.require_branch(git, self.opts.branch)
            if not self.opts.allow_dirty:
                gitops.require_clean(git)
            self.outcome.head_sha = git.head_sha()
        self.platform.check()
        if self.opts.scope == ROLLBACK:
            self.ui.info("storage parity check skipped for rollback (it may be the way out)")
        elif self.opts.skip_parity_check:
            self.ui.warn("storage parity check skipped (--skip-parity-check)")
        else:
            self.platform.parity_check(self.ui.info)

    def _upgrade(self) -> Outcome:
        state = self.platform.current()
        self.outcome.previous_revision = state.revision
        self.outcome.tag = self.opts.tag or self._default_tag()
        self._show_plan(state)
        if self.opts.dry_run:
            self.ui.info("dry run: nothing built, nothing deployed")
            self.outcome.result = "dry_run"
            return self.outcome
        self._confirm("Proceed?")
        self.phase = "snapshot"
        self._write_snapshot(state)
        refs = self._build()
        self.phase = "deploy"
        try:
            deployment = self._deploy(refs)
        except PlatformError as exc:
            return self._deploy_failed(state, exc)
        return self._gate_upgrade(state, deployment)

    def _build(self) -> dict[str, str]:
        """Build each image of the scope; image key → full image reference."""
        self.phase = "build"
        refs = {}
        for key in self.config.scopes[self.opts.scope]:
            image = next(i for i in self.config.app.images if i.key == key)
            self.ui.phase(f"build {image.repository}:{self.outcome.tag}")
            with self.ui.waiting(f"building {image.repository}:{self.outcome.tag}"):
                refs[key] = self.platform.build(image, self.outcome.tag, self.ui.detail)
        return refs

    def _deploy(self, refs: dict[str, str]) -> Deployment:
        containers = self.config.containers_for(self.opts.scope)
        wanted = {name: refs[key] for name, key in containers.items()}
        self.ui.phase(f"deploy {', '.join(sorted(wanted))}")
        self.target = Target(wanted, "deployed", "new")
        # A rolling deploy cut by Ctrl+C would leave some containers new and some old:
        # the interrupt waits until every container got its image.
        with signals.deferred(self.ui.warn):
            deployment = self.platform.deploy(wanted, self.ui.detail)
            self.outcome.deployed = dict(wanted)
            self.outcome.revision = deployment.revision
        return deployment

    def _gate_upgrade(self, state: AppState, deployment: Deployment) -> Outcome:
        self.phase = "gate"
        verdict = self._gate(deployment, self.opts.health_timeout)
        if verdict.passed:
            self._promote(deployment)
            self.ui.phase(f"ready: {deployment.revision} is serving ({verdict.elapsed:.1f}s)")
            self.outcome.result = "success"
            if self.opts.logs and self.seams.follow_logs:
                self.seams.follow_logs(self.config.app.main_container)
            return self.outcome
        self.outcome.down = verdict.down
        explain_failure(self.ui, verdict)
        reason = verdict.reason
        if deployment.staged:
            return self._discard_staged(state, deployment, reason)
        if not self.opts.auto_rollback:
            return self._manual_rollback_advice(reason)
        return self._auto_rollback(state, reason)

    # -- failure paths ------------------------------------------------------------------
    def _deploy_failed(self, state: AppState, exc: PlatformError) -> Outcome:
        self.ui.error(str(exc))
        self.outcome.message = f"deploy failed: {exc.message}"
        # A 412 means the platform refused the whole update: nothing of ours was applied,
        # and "restoring" would overwrite whatever the other operator just deployed. A
        # refusal (RefusedError) also changed nothing: there is nothing to roll back.
        refused = isinstance(exc, (ConflictError, RefusedError))
        if refused or not state.images or not self.opts.auto_rollback:
            self.outcome.result = "build_in_progress"
            return self.outcome
        return self._auto_rollback(state, f"deploy failed: {exc.message}")

    def _discard_staged(self, state: AppState, deployment: Deployment, reason: str) -> Outcome:
        """A staged revision that failed its gate never took traffic: remove it, done."""
        self.phase = "rollback"
        with signals.deferred(self.ui.warn):
            self.platform.discard(deployment, self.ui.detail)
        serving = state.revision or "the previous revision"
        self.ui.phase(f"rolled back: {serving} kept serving; no traffic was moved")
        self.outcome.result = "upgrade_failed_rolled_back"
        self.outcome.message = f"{reason}; no traffic was moved, {serving} kept serving"
        return self.outcome

    def _promote(self, deployment: Deployment) -> None:
        """Switch traffic to a gated revision (a no-op for platforms that never stage)."""
        with signals.deferred(self.ui.warn):
            self.platform.promote(deployment, self.ui.detail)

    def _manual_rollback_advice(self, reason: str) -> Outcome:
        command = "elb-upgrade rollback --yes"
        if self.opts.config_arg:
            command += f" --config {self.opts.config_arg}"
        self.ui.error(
            f"auto-rollback is off; the new revision stays deployed. Roll back with:\n  {command}"
        )
        self.outcome.result = "upgrade_failed"
        self.outcome.message = reason
        return self.outcome

    def _auto_rollback(self, state: AppState, reason: str) -> Outcome:
        if not state.images:
            self.ui.error("nothing to roll back to: this was the app's first deploy")
            self.outcome.result = "upgrade_failed"
            self.outcome.message = f"{reason}; first deploy, nothing to roll back to"
            return self.outcome
        self.ui.phase(f"auto-rollback to {state.revision or 'the snapshot'}")
        verdict = self._restore(self._managed(state))
        if verdict.passed:
            self.outcome.result = "upgrade_failed_rolled_back"
            self.outcome.message = f"{reason}; rolled back to {state.revision}"
        else:
            self.outcome.result = "rollback_failed"
            self.outcome.message = f"{reason}; rollback also failed: {verdict.reason}"
        return self.outcome

    def _rollback_scope(self) -> Outcome:
        snap = snapshot.read(self.seams.snapshot_path, self.config.app.name)
        state = snap.state
        self._refuse_stale(state)
        self.outcome.tag = _tag_of(state, self.config.app.main_container)
        self.outcome.previous_revision = self.platform.current().revision
        self.ui.phase(
            f"rollback {self.config.app.name} to {state.revision} (snapshot of {snap.taken_at})"
        )
        for image in state.images:
            self.ui.detail(f"{image.name}: {image.image}")
        self._confirm("Roll back to these images?")
        verdict = self._restore(state)
        if verdict.passed:
            self.outcome.result = "rollback_success"
            self.ui.phase(f"rolled back: {self.outcome.revision} is serving")
        else:
            self.outcome.result = "rollback_failed"
            self.outcome.message = verdict.reason
        return self.outcome

    def _restore(self, state: AppState) -> Verdict:
        """Put the snapshot's images back and gate them with the rollback budget.

        A failed restore is explained here, gate or platform: what each container runs
        now and how to finish by hand. The verdict says why for the history line.
        """
        self.phase = "rollback"
        images = {i.name: i.image for i in state.images}
        self.target = Target(images, "restored", "snapshot")
        try:
            deployment = self._put_back(images)
        except PlatformError as exc:
            self.ui.error(str(exc))
            where = explain_stranded(
                self.ui,
                self.platform,
                self.config.app,
                self.target,
                self.opts.config_arg,
                commands=not isinstance(exc, ImageMissingError),
            )
            return Verdict(False, f"{exc.message}; {where}", 0.0)
        timeout = self.opts.rollback_timeout or self.opts.health_timeout
        verdict = self._gate(deployment, timeout)
        if verdict.passed:
            self._promote(deployment)
        else:
            explain_failure(self.ui, verdict)
            if deployment.staged:
                with signals.deferred(self.ui.warn):
                    self.platform.discard(deployment, self.ui.detail)
        return verdict

    def _put_back(self, images: dict[str, str]) -> Deployment:
        missing = [i for i in images.values() if not self.platform.image_exists(i)]
        if missing:
            raise ImageMissingError(
                f"cannot roll back: image(s) no longer exist: {', '.join(missing)}",
                hint="rebuild that version with `elb-upgrade <scope> --tag <old tag>` from its "
                "commit, and review the registry's retention / prune policy",
            )
        # Every container gets its old image, whatever signals arrive meanwhile.
        with signals.deferred(self.ui.warn):
            deployment = self.platform.deploy(images, self.ui.detail)
            self.outcome.revision = deployment.revision
            self.outcome.deployed = dict(images)
        return deployment

    def _managed(self, state: AppState) -> AppState:
        """`state` without containers the config does not define (left as they run)."""
        known = {c.name for c in self.config.app.containers}
        others = [i.name for i in state.images if i.name not in known]
        if others:
            self.ui.warn(
                f"not restoring {', '.join(others)}: not in {self.config.path.name} "
                "(this run did not change them)"
            )
        return AppState(state.revision, tuple(i for i in state.images if i.name in known))

    def _refuse_stale(self, state: AppState) -> None:
        """A snapshot naming containers the config no longer has is not restored."""
        known = {c.name for c in self.config.app.containers}
        stale = [i.name for i in state.images if i.name not in known]
        if stale:
            raise SnapshotError(
                f"snapshot {self.seams.snapshot_path} lists container(s) "
                f"{', '.join(stale)} that {self.config.path.name} no longer defines; "
                "nothing was changed",
                hint="restore by hand (docs/operate/upgrade.md, manual rollback) or deploy "
                "a known-good tag with `elb-upgrade <scope> --tag <tag>`",
            )

    # -- helpers ------------------------------------------------------------------------
    def _gate(self, deployment: Deployment, timeout: float) -> Verdict:
        url = deployment.readiness_url or self.config.readiness_url
        spec = GateSpec(url, deployment.readiness_revision, timeout, self.opts.health_interval)
        self.ui.phase(f"gate: waiting up to {timeout:g}s for {url}")
        with self.ui.waiting(f"waiting for {deployment.revision} to become ready"):
            return wait_ready(
                spec, lambda: self._status(deployment), self.seams.fetch, self.seams.clock
            )

    def _status(self, deployment: Deployment) -> RevisionStatus:
        try:
            return self.platform.revision_status(deployment)
        except PlatformError as exc:  # a blip talking to the platform is not a verdict
            return RevisionStatus(
                RevisionState.PENDING, f"platform status unavailable: {exc.message}"
            )

    def _show_plan(self, state: AppState) -> None:
        containers = self.config.containers_for(self.opts.scope)
        self.ui.phase(f"plan: {self.opts.scope} → tag {self.outcome.tag}")
        self.ui.detail(f"running revision: {state.revision or '(none: first deploy)'}")
        repositories = {i.key: i.repository for i in self.config.app.images}
        for name, key in containers.items():
            current = state.image_of(name) or "(not running)"
            self.ui.detail(f"{name}: {current} → {repositories[key]}:{self.outcome.tag}")

    def _confirm(self, question: str) -> None:
        if self.opts.yes or self.opts.dry_run:
            return
        self.phase = "confirm"
        if not self.ui.ask(question):
            raise Declined("declined at the prompt; nothing was changed")

    def _write_snapshot(self, state: AppState) -> None:
        snap = snapshot.Snapshot(
            self.config.app.name, self.platform.name, iso_z(self.seams.clock.utcnow()), state
        )
        snapshot.write(self.seams.snapshot_path, snap)
        self.ui.detail(
            f"snapshot of {state.revision or 'an empty app'} → {self.seams.snapshot_path}"
        )

    def _default_tag(self) -> str:
        local = self.seams.clock.utcnow().astimezone()
        return f"{local:%Y%m%d%H%M%S}-{self.outcome.head_sha}"


def _tag_of(state: AppState, main: str) -> str:
    image = state.image_of(main) or (state.images[0].image if state.images else "")
    name, _, tag = image.rpartition(":")
    return tag if name and "/" not in tag else ""
