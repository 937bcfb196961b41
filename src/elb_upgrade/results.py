"""The one table from how a run ended to its result value and exit code.

Every result value a history line or a `--json` summary can carry is a `Result`, and
each carries its exit code. `result_for(error, phase)` is the only place an exception
becomes a result: by the error's class, then by the phase it interrupted. Commands other
than an upgrade (`status`, `lock status`, `history`) use `exit_code_for(error)`.
docs/architecture.md prints this table for operators.
"""

from __future__ import annotations

import enum
import signal


class Phase(enum.StrEnum):
    """Where a run is; the sequencer (`elb_upgrade.run`) moves through these in order."""

    SETUP = "setup"  # reading the config and the scope
    LOCK = "lock"
    PREFLIGHT = "preflight"
    PLAN = "plan"
    CONFIRM = "confirm"
    SNAPSHOT = "snapshot"
    BUILD = "build"
    DEPLOY = "deploy"
    GATE = "gate"
    ROLLBACK = "rollback"


# Phases after which containers may differ from the snapshot.
CHANGING = frozenset({Phase.DEPLOY, Phase.GATE, Phase.ROLLBACK})


class Result(enum.StrEnum):
    """A run's result value (history `result`, `--json` `result`)."""

    SUCCESS = "success"
    PARITY_REJECTED = "parity_rejected"
    PREFLIGHT_FAILED = "preflight_failed"
    LOCK_HELD = "lock_held"
    BUILD_IN_PROGRESS = "build_in_progress"
    UPGRADE_FAILED = "upgrade_failed"
    UPGRADE_FAILED_ROLLED_BACK = "upgrade_failed_rolled_back"
    ROLLBACK_FAILED = "rollback_failed"
    ROLLBACK_SUCCESS = "rollback_success"
    ABORTED_BY_USER = "aborted_by_user"
    ABORTED = "aborted"
    LOCK_BROKEN = "lock_broken"  # `elb-upgrade lock break` (shared state): who broke whose lease
    DRY_RUN = "dry_run"  # printed in `--json`; never written to the history

    @property
    def exit_code(self) -> int:
        """0 for the happy endings, 3 when a rollback failed (a human must look), else 1."""
        return _EXIT.get(self, 1)

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0


_EXIT = {
    Result.SUCCESS: 0,
    Result.ROLLBACK_SUCCESS: 0,
    Result.DRY_RUN: 0,
    Result.LOCK_BROKEN: 0,
    Result.ROLLBACK_FAILED: 3,
}

USAGE_EXIT = 2  # a usage or config error: nothing happened, no history line

# Results written to the history (everything but dry_run), in the documented order.
RECORDED = tuple(r for r in Result if r is not Result.DRY_RUN)


def _by_class() -> list[tuple[type[BaseException], Result]]:
    from elb_upgrade import errors as e

    # Most specific first: the first class the error is an instance of decides.
    return [
        (e.ParityRejected, Result.PARITY_REJECTED),
        (e.PlatformUnavailable, Result.PREFLIGHT_FAILED),
        (e.PreflightError, Result.PREFLIGHT_FAILED),
        (e.LockHeldError, Result.LOCK_HELD),
        (e.Declined, Result.ABORTED_BY_USER),
        # No usable snapshot: the rollback was refused before it changed anything.
        (e.SnapshotError, Result.ABORTED),
        (e.RefusedError, Result.ABORTED),
        (e.PlatformError, Result.BUILD_IN_PROGRESS),
    ]


# A platform failure means a different thing in each phase.
_PLATFORM_IN_PHASE = {
    Phase.PREFLIGHT: Result.PREFLIGHT_FAILED,
    Phase.PLAN: Result.PREFLIGHT_FAILED,
    Phase.BUILD: Result.BUILD_IN_PROGRESS,
    Phase.DEPLOY: Result.BUILD_IN_PROGRESS,
    Phase.ROLLBACK: Result.ROLLBACK_FAILED,
}


def result_for(error: BaseException, phase: Phase) -> tuple[Result, int]:
    """The result value and exit code of a run that `error` ended during `phase`."""
    from elb_upgrade import errors as e
    from elb_upgrade.signals import Terminated

    if isinstance(error, KeyboardInterrupt | Terminated):
        interrupted = phase in (Phase.BUILD, Phase.DEPLOY)
        result = Result.BUILD_IN_PROGRESS if interrupted else Result.ABORTED
        return result, signal_exit_code(error)
    if isinstance(error, e.UsageError | e.ConfigError):
        return Result.ABORTED, USAGE_EXIT
    if isinstance(error, e.RefusedError):
        # Refused before anything changed: never "a human must look now".
        return Result.ABORTED, 1
    result = next((r for cls, r in _by_class() if isinstance(error, cls)), Result.ABORTED)
    if isinstance(error, e.PlatformError) and phase in _PLATFORM_IN_PHASE:
        result = _PLATFORM_IN_PHASE[phase]
    elif phase is Phase.ROLLBACK:
        result = Result.ROLLBACK_FAILED
    return result, result.exit_code


def exit_code_for(error: BaseException) -> int:
    """The exit code of a command other than an upgrade that `error` ended."""
    from elb_upgrade import errors as e

    if isinstance(error, e.UsageError | e.ConfigError):
        return USAGE_EXIT
    if isinstance(error, KeyboardInterrupt):
        return 130
    return 1


def signal_exit_code(error: BaseException) -> int:
    """128 + the signal's number (130 for Ctrl+C, 143 for SIGTERM)."""
    from elb_upgrade.signals import Terminated

    signum = error.signum if isinstance(error, Terminated) else signal.SIGINT
    return 128 + int(signum)
