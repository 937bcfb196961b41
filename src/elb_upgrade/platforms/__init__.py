"""Platforms: where the app runs. `get_platform(name, app)` builds one by name."""

from elb_upgrade.platforms.base import (
    AppSpec,
    AppState,
    ContainerImage,
    ContainerSpec,
    Deployment,
    ImageSpec,
    Platform,
    RevisionState,
    RevisionStatus,
    get_platform,
    platform_names,
)

__all__ = [
    "AppSpec",
    "AppState",
    "ContainerImage",
    "ContainerSpec",
    "Deployment",
    "ImageSpec",
    "Platform",
    "RevisionState",
    "RevisionStatus",
    "get_platform",
    "platform_names",
]
