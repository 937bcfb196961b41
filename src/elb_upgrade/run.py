"""One `elb-upgrade <scope>` run, top to bottom: the only sequencer of side effects.

    config → scope → lock → preflight → plan → confirm → snapshot → build → deploy →
    gate → (promote | auto-rollback) → record

`upgrade()` runs it and, whatever happens inside (an ending the run decides itself, one
of our errors, Ctrl+C, SIGTERM or a bug), turns it into a `Result` and an exit code
through `elb_upgrade.results` and writes exactly one history line (none for
`--dry-run` or a usage or config error). The lock, once taken, is released only after
that line is written; signals that arrive while the run is ending are held and dropped,
so a second Ctrl+C cannot cost the history line. `Run.phase` says where an interrupt
landed. `--logs` follows the log only after all that (`follow_logs`): following it can
change neither the result nor the exit code.

Side effects besides the state files come through `Edges` (clock, platform, readiness
fetch, git), so the whole sequence is tested in process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import re
import sys
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from elb_upgrade import config as config_mod
from elb_upgrade import lock, releases, signals, snapshot
from elb_upgrade.clock import Clock, SystemClock, iso_z
from elb_upgrade.config import ROLLBACK, Config
from elb_upgrade.errors import (
    BuildError,
    ConflictError,
    Declined,
    ElbUpgradeError,
    ImageMissingError,
    PlatformError,
    RefusedError,
    ScopeError,
    SnapshotError,
    StateFileError,
)
from elb_upgrade.explain import Target, container_states, explain_failure, explain_stranded
from elb_upgrade.history import record
from elb_upgrade.results import CHANGING, USAGE_EXIT, Phase, Result, result_for
from elb_upgrade.state.base import LockLostError, RunMeta, host_name
from elb_upgrade.ui import Reporter

if TYPE_CHECKING:
    from elb_upgrade.gate import Verdict
    from elb_upgrade.gitops import Git
    from elb_upgrade.platforms.base import (
        AppState,
        ContainerImage,
        Deployment,
        ImageInfo,
        Platform,
        RevisionStatus,
    )
    from elb_upgrade.readiness_body import Component, Fetch
    from elb_upgrade.releases import Release
    from elb_upgrade.spec import AppSpec
    from elb_upgrade.state.base import Lease, StateBackend

# Docker's tag grammar; Azure Container Registry's is the same. Anything else never
# reaches a platform, a file name or a history line.
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")


# -- what was asked, how it ended ----------------------------------------------------------
@dataclass(frozen=True)
class Options:
    """The operator's choices for one run, already validated by the CLI."""

    scope: str
    yes: bool = False
    dry_run: bool = False
    allow_dirty: bool = False
    pull: bool = False
    branch: str | None = None
    tag: str | None = None
    health_timeout: float = 180.0
    health_interval: float = 5.0
    rollback_timeout: float | None = None
    auto_rollback: bool = True
    skip_parity_check: bool = False
    lock_wait: float = 0.0
    logs: bool = False
    config_arg: str | None = None
    state: str | None = None  # `--state local`: override the config's [state] backend
    to: str | None = None  # `rollback --to REVISION|TAG`: a kept release


@dataclass
class Outcome:
    """How a run ended, and what the history line and the summary say about it."""

    result: Result = Result.ABORTED
    message: str = ""
    tag: str = ""
    head_sha: str = ""
    commit_ts: str = ""  # HEAD's committer time (UTC), for lead time in `report`
    revision: str = ""
    previous_revision: str = ""
    deployed: dict[str, str] = field(default_factory=dict)
    down: list[Component] = field(default_factory=list)


@dataclass
class Finished:
    """The run's outcome plus what the history line and the summary need."""

    outcome: Outcome
    exit_code: int
    app: str
    scope: str
    elapsed_seconds: int
    ts: str
    # `--logs` after a success: follows the main container's log into a stream. Run by
    # `follow_logs` only after the history line is written and the lock released.
    follow: Callable[[TextIO], None] | None = None


def _default_platform(name: str, app: AppSpec) -> Platform:
    from elb_upgrade.platforms.base import get_platform

    return get_platform(name, app)


def _default_fetch() -> tuple[Fetch, Callable[[], None]]:
    from elb_upgrade.readiness_fetch import http_fetch

    return http_fetch()


def _default_git(root: Path) -> Git:
    from elb_upgrade.gitops import Git

    return Git(root)


@dataclass(frozen=True)
class Edges:
    """The side effects of a run besides its state files; tests pass their own."""

    clock: Clock = field(default_factory=SystemClock)
    platform: Callable[[str, AppSpec], Platform] = _default_platform
    fetch: Callable[[], tuple[Fetch, Callable[[], None]]] = _default_fetch
    git: Callable[[Path], Git] = _default_git


