"""The `Platform` protocol the envelope drives, and the registry that names platforms.

The envelope never knows which platform it drives: it calls these methods with plain
values and gets plain values (or `elb_upgrade.errors` exceptions) back. Vendor
exceptions never cross out of a platform module.
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO, runtime_checkable

from elb_upgrade.errors import UsageError
from elb_upgrade.spec import AppSpec, ImageSpec

LogSink = Callable[[str], None]
"""Receives one line of progress or build log at a time."""


Spec = Mapping[str, Any]
"""A container's applied spec as its platform reports it: plain JSON values only
(docker: command, env, labels, restart policy, ports; azure: the template's container entry)."""


@dataclass(frozen=True)
class ContainerImage:
    """One container, the image it runs and, where known, exactly how.

    `image` is the reference as deployed (`repository:tag`). `digest` is the image's
    immutable identity (docker: the image ID `sha256:…`; azure: the registry manifest
    digest), empty when unknown. `spec` is the spec the platform applied, None when
    unknown. Given to `deploy`, a digest pins the image (a moved tag changes nothing) and
    a spec is applied exactly instead of the config's.
    """

    name: str
    image: str
    digest: str = ""
    spec: Spec | None = field(default=None, hash=False)

    @property
    def identity(self) -> str:
        """What pins the image: its digest, else (an old snapshot) its reference."""
        return self.digest or self.image


Wanted = Mapping[str, "ContainerImage | str"]
"""What `deploy` is given: container name → image (a bare reference: unpinned, config spec)."""


def pinned(images: Wanted) -> dict[str, ContainerImage]:
    """`images` with every bare reference made a `ContainerImage` (no digest, no spec)."""
    return {
        name: image if isinstance(image, ContainerImage) else ContainerImage(name, image)
        for name, image in images.items()
    }


@dataclass(frozen=True)
class ImageInfo:
    """An image as the platform stores it: its immutable digest and the commit it was
    built from (empty when the image carries no such record)."""

    ref: str
    digest: str
    git_sha: str = ""


@dataclass(frozen=True)
class AppState:
    """What is running now: the active revision and each container's image."""

    revision: str
    images: tuple[ContainerImage, ...]

    def image_of(self, container: str) -> str | None:
        return next((c.image for c in self.images if c.name == container), None)

    def container(self, name: str) -> ContainerImage | None:
        return next((c for c in self.images if c.name == name), None)


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

    def build(self, image: ImageSpec, tag: str, log: LogSink, git_sha: str = "") -> str:
        """Build `image` tagged `tag`, recording `git_sha` on the image where the platform
        can; return the full image reference (BuildError). Never replaces an existing tag
        (RefusedError)."""

    def resolve(self, image: str) -> ImageInfo | None:
        """`image` (a reference or a digest) as stored now, or None when it is gone."""

    def image_exists(self, image: str) -> bool:
        """Whether `image` (a full reference or a digest) can still be deployed."""

    def deploy(self, images: Wanted, log: LogSink) -> Deployment:
        """Run container name → image as a new revision; unchanged containers stay.

        An entry's `digest`, when set, is what runs (never whatever its tag names now);
        its `spec`, when set, is applied exactly (a restore), else the config's.
        """

    def revision_status(self, deployment: Deployment) -> RevisionStatus:
        """How the revision `deploy` made is doing, for the gate."""

    def promote(self, deployment: Deployment, log: LogSink) -> None:
        """Send traffic to a gated revision and retire the old one (a no-op unless staged)."""

    def discard(self, deployment: Deployment, log: LogSink) -> None:
        """Remove a staged revision that failed its gate; the serving one is untouched."""

    def follow_logs(self, container: str, out: TextIO) -> None:
        """Stream `container`'s log to `out` until interrupted."""

    def manual_restore_commands(self, images: Mapping[str, str]) -> list[str]:
        """Shell commands an operator runs to put container → image in place by hand."""


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


_EXTRAS: dict[str, str] = {"azure": "azure"}  # platform → the optional extra it needs
_VARIABLES: dict[str, str] = {
    "azure": "elb_upgrade.platforms.azure.settings:azd_variables",
}


def platform_variables(name: str, env: Mapping[str, str]) -> Mapping[str, str]:
    """Extra `${VAR}` values a platform knows (azure: `azd env get-values`), else none."""
    target = _VARIABLES.get(name)
    if target is None:
        return {}
    module_name, _, attr = target.partition(":")
    source: Callable[[Mapping[str, str]], Mapping[str, str]] = getattr(
        importlib.import_module(module_name), attr
    )
    return source(env)


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
    if name in _EXTRAS:
        from elb_upgrade.extras import require

        require(_EXTRAS[name], f"the {name} platform")
    try:
        factory: PlatformFactory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise UsageError(
            f"cannot load platform {name!r}: {exc}",
            hint=f"use one of: {', '.join(platform_names())} or an importable module:Class",
        ) from exc
    return factory(app)
