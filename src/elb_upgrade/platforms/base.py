"""The `Platform` protocol the envelope drives, and the registry that names platforms.

The envelope never knows which platform it drives: it calls these methods with plain
values and gets plain values (or `elb_upgrade.errors` exceptions) back. Vendor
exceptions never cross out of a platform module.
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, TextIO, runtime_checkable

from elb_upgrade.errors import UsageError
from elb_upgrade.spec import AppSpec, ImageSpec

LogSink = Callable[[str], None]
"""Receives one line of progress or build log at a time."""


@dataclass(frozen=True)
class ContainerImage:
    """One running container and the image it runs."""

    name: str
    image: str


@dataclass(frozen=True)
class AppState:
    """What is running now: the active revision and each container's image."""

    revision: str
    images: tuple[ContainerImage, ...]

    def image_of(self, container: str) -> str | None:
        return next((c.image for c in self.images if c.name == container), None)


@dataclass(frozen=True)
class Deployment:
    """What a deploy (or restore) made.

    `readiness_url`, when set, replaces the configured readiness URL for the gate (the
    revision's own FQDN on azure in multiple-revision mode). `readiness_revision` is the
    revision the readiness body must report for the gate to pass (None: do not check,
    e.g. when the container serving readiness was not redeployed). `staged` says the
    revision runs beside the serving one and takes no traffic until `promote` (blue/green);
    a staged revision that fails its gate is `discard`ed and traffic never moved.
    """

    revision: str
    images: tuple[ContainerImage, ...]
    readiness_url: str | None = None
    readiness_revision: str | None = None
    staged: bool = False


class RevisionState(enum.Enum):
    PENDING = "pending"  # still provisioning / containers starting
    RUNNING = "running"  # every deployed container runs its new image and is not restarting
    FAILED = "failed"  # failed for good: exited, crash loop, image pull failure


@dataclass(frozen=True)
class RevisionStatus:
    state: RevisionState
    detail: str = ""


@runtime_checkable
class Platform(Protocol):
    """Where the app runs. Each method raises `elb_upgrade.errors` exceptions only."""

    name: str

    def check(self) -> None:
        """Preflight: the platform is reachable and we are authorised (PlatformUnavailable)."""

    def parity_check(self, log: LogSink) -> None:
        """Preflight: storage network parity (ParityRejected); a no-op where it means nothing."""

    def current(self) -> AppState:
        """The running revision and images (SnapshotError-free: an absent app is empty)."""

    def build(self, image: ImageSpec, tag: str, log: LogSink) -> str:
        """Build `image` tagged `tag`; return the full image reference (BuildError)."""

    def image_exists(self, image: str) -> bool:
        """Whether `image` (a full reference) can still be deployed."""

    def deploy(self, images: Mapping[str, str], log: LogSink) -> Deployment:
        """Run container name → image as a new revision; unchanged containers stay."""

    def revision_status(self, deployment: Deployment) -> RevisionStatus:
        """How the revision `deploy` made is doing, for the gate."""

    def promote(self, deployment: Deployment, log: LogSink) -> None:
        """Send traffic to a gated revision and retire the old one (a no-op unless staged)."""

    def discard(self, deployment: Deployment, log: LogSink) -> None:
        """Remove a staged revision that failed its gate; the serving one is untouched."""

    def follow_logs(self, container: str, out: TextIO) -> None:
        """Stream `container`'s log to `out` until interrupted."""


@dataclass(frozen=True)
class Route:
    """Where one public port sends traffic: the container and revision behind it."""

    port: int
    container: str
    revision: str  # "" when nothing takes the port's traffic yet
    upstream: str = ""


@runtime_checkable
class Routing(Protocol):
    """Optional: a platform with its own proxy reports each public port's route."""

    def routes(self) -> tuple[Route, ...]:
        """The route of every public port (PlatformError when the proxy does not answer)."""


PlatformFactory = Callable[[AppSpec], Platform]

_BUILTIN: dict[str, str] = {
    "docker": "elb_upgrade.platforms.docker:DockerPlatform",
    "azure": "elb_upgrade.platforms.azure:AzurePlatform",
}


def platform_names() -> list[str]:
    return sorted(_BUILTIN)


def get_platform(name: str, app: AppSpec) -> Platform:
    """Build the platform called `name` (a registry name or a `module:Class` path)."""
    target = _BUILTIN.get(name, name)
    if ":" not in target:
        raise UsageError(
            f"unknown platform {name!r}",
            hint=f"use one of: {', '.join(platform_names())} (or a module:Class import path)",
        )
    module_name, _, attr = target.partition(":")
    try:
        factory: PlatformFactory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise UsageError(
            f"cannot load platform {name!r}: {exc}",
            hint=f"use one of: {', '.join(platform_names())} or an importable module:Class",
        ) from exc
    return factory(app)
