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
import math
import re
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from elb_upgrade import config as config_mod
from elb_upgrade import lock, signals, snapshot
from elb_upgrade.clock import Clock, SystemClock, iso_z
from elb_upgrade.config import ROLLBACK, Config
from elb_upgrade.errors import (
    ConflictError,
    Declined,
    ElbUpgradeError,
    ImageMissingError,
    PlatformError,
    RefusedError,
    ScopeError,
    SnapshotError,
)
from elb_upgrade.explain import Target, container_states, explain_failure, explain_stranded
from elb_upgrade.history import record
from elb_upgrade.results import CHANGING, USAGE_EXIT, Phase, Result, result_for
from elb_upgrade.ui import Reporter

if TYPE_CHECKING:
    from elb_upgrade.gate import Verdict
    from elb_upgrade.gitops import Git
    from elb_upgrade.platforms.base import AppState, Deployment, Platform, RevisionStatus
    from elb_upgrade.readiness_body import Component, Fetch
    from elb_upgrade.spec import AppSpec

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


@dataclass
class Outcome:
    """How a run ended, and what the history line and the summary say about it."""

    result: Result = Result.ABORTED
    message: str = ""
    tag: str = ""
    head_sha: str = ""
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
                _record(finished, environ, ui)
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
        self.snapshot_path = Path()
        self.fetch: Fetch | None = None
        self.git: Git | None = None
        # What the current deploy or restore puts in place: reported if it is cut short.
        self.target: Target | None = None
        self.follow: Callable[[TextIO], None] | None = None  # `--logs`, set on success

    def start(self, environ: Mapping[str, str], cwd: Path, held: contextlib.ExitStack) -> int:
        """Config, scope and lock; then the sequence. `held` keeps the lock until the
        caller has written the history line."""
        cfg = config_mod.load(config_mod.find(self.opts.config_arg, cwd, environ), environ)
        self.config, self.app = cfg, cfg.app.name
        try:
            self.scope = cfg.resolve_scope(self.opts.scope)
        except ScopeError:
            self.scope = "unknown"
            raise
        self.opts = replace(self.opts, scope=self.scope)
        self.snapshot_path = snapshot.default_path(cfg.app.name, environ)
        # The lock comes first, as `cli-upgrade.sh` takes its flock at script start: a
        # racing operator learns at once, before any slow preflight or SDK import, and
        # `--pull` never rewrites a checkout another run is building from.
        self.phase = Phase.LOCK
        holder = lock.Holder.current(self.scope, self.clock)
        path = lock.lock_path(self.snapshot_path)
        held.enter_context(
            lock.acquire(path, holder, self.opts.lock_wait, self.clock, self.ui.warn)
        )
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
        self.outcome.tag = self.opts.tag or self._default_tag()
        self._show_plan(state)
        if self.opts.dry_run:
            self.ui.info("dry run: nothing built, nothing deployed")
            self.outcome.result = Result.DRY_RUN
            return
        self._confirm("Proceed?")
        self.phase = Phase.SNAPSHOT
        self._write_snapshot(state)
        refs = self._build()
        self.phase = Phase.DEPLOY
        try:
            deployment = self._deploy(refs)
        except PlatformError as exc:
            self._deploy_failed(state, exc)
            return
        self._gate_upgrade(state, deployment)

    def _show_plan(self, state: AppState) -> None:
        cfg = self._cfg
        containers = cfg.containers_for(self.opts.scope)
        self.ui.phase(f"plan: {self.opts.scope} → tag {self.outcome.tag}")
        self.ui.detail(f"running revision: {state.revision or '(none: first deploy)'}")
        repositories = {i.key: i.repository for i in cfg.app.images}
        for name, key in containers.items():
            current = state.image_of(name) or "(not running)"
            self.ui.detail(f"{name}: {current} → {repositories[key]}:{self.outcome.tag}")

    def _confirm(self, question: str) -> None:
        if self.opts.yes or self.opts.dry_run:
            return
        self.phase = Phase.CONFIRM
        if not self.ui.ask(question):
            raise Declined("declined at the prompt; nothing was changed")

    def _write_snapshot(self, state: AppState) -> None:
        snap = snapshot.Snapshot(
            self._cfg.app.name, self._platform.name, iso_z(self.clock.utcnow()), state
        )
        snapshot.write(self.snapshot_path, snap)
        self.ui.detail(f"snapshot of {state.revision or 'an empty app'} → {self.snapshot_path}")

    def _build(self) -> dict[str, str]:
        """Build each image of the scope; image key → full image reference."""
        self.phase = Phase.BUILD
        refs = {}
        for key in self._cfg.scopes[self.opts.scope]:
            image = next(i for i in self._cfg.app.images if i.key == key)
            self.ui.phase(f"build {image.repository}:{self.outcome.tag}")
            with self.ui.waiting(f"building {image.repository}:{self.outcome.tag}"):
                refs[key] = self._platform.build(image, self.outcome.tag, self.ui.detail)
        return refs

    def _deploy(self, refs: dict[str, str]) -> Deployment:
        containers = self._cfg.containers_for(self.opts.scope)
        wanted = {name: refs[key] for name, key in containers.items()}
        self.ui.phase(f"deploy {', '.join(sorted(wanted))}")
        self.target = Target(wanted, "deployed", "new")
        # A rolling deploy cut by Ctrl+C would leave some containers new and some old:
        # the interrupt waits until every container got its image.
        with signals.deferred(self.ui.warn):
            deployment = self._platform.deploy(wanted, self.ui.detail)
            self.outcome.deployed = dict(wanted)
            self.outcome.revision = deployment.revision
        return deployment

    def _gate_upgrade(self, state: AppState, deployment: Deployment) -> None:
        self.phase = Phase.GATE
        verdict = self._gate(deployment, self.opts.health_timeout)
        if verdict.passed:
            self._promote(deployment)
            self.ui.phase(f"ready: {deployment.revision} is serving ({verdict.elapsed:.1f}s)")
            self.outcome.result = Result.SUCCESS
            if self.opts.logs:  # followed by `follow_logs` once recorded and unlocked
                platform, main = self._platform, self._cfg.app.main_container
                self.follow = lambda out: platform.follow_logs(main, out)
            return
        self.outcome.down = verdict.down
        explain_failure(self.ui, verdict)
        if deployment.staged:
            self._discard_staged(state, deployment, verdict.reason)
        elif not self.opts.auto_rollback:
            self._manual_rollback_advice(verdict.reason)
        else:
            self._auto_rollback(state, verdict.reason)

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
        with signals.deferred(self.ui.warn):
            self._platform.promote(deployment, self.ui.detail)

    # -- failure paths --------------------------------------------------------------------
    def _deploy_failed(self, state: AppState, exc: PlatformError) -> None:
        self.ui.error(str(exc))
        self.outcome.message = f"deploy failed: {exc.message}"
        # A 412 means the platform refused the whole update: nothing of ours was applied,
        # and "restoring" would overwrite whatever the other operator just deployed.
        if isinstance(exc, ConflictError) or not state.images or not self.opts.auto_rollback:
            self.outcome.result = Result.BUILD_IN_PROGRESS
            return
        self._auto_rollback(state, f"deploy failed: {exc.message}")

    def _discard_staged(self, state: AppState, deployment: Deployment, reason: str) -> None:
        """A staged revision that failed its gate never took traffic: remove it, done."""
        self.phase = Phase.ROLLBACK
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
        snap = self._read_snapshot()
        state = snap.state
        self._refuse_stale(state)
        self._refuse_missing_images(state)
        self.outcome.tag = _tag_of(state, self._cfg.app.main_container)
        self.outcome.previous_revision = self._platform.current().revision
        self.ui.phase(
            f"rollback {self._cfg.app.name} to {state.revision} (snapshot of {snap.taken_at})"
        )
        for image in state.images:
            self.ui.detail(f"{image.name}: {image.image}")
        self._confirm("Roll back to these images?")
        verdict = self._restore(state)
        if verdict.passed:
            self.outcome.result = Result.ROLLBACK_SUCCESS
            self.ui.phase(f"rolled back: {self.outcome.revision} is serving")
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
            return snapshot.read(self.snapshot_path, self._cfg.app.name)
        except SnapshotError as exc:
            raise SnapshotError(_nothing_changed(exc.message), hint=exc.hint) from exc

    def _refuse_missing_images(self, state: AppState) -> None:
        """Refuse before asking or changing anything when the snapshot's images are gone."""
        wanted = dict.fromkeys(i.image for i in state.images)  # each image once, in order
        missing = [image for image in wanted if not self._platform.image_exists(image)]
        if missing:
            raise RefusedError(
                f"cannot roll back: image(s) no longer exist: {', '.join(missing)}; "
                "nothing was changed",
                hint=_REBUILD_HINT,
            )

    def _restore(self, state: AppState) -> Verdict:
        """Put the snapshot's images back and gate them with the rollback budget.

        A failed restore is explained here, gate or platform: what each container runs
        now and how to finish by hand. The verdict says why for the history line.
        """
        from elb_upgrade.gate import Verdict

        self.phase = Phase.ROLLBACK
        images = {i.name: i.image for i in state.images}
        self.target = Target(images, "restored", "snapshot")
        try:
            deployment = self._put_back(images)
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
        verdict = self._gate(deployment, timeout)
        if verdict.passed:
            self._promote(deployment)
        else:
            explain_failure(self.ui, verdict)
            if deployment.staged:
                with signals.deferred(self.ui.warn):
                    self._platform.discard(deployment, self.ui.detail)
        return verdict

    def _put_back(self, images: dict[str, str]) -> Deployment:
        missing = [i for i in images.values() if not self._platform.image_exists(i)]
        if missing:
            raise ImageMissingError(
                f"cannot roll back: image(s) no longer exist: {', '.join(missing)}",
                hint=_REBUILD_HINT,
            )
        # Every container gets its old image, whatever signals arrive meanwhile.
        with signals.deferred(self.ui.warn):
            deployment = self._platform.deploy(images, self.ui.detail)
            self.outcome.revision = deployment.revision
            self.outcome.deployed = dict(images)
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
                f"snapshot {self.snapshot_path} lists container(s) "
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


def _record(finished: Finished, environ: Mapping[str, str], ui: Reporter) -> None:
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
    )
    warning = record.append(record.default_path(environ), entry)
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
