"""One `elb-upgrade <scope>` run, start to finish: the only place errors become results.

Whatever happens inside — an outcome the envelope decided, one of our errors, Ctrl+C,
SIGTERM or a bug — this module maps it to a result value and an exit code, and writes
exactly one history line (none for `--dry-run` or a bad option value). The lock, once
taken, is released only after that line is written; signals that arrive while the run
is ending are held and dropped, so a second Ctrl+C cannot cost the history line.
"""

from __future__ import annotations

import contextlib
import math
import re
import sys
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from elb_upgrade import config as config_mod
from elb_upgrade import history, lock, signals, snapshot
from elb_upgrade.clock import Clock, SystemClock, iso_z
from elb_upgrade.errors import (
    ConfigError,
    ElbUpgradeError,
    PlatformError,
    ScopeError,
    UsageError,
)
from elb_upgrade.outcome import Options, Outcome, results_exit_code
from elb_upgrade.ui import Reporter

if TYPE_CHECKING:
    from elb_upgrade.envelope import Envelope

# Docker's tag grammar; Azure Container Registry's is the same. Anything else never
# reaches a platform, a file name or a history line.
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")

_PHASE_RESULTS = {
    "preflight": "preflight_failed",
    "build": "build_in_progress",
    "deploy": "build_in_progress",
    "rollback": "rollback_failed",
}
_CHANGING = ("deploy", "gate", "rollback")  # phases after which containers may differ


@dataclass
class Finished:
    """The run's outcome plus what the history line and the summary need."""

    outcome: Outcome
    exit_code: int
    app: str
    scope: str
    elapsed_seconds: int
    ts: str


def upgrade(
    options: Options,
    environ: Mapping[str, str],
    cwd: Path,
    ui: Reporter,
    clock: Clock | None = None,
) -> Finished:
    """Run the envelope for `options` and record its ending."""
    clock = clock or SystemClock()
    started, ts = clock.monotonic(), iso_z(clock.utcnow())
    problem = invalid_option(options)
    if problem:  # a usage error: nothing happened, no history line
        ui.error(problem)
        return Finished(Outcome("aborted", problem), 2, "", options.scope, 0, ts)
    signals.install()
    state = _RunState(scope=options.scope)
    with contextlib.ExitStack() as held:  # holds the lock once taken; see _execute
        try:
            state.exit_code = _execute(options, environ, cwd, ui, clock, state, held)
        except ElbUpgradeError as exc:
            with signals.ignored():
                state.exit_code = _from_error(exc, state, ui)
        except (KeyboardInterrupt, signals.Terminated) as exc:
            with signals.ignored():
                state.exit_code = _from_interrupt(exc, state, ui)
        except Exception as exc:  # a bug: still one history line, no traceback unless asked
            with signals.ignored():
                state.exit_code = _from_bug(exc, state, ui, environ)
        with signals.ignored():
            finished = Finished(
                state.outcome,
                state.exit_code,
                state.app,
                state.scope,
                round(clock.monotonic() - started),
                ts,
            )
            if state.outcome.result != "dry_run" and not options.dry_run:
                _record(finished, environ, ui)
    return finished


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


@dataclass
class _RunState:
    scope: str
    app: str = ""
    envelope: Envelope | None = None
    exit_code: int = 1
    stage: str = "setup"

    def __post_init__(self) -> None:
        self.outcome = Outcome(result="aborted")

    @property
    def phase(self) -> str:
        return self.envelope.phase if self.envelope else self.stage


def _execute(
    options: Options,
    environ: Mapping[str, str],
    cwd: Path,
    ui: Reporter,
    clock: Clock,
    state: _RunState,
    held: contextlib.ExitStack,
) -> int:
    from elb_upgrade.platforms.base import platform_variables

    path = config_mod.find(options.config_arg, cwd, environ)
    cfg = config_mod.load(path, environ, extra=platform_variables)
    state.app = cfg.app.name
    try:
        scope = cfg.resolve_scope(options.scope)
    except ScopeError:
        state.scope = "unknown"
        raise
    state.scope = scope
    snapshot_path = snapshot.default_path(cfg.app.name, environ)
    # The lock comes first, as in the seed (flock at script start): a racing operator
    # learns at once, before any slow preflight or SDK import, and `--pull` never
    # rewrites a checkout another run is building from. `held` keeps it until the
    # caller has written the history line.
    state.stage = "lock"
    holder = lock.Holder.current(scope, clock)
    held.enter_context(
        lock.acquire(lock.lock_path(snapshot_path), holder, options.lock_wait, clock, ui.warn)
    )
    state.stage = "preflight"
    return _run_envelope(cfg, replace(options, scope=scope), ui, clock, snapshot_path, state)


