"""What the config says an app is: its containers, its images and raw settings.

Plain data shared by `elb_upgrade.config` (which builds it) and every platform (which is
constructed with it), so neither has to import the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ContainerSpec:
    """One container of the app as the config describes it.

    `image_key` names the entry of `[images]` whose builds this container runs. `command`
    and `env` are used by platforms that create containers themselves (docker); the azure
    platform keeps the Container App's own definition and only swaps images. `port`, when
    set, is the public port the container takes traffic on: the docker platform then puts
    a reverse proxy there and runs each revision on a private port beside the old one.
    """

    name: str
    image_key: str
    command: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    port: int | None = None  # the public port it serves behind the platform's proxy


@dataclass(frozen=True)
class ImageSpec:
    """How to build one image: repository name, build context, Dockerfile, build args."""

    key: str
    repository: str
    context: Path
    dockerfile: str = "Dockerfile"
    build_args: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AppSpec:
    """What a platform is constructed with: the app, its containers and raw settings.

    `settings` is the merged view of environment, `.env`, `.env.local` (and `azd env`
    for azure) plus the config's `[platform.<name>]` table, all as strings.
    """

    name: str
    containers: tuple[ContainerSpec, ...]
    images: tuple[ImageSpec, ...]
    main_container: str
    settings: Mapping[str, str] = field(default_factory=dict)
    readiness_url: str = ""