# -- the entry point: errors become results here -------------------------------------------
def upgrade(
    options: Options,
    environ: Mapping[str, str],
    cwd: Path,
    ui: Reporter,
    edges: Edges | None = None,
) -> Finished:
    """Run `options` and record its ending."""
    edges = edges or Edges()
    clock = edges.clock
    started, ts = clock.monotonic(), iso_z(clock.utcnow())
    problem = invalid_option(options)
    if problem:  # a usage error: nothing happened, no history line
        ui.error(problem)
        return Finished(Outcome(Result.ABORTED, problem), USAGE_EXIT, "", options.scope, 0, ts)
    signals.install()
    run = Run(options, ui, edges)
    with contextlib.ExitStack() as held:  # holds the lock once taken; see Run.start
        try:
            exit_code = run.start(environ, cwd, held)
        except (ElbUpgradeError, KeyboardInterrupt, signals.Terminated) as exc:
            with signals.ignored():
                exit_code = run.ended_by(exc)
        except Exception as exc:  # a bug: still one history line, no traceback unless asked
            with signals.ignored():
                exit_code = run.ended_by_bug(exc, environ)
        with signals.ignored():
            elapsed = round(clock.monotonic() - started)
            finished = Finished(run.outcome, exit_code, run.app, run.scope, elapsed, ts)
            if _recorded(finished, options):
                _record(finished, environ, ui, run.state, RunMeta.current(run.run_id, environ))
            _step_summary(finished, environ, ui)
    finished.follow = run.follow if exit_code == 0 else None
    return finished


def follow_logs(finished: Finished, ui: Reporter, out: TextIO | None = None) -> None:
    """`--logs`: follow the main container's log after the run has ended and been recorded.

    The outcome, the history line and the lock are settled before this starts, so nothing
    here can change them: Ctrl+C, SIGTERM or a log that cannot be read only stop following.
    """
    if finished.follow is None:
        return
    standing = f"the run's result stands: {finished.outcome.result} (exit {finished.exit_code})"
    try:
        ui.info(f"following the log (Ctrl+C stops following; {standing})")
        finished.follow(out or sys.stdout)
    except (KeyboardInterrupt, signals.Terminated):
        with signals.ignored():
            ui.info(f"stopped following the log; {standing}")
    except ElbUpgradeError as exc:
        ui.warn(f"cannot follow the log: {exc.message}; {standing}")
    except OSError as exc:  # the reader went away (`| head`, a closed terminal)
        with contextlib.suppress(OSError, ValueError):
            ui.warn(f"stopped following the log ({exc.strerror or exc}); {standing}")


def invalid_option(options: Options) -> str | None:
    """Why `options` cannot be run (a usage error), or None.

    click accepts `nan` and `inf` as floats, and a NaN deadline never passes: the gate or
    the lock wait would spin for ever. A tag reaches image names and the history line.
    """
    seconds = {
        "--health-timeout": options.health_timeout,
        "--health-interval": options.health_interval,
        "--rollback-timeout": options.rollback_timeout,
        "--lock-wait": options.lock_wait,
    }
    for flag, value in seconds.items():
        if value is not None and not math.isfinite(value):
            return f"{flag} must be a finite number of seconds, not {value}"
    if options.to is not None and options.scope != ROLLBACK:
        return f"--to {options.to[:60]!r} only applies to `elb-upgrade rollback`"
    if options.to is not None and not _TAG.match(options.to):
        return f"--to {options.to[:60]!r} is not a revision or tag (see `elb-upgrade releases`)"
    if options.tag is not None and not _TAG.match(options.tag):
        return (
            f"--tag {options.tag[:60]!r} is not a valid image tag "
            "(letters, digits, '_', '.', '-'; at most 128; not starting with '.' or '-')"
        )
    return None


