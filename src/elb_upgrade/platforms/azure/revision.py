"""How a Container App revision is doing, judged from its ARM JSON (pure functions).

FAILED is for good: provisioning failed, the revision stopped, a container cannot pull
its image, or a container restarted `CRASH_RESTARTS` times (a crash loop). Anything
still starting is PENDING; the gate decides how long to wait for it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from elb_upgrade.platforms.base import RevisionState, RevisionStatus

CRASH_RESTARTS = 3
_PULL = re.compile(
    r"imagepull|errimage|pull access denied|manifest unknown|"
    r"failed to pull|not found",
    re.I,
)
_STARTING = {"", "processing", "activating", "unknown"}
_GONE = {"stopped", "deprovisioning", "deprovisioned", "inactive"}

Json = Mapping[str, Any]


def classify(revision: Json, replicas: Iterable[Json]) -> RevisionStatus:
    """PENDING / RUNNING / FAILED for one revision and its replicas."""
    name = str(revision.get("name", "?"))
    props = revision.get("properties") or {}
    provisioning = str(props.get("provisioningState") or "").lower()
    running = str(props.get("runningState") or "").lower()
    details = str(props.get("runningStateDetails") or props.get("provisioningError") or "")
    if provisioning == "failed":
        return _failed(f"revision {name} failed to provision: {details or 'no details'}")
    crashed = _replica_failure(replicas)  # the most specific reason, so first
    if crashed:
        return _failed(f"revision {name}: {crashed}")
    if running == "failed" or running in _GONE:
        return _failed(f"revision {name} is {running}" + (f": {details}" if details else ""))
    if provisioning == "provisioning" or running in _STARTING:
        return RevisionStatus(
            RevisionState.PENDING, f"revision {name} is {provisioning or running}"
        )
    waiting = _not_ready(replicas)
    if waiting or running == "degraded":
        return RevisionStatus(RevisionState.PENDING, waiting or f"revision {name} is degraded")
    return RevisionStatus(RevisionState.RUNNING, f"revision {name} is {running}")


def _failed(detail: str) -> RevisionStatus:
    return RevisionStatus(RevisionState.FAILED, detail)


def _containers(replicas: Iterable[Json]) -> Iterable[tuple[str, Json]]:
    for replica in replicas:
        props = replica.get("properties") or {}
        for container in props.get("containers") or ():
            yield str(replica.get("name", "?")), container


def _replica_failure(replicas: Iterable[Json]) -> str:
    for replica, c in _containers(replicas):
        details = str(c.get("runningStateDetails") or "")
        restarts = int(c.get("restartCount") or 0)
        state = str(c.get("runningState") or "").lower()
        if state != "running" and _PULL.search(details):
            return f"container {c.get('name')} cannot pull its image ({details})"
        if restarts >= CRASH_RESTARTS:
            return (
                f"container {c.get('name')} in replica {replica} restarted {restarts} "
                f"times (crash loop){': ' + details if details else ''}"
            )
    return ""


def _not_ready(replicas: Iterable[Json]) -> str:
    for replica, c in _containers(replicas):
        if c.get("ready") is False or str(c.get("runningState", "running")).lower() != "running":
            return f"container {c.get('name')} in replica {replica} is not ready yet"
    return ""