def _run_envelope(
    cfg: config_mod.Config,
    options: Options,
    ui: Reporter,
    clock: Clock,
    snapshot_path: Path,
    state: _RunState,
) -> int:
    from elb_upgrade.envelope import Envelope, Seams
    from elb_upgrade.gate import http_fetch
    from elb_upgrade.gitops import Git
    from elb_upgrade.platforms.base import get_platform

    platform = get_platform(cfg.platform, cfg.app)
    fetch, close = http_fetch()
    seams = Seams(
        clock=clock,
        fetch=fetch,
        git=Git(cfg.root),
        snapshot_path=snapshot_path,
        follow_logs=lambda name: platform.follow_logs(name, sys.stdout),
    )
    state.envelope = Envelope(cfg, platform, options, ui, seams, state.outcome)
    try:
        outcome = state.envelope.run()
    finally:
        close()
    return results_exit_code(outcome.result)


def _from_error(exc: ElbUpgradeError, state: _RunState, ui: Reporter) -> int:
    result = exc.result
    if isinstance(exc, PlatformError) and state.phase in _PHASE_RESULTS:
        result = _PHASE_RESULTS[state.phase]
    elif state.phase == "rollback":
        result = "rollback_failed"
    state.outcome.result = result
    state.outcome.message = exc.message
    ui.error(str(exc))
    if isinstance(exc, ConfigError | UsageError):
        return exc.exit_code
    return results_exit_code(result) if result == "rollback_failed" else exc.exit_code


def _from_interrupt(exc: BaseException, state: _RunState, ui: Reporter) -> int:
    phase = state.phase
    what = "Ctrl+C" if isinstance(exc, KeyboardInterrupt) else str(exc)
    state.outcome.result = "build_in_progress" if phase in ("build", "deploy") else "aborted"
    message = f"interrupted ({what}) during {phase}"
    ui.error(message)
    envelope = state.envelope
    if envelope is not None and envelope.target is not None and phase in _CHANGING:
        from elb_upgrade import report  # only an interrupted change needs it

        message += "; " + report.container_states(ui, envelope.platform, envelope.target)
        if phase == "rollback":
            ui.warn("the restore was not gated: finish with `elb-upgrade rollback --yes`")
    if phase in ("deploy", "gate") and state.outcome.revision:
        ui.warn(
            f"{state.outcome.revision} may be deployed but unverified; check with "
            "`elb-upgrade status` and roll back with `elb-upgrade rollback` if needed"
        )
    state.outcome.message = message
    return signals.exit_code(exc)


def _from_bug(exc: Exception, state: _RunState, ui: Reporter, environ: Mapping[str, str]) -> int:
    state.outcome.result = "aborted"
    state.outcome.message = f"internal error: {type(exc).__name__}: {exc}"
    ui.error(
        f"{state.outcome.message}\n  → this is a bug in elb-upgrade; rerun with "
        "ELB_UPGRADE_DEBUG=1 for the traceback and report it"
    )
    if environ.get("ELB_UPGRADE_DEBUG"):
        ui.detail(traceback.format_exc())
    return 1


def _record(finished: Finished, environ: Mapping[str, str], ui: Reporter) -> None:
    o = finished.outcome
    entry = history.Entry(
        ts=finished.ts,
        scope=finished.scope,
        app=finished.app,
        tag=o.tag,
        head_sha=o.head_sha,
        result=o.result,
        elapsed_seconds=finished.elapsed_seconds,
        message=o.message,
        exit_code=finished.exit_code,
    )
    warning = history.append(history.default_path(environ), entry)
    if warning:
        ui.warn(warning)


def summary(finished: Finished) -> dict[str, object]:
    """The versioned `--json` summary of a run (its key set is pinned by a test)."""
    o = finished.outcome
    return {
        "version": 1,
        "result": o.result,
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