# -- the run ---------------------------------------------------------------------------------
class Run:
    """One run's state and its sequence; `phase` is where it is."""

    def __init__(self, options: Options, ui: Reporter, edges: Edges) -> None:
        self.opts, self.ui, self.edges, self.clock = options, ui, edges, edges.clock
        self.phase = Phase.SETUP
        self.outcome = Outcome()
        self.app = ""
        self.scope = options.scope
        self.config: Config | None = None
        self.platform: Platform | None = None
        self.run_id = uuid.uuid4().hex
        self.state: StateBackend | None = None  # where the lock, snapshot and history live
        self.lease: Lease | None = None
        self.fetch: Fetch | None = None
        self.git: Git | None = None
        # What the current deploy or restore puts in place: reported if it is cut short.
        self.target: Target | None = None
        self.store: releases.Store | None = None
        self.source_sha = ""  # the commit the deployed images were built from
        self.follow: Callable[[TextIO], None] | None = None  # `--logs`, set on success

    def start(self, environ: Mapping[str, str], cwd: Path, held: contextlib.ExitStack) -> int:
        """Config, scope and lock; then the sequence. `held` keeps the lock until the
        caller has written the history line."""
        from elb_upgrade.platforms.base import platform_variables

        path = config_mod.find(self.opts.config_arg, cwd, environ)
        cfg = config_mod.load(path, environ, extra=platform_variables)
        self.config, self.app = cfg, cfg.app.name
        try:
            self.scope = cfg.resolve_scope(self.opts.scope)
        except ScopeError:
            self.scope = "unknown"
            raise
        self.opts = replace(self.opts, scope=self.scope)
        from elb_upgrade.state import open_backend

        self.state = open_backend(cfg.state, environ, self.opts.state)
        # The lock comes first, as `cli-upgrade.sh` takes its flock at script start: a
        # racing operator learns at once, before any slow preflight or SDK import, and
        # `--pull` never rewrites a checkout another run is building from.
        self.phase = Phase.LOCK
        holder = replace(lock.Holder.current(self.scope, self.clock), host=host_name(environ))
        self.lease = held.enter_context(
            self.state.lock(
                cfg.app.name, holder, self.run_id, self.opts.lock_wait, self.clock, self.ui.warn
            )
        )
        # And the app's own lock, whatever the snapshot path: two checkouts of one app
        # never deploy at once.
        app_lock = lock.app_lock_path(cfg.app.name, environ)
        held.enter_context(
            lock.acquire(app_lock, holder, self.opts.lock_wait, self.clock, self.ui.warn)
        )
        self.store = releases.Store(releases.default_path(cfg.app.name, environ), cfg.app.name)
        self.phase = Phase.PREFLIGHT
        self.platform = self.edges.platform(cfg.platform, cfg.app)
        self.git = self.edges.git(cfg.root)
        fetch, close = self.edges.fetch()
        self.fetch = fetch
        try:
            self._sequence()
        finally:
            close()
        return self.outcome.result.exit_code

    def _sequence(self) -> None:
        self._preflight()
        if self.opts.scope == ROLLBACK:
            self._rollback_scope()
        else:
            self._upgrade()

    # -- preflight, plan, snapshot, build, deploy, gate -----------------------------------
    def _preflight(self) -> None:
        cfg, platform, git = self._cfg, self._platform, self._git
        self.ui.phase(f"preflight: {cfg.app.name} on {platform.name}")
        if self.opts.scope != ROLLBACK:
            from elb_upgrade import gitops

            # Branch and clean tree first: `--pull` never merges into a tree it then refuses.
            if self.opts.branch:
                gitops.require_branch(git, self.opts.branch)
            if not self.opts.allow_dirty:
                gitops.require_clean(git)
            if self.opts.pull:
                self.ui.info(gitops.pull(git, self.opts.branch, dry_run=self.opts.dry_run))
            self.outcome.head_sha = git.head_sha()
            self.outcome.commit_ts = _utc(git.commit_ts())
        platform.check()
        if self.opts.scope == ROLLBACK:
            self.ui.info("storage parity check skipped for rollback (it may be the way out)")
        elif self.opts.skip_parity_check:
            self.ui.warn("storage parity check skipped (--skip-parity-check)")
        else:
            platform.parity_check(self.ui.info)

    def _upgrade(self) -> None:
        self.phase = Phase.PLAN
        state = self._platform.current()
        self.outcome.previous_revision = state.revision
        if self.opts.tag:
            self.outcome.tag = self.opts.tag
            existing = self._existing_images()
        else:
            self.outcome.tag, existing = self._fresh_default_tag(), {}
        self._show_plan(state, existing)
        if self.opts.dry_run:
            self.ui.info("dry run: nothing built, nothing deployed")
            self.outcome.result = Result.DRY_RUN
            return
        self._confirm("Proceed?")
        self.phase = Phase.SNAPSHOT
        self._write_snapshot(state)
        built = existing or self._build()
        self.phase = Phase.DEPLOY
        try:
            deployment = self._deploy(built)
        except PlatformError as exc:
            self._deploy_failed(state, exc)
            return
        self._gate_upgrade(state, deployment)

    def _existing_images(self) -> dict[str, ImageInfo]:
        """Image key → the image `--tag` already names, when every image of the scope
        has it: deployed as it is, never rebuilt. {} when none has it (build them)."""
        found = {}
        for key in self._cfg.scopes[self.opts.scope]:
            image = next(i for i in self._cfg.app.images if i.key == key)
            info = self._platform.resolve(f"{image.repository}:{self.outcome.tag}")
            if info is not None:
                found[key] = info
        missing = [k for k in self._cfg.scopes[self.opts.scope] if k not in found]
        if found and missing:
            have = ", ".join(sorted(found))
            raise RefusedError(
                f"tag {self.outcome.tag} exists for {have} but not for {', '.join(missing)}: "
                "deploying it would mix an old build with a new one; nothing was changed",
                hint="pick a new --tag to build HEAD, or a scope whose images all have "
                f"{self.outcome.tag}",
            )
        for info in found.values():
            built_from = info.git_sha[:12] or "an unrecorded commit"
            self.ui.info(f"using existing image {info.ref}, built from {built_from}; no build")
        shas = {info.git_sha for info in found.values()}
        self.source_sha = shas.pop() if len(shas) == 1 else self.outcome.head_sha
        return found

    def _fresh_default_tag(self) -> str:
        """`YYYYmmddHHMMSS-<sha>`, made unique: two runs of one commit within a second (say
        `api`, then `full`) must not meet each other's tag, which is never overwritten."""
        base = self._default_tag()
        repositories = [
            i.repository for i in self._cfg.app.images if i.key in self._cfg.scopes[self.opts.scope]
        ]
        for n in range(1, 100):
            tag = base if n == 1 else f"{base}.{n}"
            if all(self._platform.resolve(f"{r}:{tag}") is None for r in repositories):
                return tag
        return f"{base}.{uuid.uuid4().hex[:8]}"

    def _show_plan(self, state: AppState, existing: Mapping[str, ImageInfo]) -> None:
        cfg = self._cfg
        containers = cfg.containers_for(self.opts.scope)
        self.ui.phase(f"plan: {self.opts.scope} → tag {self.outcome.tag}")
        self.ui.detail(f"running revision: {state.revision or '(none: first deploy)'}")
        repositories = {i.key: i.repository for i in cfg.app.images}
        for name, key in containers.items():
            current = state.image_of(name) or "(not running)"
            how = " (existing image, no build)" if key in existing else " (build HEAD)"
            self.ui.detail(f"{name}: {current} → {repositories[key]}:{self.outcome.tag}{how}")

    def _confirm(self, question: str) -> None:
        if self.opts.yes or self.opts.dry_run:
            return
        self.phase = Phase.CONFIRM
        if not self.ui.ask(question):
            raise Declined("declined at the prompt; nothing was changed")

    def _write_snapshot(self, state: AppState) -> None:
        self._still_locked("writing the snapshot")
        release = releases.with_metadata(state, self._kept())
        snap = snapshot.Snapshot(
            self._cfg.app.name, self._platform.name, iso_z(self.clock.utcnow()), release
        )
        self._state.write_snapshot(snap)
        where = self._state.snapshot_where(snap.app)
        self.ui.detail(f"snapshot of {state.revision or 'an empty app'} → {where}")

    def _still_locked(self, before: str) -> None:
        """Stop before a side effect once the lock is no longer ours (a shared lease that
        could not be renewed, or `lock break`). Nothing is rolled back then: another run
        may hold the lock now, and undoing would overwrite its work."""
        why = self.lease.lost() if self.lease else None
        if not why:
            return
        where = self._state.where(self.app)
        if self.outcome.revision:
            after = (
                f"{self.outcome.revision} is deployed but not verified and was not rolled "
                "back; check `elb-upgrade status`, and once `elb-upgrade lock status` shows "
                "the lock free, run `elb-upgrade rollback` if it is bad"
            )
        else:
            after = "nothing was deployed; rerun once `elb-upgrade lock status` shows it free"
        raise LockLostError(f"lost the lock {where}: {why}; stopped before {before}", hint=after)

    def _build(self) -> dict[str, ImageInfo]:
        """Build each image of the scope from HEAD; image key → the image built (its digest)."""
        self.phase = Phase.BUILD
        self._still_locked("building")
        self.source_sha = self.outcome.head_sha
        built = {}
        for key in self._cfg.scopes[self.opts.scope]:
            image = next(i for i in self._cfg.app.images if i.key == key)
            self.ui.phase(f"build {image.repository}:{self.outcome.tag}")
            with self.ui.waiting(f"building {image.repository}:{self.outcome.tag}"):
                ref = self._platform.build(
                    image, self.outcome.tag, self.ui.detail, self.outcome.head_sha
                )
            info = self._platform.resolve(ref)
            if info is None:
                raise BuildError(
                    f"built {ref} but the platform does not find it",
                    hint="someone removed it meanwhile; rerun",
                )
            built[key] = info
        return built

    def _deploy(self, built: Mapping[str, ImageInfo]) -> Deployment:
        from elb_upgrade.platforms.base import ContainerImage

        containers = self._cfg.containers_for(self.opts.scope)
        # Pinned by digest: what deploys is what was built (or found), whatever its tag
        # names by the time the platform pulls it.
        wanted = {
            name: ContainerImage(name, built[key].ref, built[key].digest)
            for name, key in containers.items()
        }
        refs = {name: c.image for name, c in wanted.items()}
        self.ui.phase(f"deploy {', '.join(sorted(wanted))}")
        self._still_locked("deploying")
        self.target = Target(refs, "deployed", "new")
        # A rolling deploy cut by Ctrl+C would leave some containers new and some old:
        # the interrupt waits until every container got its image.
        with signals.deferred(self.ui.warn):
            deployment = self._platform.deploy(wanted, self.ui.detail)
            self.outcome.deployed = refs
            self.outcome.revision = deployment.revision
        return deployment

    def _gate_upgrade(self, state: AppState, deployment: Deployment) -> None:
        self.phase = Phase.GATE
        verdict, switched = self._gate_and_switch(deployment, self.opts.health_timeout)
        if verdict.passed:
            self.ui.phase(f"ready: {deployment.revision} is serving ({verdict.elapsed:.1f}s)")
            self.outcome.result = Result.SUCCESS
            self._record_release(deployment.revision, self.outcome.tag, self.source_sha)
            if self.opts.logs:  # followed by `follow_logs` once recorded and unlocked
                platform, main = self._platform, self._cfg.app.main_container
                self.follow = lambda out: platform.follow_logs(main, out)
            return
        self.outcome.down = verdict.down
        explain_failure(self.ui, verdict)
        if deployment.staged and not switched:
            self._discard_staged(state, deployment, verdict.reason)
        elif not self.opts.auto_rollback:
            self._manual_rollback_advice(verdict.reason)
        else:
            self._auto_rollback(state, verdict.reason)

    def _gate_and_switch(self, deployment: Deployment, timeout: float) -> tuple[Verdict, bool]:
        """Gate `deployment`; when it passes, switch traffic to it and, for a staged one,
        gate it once more as it now serves: containers without a port start only after the
        switch, so a crashing worker is caught too. The verdict, and whether traffic was
        switched (what serves is then never discarded)."""
        verdict = self._gate(deployment, timeout)
        if not verdict.passed:
            return verdict, False
        self._promote(deployment)
        if deployment.staged:
            verdict = self._gate(promoted(deployment), timeout)
        return verdict, True

    def _gate(self, deployment: Deployment, timeout: float) -> Verdict:
        from elb_upgrade.gate import GateSpec, wait_ready

        url = deployment.readiness_url or self._cfg.readiness_url
        spec = GateSpec(url, deployment.readiness_revision, timeout, self.opts.health_interval)
        self.ui.phase(f"gate: waiting up to {timeout:g}s for {url}")
        assert self.fetch is not None
        fetch = self.fetch
        progress = GateProgress(self.ui, self.clock, deployment.revision, timeout)
        with self.ui.waiting(f"waiting for {deployment.revision} to become ready"):
            return wait_ready(
                spec, lambda: self._status(deployment), fetch, self.clock, progress.poll
            )

    def _status(self, deployment: Deployment) -> RevisionStatus:
        from elb_upgrade.platforms.base import RevisionState, RevisionStatus

        try:
            return self._platform.revision_status(deployment)
        except PlatformError as exc:  # a blip talking to the platform is not a verdict
            return RevisionStatus(
                RevisionState.PENDING, f"platform status unavailable: {exc.message}"
            )

    def _promote(self, deployment: Deployment) -> None:
        """Switch traffic to a gated revision (a no-op for platforms that never stage)."""
        self._still_locked(f"promoting {deployment.revision}")
        with signals.deferred(self.ui.warn):
            self._platform.promote(deployment, self.ui.detail)

    # -- failure paths --------------------------------------------------------------------
    def _deploy_failed(self, state: AppState, exc: PlatformError) -> None:
        self.ui.error(str(exc))
        self.outcome.message = f"deploy failed: {exc.message}"
        if isinstance(exc, RefusedError):
            # Refused before anything changed: nothing to roll back, and a "restore" could
            # overwrite what another operator deployed meanwhile.
            self.ui.info("nothing was changed: the platform refused before applying anything")
            self.outcome.result = Result.ABORTED
            self.outcome.message = f"deploy refused, nothing was changed: {exc.message}"
            return
        if isinstance(exc, ConflictError) or not state.images or not self.opts.auto_rollback:
            self.outcome.result = Result.BUILD_IN_PROGRESS
            return
        self._auto_rollback(state, f"deploy failed: {exc.message}")

    def _discard_staged(self, state: AppState, deployment: Deployment, reason: str) -> None:
        """A staged revision that failed its gate never took traffic: remove it, done."""
        self.phase = Phase.ROLLBACK
        self._still_locked(f"discarding {deployment.revision}")
        with signals.deferred(self.ui.warn):
            self._platform.discard(deployment, self.ui.detail)
        serving = state.revision or "the previous revision"
        self.ui.phase(f"rolled back: {serving} kept serving; no traffic was moved")
        self.outcome.result = Result.UPGRADE_FAILED_ROLLED_BACK
        self.outcome.message = f"{reason}; no traffic was moved, {serving} kept serving"

    def _manual_rollback_advice(self, reason: str) -> None:
        command = "elb-upgrade rollback --yes"
        if self.opts.config_arg:
            command += f" --config {self.opts.config_arg}"
        self.ui.error(
            f"auto-rollback is off; the new revision stays deployed. Roll back with:\n  {command}"
        )
        self.outcome.result = Result.UPGRADE_FAILED
        self.outcome.message = reason

    def _auto_rollback(self, state: AppState, reason: str) -> None:
        if not state.images:
            self.ui.error("nothing to roll back to: this was the app's first deploy")
            self.outcome.result = Result.UPGRADE_FAILED
            self.outcome.message = f"{reason}; first deploy, nothing to roll back to"
            return
        self.ui.phase(f"auto-rollback to {state.revision or 'the snapshot'}")
        verdict = self._restore(self._managed(state))
        if verdict.passed:
            self.outcome.result = Result.UPGRADE_FAILED_ROLLED_BACK
            self.outcome.message = f"{reason}; rolled back to {state.revision}"
            previous = releases.with_metadata(state, self._kept())
            self._record_release(
                self.outcome.revision, previous.tag, previous.git_sha, restores=state.revision
            )
            again = state.revision or "the snapshot"
            if self.outcome.revision and self.outcome.revision != state.revision:
                again += f" (as {self.outcome.revision})"
            self.ui.phase(f"rolled back: {again} is serving again; the upgrade was not kept")
        else:
            self.outcome.result = Result.ROLLBACK_FAILED
            self.outcome.message = f"{reason}; rollback also failed: {verdict.reason}"
            self._human_must_look()

    # -- the rollback scope and restores --------------------------------------------------
    def _rollback_scope(self) -> None:
        release, source = self._rollback_target()
        state = release.state
        self._refuse_stale(state)
        self._refuse_missing_images(state)
        self.outcome.tag = release.tag or _tag_of(state, self._cfg.app.main_container)
        current = self._platform.current()
        self.outcome.previous_revision = current.revision
        if self._already_runs(release, current):
            said = f"already runs {release.describe()}; nothing changed"
            self.ui.phase(said)
            self.outcome.result = Result.ROLLBACK_SUCCESS
            self.outcome.revision, self.outcome.message = current.revision, said
            return
        self.ui.phase(f"rollback {self._cfg.app.name} to {release.describe()} ({source})")
        for image in state.images:
            pinned = f" @ {image.digest}" if image.digest else ""
            self.ui.detail(f"{image.name}: {image.image}{pinned}")
        self._confirm("Roll back to this release?")
        verdict = self._restore(state)
        if verdict.passed:
            self.outcome.result = Result.ROLLBACK_SUCCESS
            self.ui.phase(f"rolled back: {self.outcome.revision} is serving")
            self._record_release(
                self.outcome.revision, release.tag, release.git_sha, restores=release.revision
            )
        else:
            self.outcome.result = Result.ROLLBACK_FAILED
            self.outcome.message = verdict.reason
            self._human_must_look()

    def _human_must_look(self) -> None:
        """The closing line of a rollback that changed containers and did not get ready."""
        config = f" --config {self.opts.config_arg}" if self.opts.config_arg else ""
        self.ui.error(
            "rollback failed: the app may be down and a human must look now: run "
            f"`elb-upgrade status{config}`, then `elb-upgrade rollback --yes{config}` or the "
            "manual rollback in docs/operate/upgrade.md"
        )

    def _read_snapshot(self) -> snapshot.Snapshot:
        """The snapshot to roll back to; a missing or bad one is a refusal, not a failure."""
        try:
            return self._state.read_snapshot(self._cfg.app.name)
        except SnapshotError as exc:
            raise SnapshotError(_nothing_changed(exc.message), hint=exc.hint) from exc

    def _refuse_missing_images(self, state: AppState) -> None:
        """Refuse before asking or changing anything when the snapshot's images are gone."""
        wanted = dict.fromkeys(i.identity for i in state.images)  # each image once, in order
        missing = [image for image in wanted if not self._platform.image_exists(image)]
        if missing:
            raise RefusedError(
                f"cannot roll back: image(s) no longer exist: {', '.join(missing)}; "
                "nothing was changed",
                hint=_REBUILD_HINT,
            )

    def _rollback_target(self) -> tuple[Release, str]:
        """The release to restore and where it comes from: `--to` or the snapshot."""
        if self.opts.to is None:
            snap = self._read_snapshot()
            if snap.legacy:
                self.ui.warn(
                    f"snapshot {self._state.snapshot_where(snap.app)} is in the old shape "
                    "(images only): "
                    "restoring images by tag, with the config's command and env"
                )
            return snap.release, f"snapshot of {snap.taken_at}"
        kept = self._kept(strict=True)
        found = releases.find(kept, self.opts.to)
        listing = ", ".join(r.describe() for r in reversed(kept)) or "none yet"
        if found is None:
            raise RefusedError(
                f"no kept release {self.opts.to!r} of {self._cfg.app.name}; nothing was "
                f"changed (kept: {listing})",
                hint="pick a revision or tag from `elb-upgrade releases`",
            )
        gone = [c.name for c in found.containers if not self._platform.image_exists(c.identity)]
        if gone:
            raise RefusedError(
                f"release {found.describe()} cannot be restored: the image of "
                f"{', '.join(gone)} is gone; nothing was changed (kept: {listing})",
                hint="pick another release from `elb-upgrade releases`, or rebuild that "
                "version from its commit with `elb-upgrade <scope> --tag <new tag>`",
            )
        return found, "kept release"

    def _already_runs(self, release: Release, current: AppState) -> bool:
        """Whether the app runs `release` exactly (digests, specs) and healthily."""
        from elb_upgrade.platforms.base import Deployment, RevisionState

        if releases.differences(release.state, current):
            return False
        managed = self._managed(release.state).images
        status = self._status(Deployment(current.revision, managed))
        return status.state is RevisionState.RUNNING

    def _kept(self, strict: bool = False) -> list[Release]:
        """The app's kept releases; a broken store only warns unless `strict`."""
        assert self.store is not None
        try:
            return self.store.load()
        except StateFileError as exc:
            if strict:
                raise
            self.ui.warn(f"{exc.message} → {exc.hint}")
            return []

    def _record_release(self, revision: str, tag: str, git_sha: str, restores: str = "") -> None:
        """Keep what now runs as a release; a failure warns (the run's result stands)."""
        assert self.store is not None
        try:
            running = self._platform.current()
            release = releases.Release(
                revision,
                running.images,
                tag,
                git_sha,
                releases.deployer(),
                iso_z(self.clock.utcnow()),
                restores,
            )
            for dropped in self.store.add(release, self._cfg.keep_releases):
                self.ui.detail(f"release {dropped.describe()} is no longer kept")
        except (PlatformError, StateFileError) as exc:
            self.ui.warn(f"release {revision} not recorded: {exc.message} → {exc.hint}")

    def _restore(self, state: AppState) -> Verdict:
        """Put the snapshot's images back and gate them with the rollback budget.

        A failed restore is explained here, gate or platform: what each container runs
        now and how to finish by hand. The verdict says why for the history line.
        """
        from elb_upgrade.gate import Verdict

        self.phase = Phase.ROLLBACK
        self._still_locked("restoring the snapshot")
        images = {i.name: i.image for i in state.images}
        self.target = Target(images, "restored", "snapshot")
        try:
            deployment = self._put_back(state.images)
        except PlatformError as exc:
            self.ui.error(str(exc))
            where = explain_stranded(
                self.ui,
                self._platform,
                self.target,
                self.opts.config_arg,
                commands=not isinstance(exc, ImageMissingError),
            )
            return Verdict(False, f"{exc.message}; {where}", 0.0)
        timeout = self.opts.rollback_timeout or self.opts.health_timeout
        verdict, switched = self._gate_and_switch(deployment, timeout)
        if not verdict.passed:
            explain_failure(self.ui, verdict)
            if deployment.staged and not switched:
                with signals.deferred(self.ui.warn):
                    self._platform.discard(deployment, self.ui.detail)
        return verdict

    def _put_back(self, containers: tuple[ContainerImage, ...]) -> Deployment:
        missing = [c.identity for c in containers if not self._platform.image_exists(c.identity)]
        if missing:
            raise ImageMissingError(
                f"cannot roll back: image(s) no longer exist: {', '.join(missing)}",
                hint=_REBUILD_HINT,
            )
        # Every container gets its old image and spec, whatever signals arrive meanwhile.
        with signals.deferred(self.ui.warn):
            deployment = self._platform.deploy({c.name: c for c in containers}, self.ui.detail)
            self.outcome.revision = deployment.revision
            self.outcome.deployed = {c.name: c.image for c in containers}
        return deployment

    def _managed(self, state: AppState) -> AppState:
        """`state` without containers the config does not define (left as they run)."""
        from elb_upgrade.platforms.base import AppState

        known = {c.name for c in self._cfg.app.containers}
        others = [i.name for i in state.images if i.name not in known]
        if others:
            self.ui.warn(
                f"not restoring {', '.join(others)}: not in {self._cfg.path.name} "
                "(this run did not change them)"
            )
        return AppState(state.revision, tuple(i for i in state.images if i.name in known))

    def _refuse_stale(self, state: AppState) -> None:
        """A snapshot naming containers the config no longer has is not restored."""
        known = {c.name for c in self._cfg.app.containers}
        stale = [i.name for i in state.images if i.name not in known]
        if stale:
            raise SnapshotError(
                f"snapshot {self._state.snapshot_where(self.app)} lists container(s) "
                f"{', '.join(stale)} that {self._cfg.path.name} no longer defines; "
                "nothing was changed",
                hint="restore by hand (docs/operate/upgrade.md, manual rollback) or deploy "
                "a known-good tag with `elb-upgrade <scope> --tag <tag>`",
            )

    def _default_tag(self) -> str:
        local = self.clock.utcnow().astimezone()
        return f"{local:%Y%m%d%H%M%S}-{self.outcome.head_sha}"

    # -- endings ---------------------------------------------------------------------------
    def ended_by(self, exc: BaseException) -> int:
        """The exit code of a run that `exc` ended; fills the outcome and tells the operator."""
        result, exit_code = result_for(exc, self.phase)
        self.outcome.result = result
        if isinstance(exc, ElbUpgradeError):
            self.outcome.message = exc.message
            self.ui.error(str(exc))
            return exit_code
        what = "Ctrl+C" if isinstance(exc, KeyboardInterrupt) else str(exc)
        message = f"interrupted ({what}) during {self.phase}"
        self.ui.error(message)
        if self.target is not None and self.platform is not None and self.phase in CHANGING:
            message += "; " + container_states(self.ui, self.platform, self.target)
            if self.phase is Phase.ROLLBACK:
                self.ui.warn("the restore was not gated: finish with `elb-upgrade rollback --yes`")
        if self.phase in (Phase.DEPLOY, Phase.GATE) and self.outcome.revision:
            self.ui.warn(
                f"{self.outcome.revision} may be deployed but unverified; check with "
                "`elb-upgrade status` and roll back with `elb-upgrade rollback` if needed"
            )
        self.outcome.message = message
        return exit_code

    def ended_by_bug(self, exc: Exception, environ: Mapping[str, str]) -> int:
        self.outcome.result = Result.ABORTED
        self.outcome.message = f"internal error: {type(exc).__name__}: {exc}"
        self.ui.error(
            f"{self.outcome.message}\n  → this is a bug in elb-upgrade; rerun with "
            "ELB_UPGRADE_DEBUG=1 for the traceback and report it"
        )
        if environ.get("ELB_UPGRADE_DEBUG"):
            self.ui.detail(traceback.format_exc())
        return 1

    # -- typed access to what `start` set up -----------------------------------------------
    @property
    def _cfg(self) -> Config:
        assert self.config is not None
        return self.config

    @property
    def _state(self) -> StateBackend:
        assert self.state is not None
        return self.state

    @property
    def _platform(self) -> Platform:
        assert self.platform is not None
        return self.platform

    @property
    def _git(self) -> Git:
        assert self.git is not None
        return self.git


