"""The readiness gate: poll until the new revision is serving and ready, or give up.

A deploy passes when the platform reports every deployed container running its new
image *and* the readiness URL answers 200 from the new revision (a 200 from the old
revision during a rollout does not count). Polling starts at 0.5 s and slows linearly
(+1 s per 30 s waited) up to `interval`: a deploy that is ready in its first 15 s is
confirmed within a second, and a long wait does not hammer the app. When the
platform says the revision failed for good (exited, crash loop, image pull failure) the
gate stops at once instead of burning its whole budget.

Pure: the readiness answer comes through an injected `Fetch`
(`elb_upgrade.readiness_fetch` is the real one) and time through an injected `Clock`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from elb_upgrade.clock import Clock
from elb_upgrade.platforms.base import RevisionState, RevisionStatus
from elb_upgrade.readiness_body import Component, Fetch, Reply, parse, reported_revision, sanitize

FIRST_DELAY = 0.5


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reason: str
    elapsed: float
    reply: Reply | None = None
    failed_for_good: bool = False
    down: list[Component] = field(default_factory=list)

    @property
    def body_text(self) -> str:
        return sanitize(self.reply.body) if self.reply else ""


@dataclass(frozen=True)
class GateSpec:
    url: str
    expected_revision: str | None
    timeout: float
    interval: float


def from_revision(reply: Reply, expected: str | None) -> bool:
    """A 200 counts only when it came from the expected revision (when both are known)."""
    if expected is None:
        return True
    reported = reported_revision(reply.body)
    return reported is None or reported == expected


def wait_ready(
    spec: GateSpec,
    status: Callable[[], RevisionStatus],
    fetch: Fetch,
    clock: Clock,
    on_poll: Callable[[str], None] = lambda _: None,
) -> Verdict:
    """Poll until ready, failed for good, or `spec.timeout` seconds have passed."""
    start = clock.monotonic()
    deadline = start + spec.timeout
    last: Reply | None = None
    reason = "no answer yet"
    while True:
        revision = status()
        if revision.state is RevisionState.FAILED:
            return Verdict(
                False,
                f"new revision failed: {revision.detail}",
                clock.monotonic() - start,
                last,
                failed_for_good=True,
            )
        if revision.state is RevisionState.RUNNING:
            last = fetch(spec.url, max(0.5, min(10.0, deadline - clock.monotonic())))
            if last.status == 200 and from_revision(last, spec.expected_revision):
                return Verdict(True, "ready", clock.monotonic() - start, last)
            reason = _describe(last, spec.expected_revision)
        else:
            reason = f"revision not running yet: {revision.detail or revision.state.value}"
        on_poll(reason)
        remaining = deadline - clock.monotonic()
        if remaining <= 0:
            down = parse(last.body).down if last else []
            return Verdict(
                False,
                f"not ready after {spec.timeout:g}s: {reason}",
                clock.monotonic() - start,
                last,
                down=down,
            )
        clock.sleep(min(_delay(clock.monotonic() - start, spec.interval), remaining))


def _delay(waited: float, interval: float) -> float:
    return min(interval, FIRST_DELAY + waited / 30.0)


def _describe(reply: Reply, expected: str | None) -> str:
    if reply.status is None:
        return f"no answer ({reply.error})"
    if reply.status == 200:
        return f"200 came from another revision than {expected}"
    names = [c.name for c in parse(reply.body).down]
    return f"HTTP {reply.status}" + (f", down: {', '.join(names)}" if names else "")
