"""Platforms: where the app runs. `get_platform(name, app)` builds one by name."""

from elb_upgrade.platforms.base import (
    AppState,
    ContainerImage,
    Deployment,
    Platform,
    RevisionState,
    RevisionStatus,
    get_platform,
    platform_names,
)

__all__ = [
    "AppState",
    "ContainerImage",
    "Deployment",
    "Platform",
    "RevisionState",
    "RevisionStatus",
    "get_platform",
    "platform_names",
]