_REBUILD_HINT = (
    "rebuild that version with `elb-upgrade <scope> --tag <old tag>` from its "
    "commit, and review the registry's retention / prune policy"
)


def _nothing_changed(message: str) -> str:
    return message if "nothing was changed" in message else f"{message}; nothing was changed"


class GateProgress:
    """One progress line about every `EVERY` seconds of a gate wait: elapsed, last status.

    Without a terminal nothing else shows during a wait of up to `--health-timeout`
    seconds; on a terminal the reporter puts it in its spinner instead of a new line.
    """

    EVERY = 15.0

    def __init__(self, ui: Reporter, clock: Clock, revision: str, timeout: float) -> None:
        self.ui, self.clock, self.revision, self.timeout = ui, clock, revision, timeout
        self.start = clock.monotonic()
        self.due = self.start + self.EVERY

    def poll(self, status: str) -> None:
        now = self.clock.monotonic()
        if now < self.due:
            return
        while self.due <= now:
            self.due += self.EVERY
        waited = now - self.start
        self.ui.progress(
            f"still waiting for {self.revision}: {waited:.0f}s of {self.timeout:g}s; last: {status}"
        )


def promoted(deployment: Deployment) -> Deployment:
    """`deployment` as it serves after the switch: the public readiness URL, not staged."""
    return dataclasses.replace(deployment, staged=False, readiness_url=None)


