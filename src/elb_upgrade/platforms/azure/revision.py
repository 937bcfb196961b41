"""How a Container App revision is doing, judged from its ARM JSON (pure functions).

READY is an allow-list: `provisioningState` Provisioned, `runningState` Running or
RunningAtMaxScale, `healthState` Healthy or None (no probes), and every listed replica's
containers ready. FAILED is for good: provisioning Failed, the revision being
deprovisioned, `runningState` Failed / ActivationFailed / Stopped, Degraded or Unhealthy
for longer than the grace period, a container that cannot pull its image (matched on
the kubelet's reasons, not on "not found") or that restarted `CRASH_RESTARTS` times.
Anything else, including values no spec lists yet, is PENDING and the detail shows the
raw values, so an operator sees what Azure said.

The real API returns running states the spec lacks (`ActivationFailed`,
`RunningAtMaxScale`, `Activating`): see tests/platforms/azure/README.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from elb_upgrade.platforms.base import RevisionState, RevisionStatus

CRASH_RESTARTS = 3
UNHEALTHY_GRACE = 120.0
# The kubelet's own reasons and the registry's own words for an image that cannot be pulled.
# "executable file not found" (a bad command) is a crash, not a pull failure.
_PULL = re.compile(
    r"\b(?:ErrImagePull|ImagePullBackOff|ErrImageNeverPull|InvalidImageName)\b|"
    r"failed to pull (?:and unpack )?image|pull access denied|manifest unknown|"
    r"manifest for \S+ not found|failed to resolve reference",
    re.I,
)
_READY_RUNNING = {"running", "runningatmaxscale"}
_READY_HEALTH = {"healthy", "none", ""}
_FAILED_RUNNING = {"failed", "activationfailed", "stopped"}
_GONE_PROVISIONING = {"deprovisioning", "deprovisioned"}

Json = Mapping[str, Any]


def classify(revision: Json, replicas: Iterable[Json], age: float = 0.0) -> RevisionStatus:
    """PENDING / RUNNING / FAILED for one revision and its replicas.

    `age` is how long (seconds) the caller has watched the revision since it was made: a
    Degraded or Unhealthy revision fails only once `age` passes `UNHEALTHY_GRACE`.
    """
    name = str(revision.get("name", "?"))
    props = revision.get("properties") or {}
    provisioning = _low(props.get("provisioningState"))
    running = _low(props.get("runningState"))
    health = _low(props.get("healthState"))
    raw = _raw(props)
    details = str(props.get("runningStateDetails") or props.get("provisioningError") or "")
    replicas = list(replicas)
    if provisioning == "failed":
        return _failed(f"revision {name} failed to provision: {details or 'no details'}")
    if provisioning in _GONE_PROVISIONING:
        return _failed(f"revision {name} is being removed ({raw})")
    crashed = _replica_failure(replicas)  # the most specific reason, so first
    if crashed:
        return _failed(f"revision {name}: {crashed}")
    if running in _FAILED_RUNNING:
        return _failed(f"revision {name} is {_says(props)}" + (f": {details}" if details else ""))
    if (running == "degraded" or health == "unhealthy") and age >= UNHEALTHY_GRACE:
        return _failed(f"revision {name} still unhealthy after {age:.0f}s ({raw})")
    if provisioning == "provisioned" and running in _READY_RUNNING and health in _READY_HEALTH:
        waiting = _not_ready(replicas)
        if waiting:
            return RevisionStatus(RevisionState.PENDING, waiting)
        return RevisionStatus(RevisionState.RUNNING, f"revision {name} is running ({raw})")
    return RevisionStatus(RevisionState.PENDING, f"revision {name} is starting ({raw})")


def _low(value: Any) -> str:
    return str(value or "").strip().lower()


def _says(props: Json) -> str:
    return str(props.get("runningState") or "?")


def _raw(props: Json) -> str:
    keys = ("provisioningState", "runningState", "healthState")
    return ", ".join(f"{k} {props.get(k) or '-'}" for k in keys)


def _failed(detail: str) -> RevisionStatus:
    return RevisionStatus(RevisionState.FAILED, detail)


def _containers(replicas: Iterable[Json]) -> Iterable[tuple[str, Json]]:
    for replica in replicas:
        props = replica.get("properties") or {}
        for container in props.get("containers") or ():
            yield str(replica.get("name", "?")), container


def is_pull_error(details: str) -> bool:
    return bool(_PULL.search(details))


def _replica_failure(replicas: Iterable[Json]) -> str:
    for replica, c in _containers(replicas):
        details = str(c.get("runningStateDetails") or "")
        restarts = int(c.get("restartCount") or 0)
        state = _low(c.get("runningState"))
        if state != "running" and is_pull_error(details):
            return f"container {c.get('name')} cannot pull its image ({details})"
        if restarts >= CRASH_RESTARTS:
            return (
                f"container {c.get('name')} in replica {replica} restarted {restarts} "
                f"times (crash loop){': ' + details if details else ''}"
            )
    return ""


def _not_ready(replicas: Iterable[Json]) -> str:
    for replica, c in _containers(replicas):
        if c.get("ready") is False or _low(c.get("runningState") or "running") != "running":
            return f"container {c.get('name')} in replica {replica} is not ready yet"
    return ""
