"""The exception tree of elb-upgrade; every message tells the operator what to do next.

    ElbUpgradeError                 root; `elb_upgrade.results` maps each to a result + exit code
    ├── UsageError                  bad flag value, unknown platform name (exit 2)
    ├── ConfigError                 config file or a required setting is wrong (exit 2)
    ├── ScopeError                  unknown scope (exit 1, history scope "unknown")
    ├── PreflightError              the ground is not safe to deploy on
    │   ├── ParityRejected          storage network parity would break the app
    │   └── GitError                dirty tree, wrong branch, non-fast-forward --pull
    ├── LockHeldError               another run holds the lock (also a BlockingIOError)
    ├── SnapshotError               snapshot missing, empty, corrupt, for another app or stale
    ├── StateFileError              the snapshot or lock location cannot be used (I/O error)
    │   └── UnsafePathError         a symlink, hard link, directory or another user's file there
    ├── PlatformError               the engine / cloud refused or failed
    │   ├── PlatformUnavailable     engine not running, not logged in
    │   ├── BuildError              image build failed (carries the log tail)
    │   ├── ImageMissingError       an image to deploy or restore no longer exists
    │   ├── RefusedError            the platform refused before changing anything
    │   └── ConflictError           a conflicting operation (docker: the name is taken)
    └── Declined                    the operator answered no at the prompt

A readiness gate that never passes is not an exception: the envelope gets a `Verdict`
and decides (roll back, or report `upgrade_failed`).

Vendor exceptions (docker.errors.*, azure.core.exceptions.*) are translated into these
inside `platforms/` and never cross out of it.
"""

from __future__ import annotations

from pathlib import Path


class ElbUpgradeError(Exception):
    """Root of every error elb-upgrade raises on purpose."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  → {self.hint}" if self.hint else self.message


class UsageError(ElbUpgradeError):
    """The command line is wrong; nothing was touched."""


class ConfigError(ElbUpgradeError):
    """The config file or a required setting is missing or invalid."""


class ScopeError(ElbUpgradeError):
    """The scope named on the command line is not in the config."""


class PreflightError(ElbUpgradeError):
    """A preflight check failed; nothing was deployed."""


class ParityRejected(PreflightError):
    """Storage network parity check failed: deploying would break the app."""


class GitError(PreflightError):
    """A git precondition failed (dirty tree, wrong branch, non-fast-forward pull)."""


class LockHeldError(ElbUpgradeError, BlockingIOError):
    """Another elb-upgrade run holds the lock."""

    def __init__(self, message: str, *, path: Path, holder: str = "") -> None:
        ElbUpgradeError.__init__(
            self,
            message,
            hint="wait for it to finish; `elb-upgrade lock status` shows who holds it",
        )
        self.path = path
        self.holder = holder
        self.filename = str(path)


class SnapshotError(ElbUpgradeError):
    """The rollback snapshot is missing, unreadable, foreign or at an unsafe path."""


class StateFileError(ElbUpgradeError):
    """The snapshot or lock file cannot be opened or written; nothing was deployed."""


class UnsafePathError(StateFileError):
    """A snapshot or lock path is a symlink, a hard link, not a regular file, or not ours."""


class PlatformError(ElbUpgradeError):
    """The platform (engine or cloud) failed an operation."""


class PlatformUnavailable(PlatformError):
    """The platform cannot be reached or we are not logged in."""


class BuildError(PlatformError):
    """An image build failed; `log_tail` holds its last lines."""

    def __init__(self, message: str, *, hint: str = "", log_tail: str = "") -> None:
        super().__init__(message, hint=hint)
        self.log_tail = log_tail


class ImageMissingError(PlatformError):
    """An image needed to deploy or restore does not exist any more."""


class RefusedError(PlatformError):
    """The platform refused an operation before it changed anything (auth, firewall,
    a missing image, a validation error): there is nothing to roll back."""


class ConflictError(PlatformError):
    """A conflicting operation holds what we change (docker: a container name in use)."""


class Declined(ElbUpgradeError):
    """The operator declined at the prompt."""
