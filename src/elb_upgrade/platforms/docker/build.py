"""Image builds through the engine, streaming the build log line by line."""

from __future__ import annotations

import collections
import re
from collections.abc import Iterable
from typing import Any

from elb_upgrade.errors import BuildError
from elb_upgrade.platforms.base import LogSink
from elb_upgrade.platforms.docker.containers import GIT_SHA_LABEL
from elb_upgrade.platforms.docker.engine import translated
from elb_upgrade.spec import ImageSpec

TAIL_LINES = 30
# The classic builder probes its cache by reading every image built on the same parent
# layer. When another build's cleanup or `docker image prune` removes one of them during
# the probe, the build fails with this, through no fault of the Dockerfile. Building
# again probes without it.
LOST_CACHE = re.compile(r'unable to find image "?sha256:[0-9a-f]+')
LOST_CACHE_ATTEMPTS = 3


class _LostCache(Exception):
    """The engine lost an image of its build cache during this build."""


def build_image(client: Any, image: ImageSpec, tag: str, log: LogSink, git_sha: str = "") -> str:
    """Build `image` as `<repository>:<tag>`, labelled with the commit `git_sha`;
    BuildError carries the last lines on failure."""
    ref = f"{image.repository}:{tag}"
    if not (image.context / image.dockerfile).is_file():
        raise BuildError(
            f"building {ref}: no {image.dockerfile} in {image.context}",
            hint=f"fix images.{image.key}.context / dockerfile in elb-upgrade.toml",
        )
    for _ in range(LOST_CACHE_ATTEMPTS - 1):
        try:
            _build_once(client, image, ref, log, git_sha)
            return ref
        except _LostCache as lost:
            log(f"{lost.args[0]}: another build or a clean-up removed it meanwhile; building again")
    try:
        _build_once(client, image, ref, log, git_sha)
    except _LostCache as lost:
        raise BuildError(
            f"building {ref} failed {LOST_CACHE_ATTEMPTS} times: {lost.args[0]}",
            hint="another build or an image clean-up (docker image prune) on this engine "
            "removed an image the build was reading as cache; rerun when it is done",
            log_tail=lost.args[1],
        ) from None
    return ref


def _build_once(client: Any, image: ImageSpec, ref: str, log: LogSink, git_sha: str) -> None:
    with translated(f"building {ref}"):
        # Host networking: no bridge exists on these engines, and the package index is
        # reached through the host's network.
        events = client.api.build(
            path=str(image.context),
            dockerfile=image.dockerfile,
            tag=ref,
            buildargs=dict(image.build_args),
            labels={GIT_SHA_LABEL: git_sha} if git_sha else None,
            network_mode="host",
            rm=True,
            forcerm=True,
            decode=True,
        )
        _follow(events, ref, log)


def _follow(events: Iterable[dict[str, Any]], ref: str, log: LogSink) -> None:
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    for event in events:
        for line in _lines(event):
            tail.append(line)
            log(line)
        if "error" not in event:
            continue
        error = str(event["error"]).strip()
        if LOST_CACHE.search(error):
            raise _LostCache(error, "\n".join(tail))
        raise BuildError(
            f"building {ref} failed: {error}",
            hint="fix the Dockerfile or the code it builds, commit, and rerun",
            log_tail="\n".join(tail),
        )


def _lines(event: dict[str, Any]) -> list[str]:
    text = event.get("stream") or event.get("status") or event.get("error") or ""
    return [line for line in str(text).splitlines() if line.strip()]