def _tag_of(state: AppState, main: str) -> str:
    image = state.image_of(main) or (state.images[0].image if state.images else "")
    name, _, tag = image.rpartition(":")
    return tag if name and "/" not in tag else ""


# -- recording ------------------------------------------------------------------------------
UNKNOWN_APP = "unknown"  # the history `app` of a run that ended before it read the config


def _recorded(finished: Finished, options: Options) -> bool:
    """Whether the run gets a history line: not a dry run, not a usage or config error
    (exit 2: nothing happened, and the app may not even be known)."""
    if options.dry_run or finished.outcome.result is Result.DRY_RUN:
        return False
    return finished.exit_code != USAGE_EXIT


def _record(
    finished: Finished,
    environ: Mapping[str, str],
    ui: Reporter,
    state: StateBackend | None = None,
    meta: RunMeta | None = None,
) -> None:
    o = finished.outcome
    entry = record.Entry(
        ts=finished.ts,
        scope=finished.scope,
        app=finished.app or UNKNOWN_APP,
        tag=o.tag,
        head_sha=o.head_sha,
        result=o.result.value,
        elapsed_seconds=finished.elapsed_seconds,
        message=o.message,
        exit_code=finished.exit_code,
        commit_ts=o.commit_ts,
        who=record.who(),
    )
    if state is None or meta is None:  # ended before the config named a backend
        warning = record.append(record.default_path(environ), entry)
    else:
        warning = state.append_history(entry, meta)
    if warning:
        ui.warn(warning)


def _utc(text: str) -> str:
    from elb_upgrade.clock import moment

    when = moment(text)
    return iso_z(when) if when is not None else ""


def _step_summary(finished: Finished, environ: Mapping[str, str], ui: Reporter) -> None:
    """In GitHub Actions, append the run's outcome to the job's summary page."""
    from elb_upgrade.report.markdown import STEP_SUMMARY, append_step_summary, step_summary

    if environ.get(STEP_SUMMARY):
        warning = append_step_summary(environ, step_summary(summary(finished), finished.ts))
        if warning:
            ui.warn(warning)


def summary(finished: Finished) -> dict[str, object]:
    """The versioned `--json` summary of a run (its key set is pinned by a test)."""
    o = finished.outcome
    return {
        "version": 1,
        "result": o.result.value,
        "exit_code": finished.exit_code,
        "scope": finished.scope,
        "app": finished.app,
        "tag": o.tag,
        "head_sha": o.head_sha,
        "revision": o.revision,
        "previous_revision": o.previous_revision,
        "deployed": o.deployed,
        "elapsed_seconds": finished.elapsed_seconds,
        "message": o.message,
        "components_down": [
            {"name": c.name, "status": c.status, "error_class": c.error_class} for c in o.down
        ],
    }
