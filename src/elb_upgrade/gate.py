"""The readiness gate: poll until the new revision is serving and ready, or give up.

A deploy passes when the platform reports every deployed container running its new
image *and* the readiness URL answers 200 from the new revision (a 200 from the old
revision during a rollout does not count). Polling starts at 0.5 s and slows linearly
(+1 s per 30 s waited) up to `interval`: a deploy that is ready in its first 15 s is
confirmed within a second, and a long wait does not hammer the app. When the
platform says the revision failed for good (exited, crash loop, image pull failure) the
gate stops at once instead of burning its whole budget.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from elb_upgrade.clock import Clock
from elb_upgrade.platforms.base import RevisionState, RevisionStatus

BODY_CAP = 5 * 1024
READ_CAP = 4 * BODY_CAP  # what is read of an answer; enough JSON to find what is down
FETCH_GRACE = 0.25  # past a request's own timeout before it is given up on
FIRST_DELAY = 0.5
_REVISION = re.compile(rb'"revision"\s*:\s*"((?:[^"\\]|\\.)*)"')
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]|[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Reply:
    """One readiness answer: HTTP status (None when no answer) and the capped body."""

    status: int | None
    body: bytes = b""
    error: str = ""


Fetch = Callable[[str, float], Reply]


@dataclass(frozen=True)
class ComponentDown:
    name: str
    status: str
    error_class: str
    error: str


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reason: str
    elapsed: float
    reply: Reply | None = None
    failed_for_good: bool = False
    down: list[ComponentDown] = field(default_factory=list)

    @property
    def body_text(self) -> str:
        return sanitize(self.reply.body) if self.reply else ""


@dataclass(frozen=True)
class GateSpec:
    url: str
    expected_revision: str | None
    timeout: float
    interval: float


def sanitize(body: bytes, cap: int = BODY_CAP) -> str:
    """Printable text of at most `cap` bytes: no terminal control sequences survive."""
    text = body[:cap].decode("utf-8", "replace")
    cleaned = _CONTROL.sub("", text)
    return cleaned + ("\n… (truncated)" if len(body) > cap else "")


def parse_body(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def components_down(body: bytes) -> list[ComponentDown]:
    """Each component the readiness body reports as anything but ok or skipped."""
    data = parse_body(body) or {}
    components = data.get("components")
    if not isinstance(components, dict):
        return []
    found = []
    for name, info in components.items():
        if isinstance(info, dict) and info.get("status") not in ("ok", "skipped"):
            found.append(
                ComponentDown(
                    name=sanitize(str(name).encode(), 80),
                    status=str(info.get("status"))[:20],
                    error_class=sanitize(str(info.get("error_class", "")).encode(), 80),
                    error=sanitize(str(info.get("error", "")).encode(), 200),
                )
            )
    return found


def from_revision(reply: Reply, expected: str | None) -> bool:
    """A 200 counts only when it came from the expected revision (when both are known)."""
    if expected is None:
        return True
    reported = reported_revision(reply.body)
    return reported is None or reported == expected


def reported_revision(body: bytes) -> object:
    """The body's `revision`; from a body cut at the read cap, the first one it names.

    A huge (or trickling) answer is read only up to the cap and no longer parses as JSON;
    it must not count as "revision unknown" and pass for an old revision.
    """
    data = parse_body(body)
    if data is not None:
        return data.get("revision")
    match = _REVISION.search(body)
    if match is None:
        return None
    try:
        return json.loads(b'"' + match.group(1) + b'"')
    except ValueError:
        return match.group(1).decode("utf-8", "replace")


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
            down = components_down(last.body) if last else []
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
    names = [c.name for c in components_down(reply.body)]
    return f"HTTP {reply.status}" + (f", down: {', '.join(names)}" if names else "")


def http_fetch() -> tuple[Fetch, Callable[[], None]]:
    """A fetch over one httpx client, and its closer.

    httpx is imported and the client made on the first fetch: a run that stops before
    the gate (lock held, preflight failed) never pays for it. httpx's timeout bounds each
    read, not the whole request: a server that trickles its headers a byte at a time
    would hold the gate for hours. So each request runs in a daemon thread that is given
    up on at its deadline; a new client (new connections) serves the next poll, and the
    stuck thread ends with the server or with the process.
    """
    clients: list[Any] = []

    def client() -> Any:
        import httpx

        if not clients:
            clients.append(
                httpx.Client(follow_redirects=False, headers={"accept": "application/json"})
            )
        return clients[0]

    def fetch(url: str, timeout: float) -> Reply:
        answer: list[Reply] = []
        used = client()
        worker = threading.Thread(
            target=lambda: answer.append(_get(used, url, timeout)),
            name="elb-upgrade-readiness",
            daemon=True,
        )
        worker.start()
        worker.join(timeout + FETCH_GRACE)
        if answer:
            return answer[0]
        clients.clear()  # never reuse a client with a stuck connection
        return Reply(None, b"", f"no complete answer within {timeout:g}s")

    def close() -> None:
        for live in clients:
            live.close()

    return fetch, close


def _get(client: Any, url: str, timeout: float) -> Reply:
    import httpx

    try:
        return _read_capped(client, url, timeout)
    except httpx.HTTPError as exc:
        return Reply(None, b"", f"{type(exc).__name__}: {exc}"[:200])
    except Exception as exc:  # a malformed URL or answer is a failed poll, not a crash
        return Reply(None, b"", f"{type(exc).__name__}: {exc}"[:200])


def _read_capped(client: Any, url: str, timeout: float) -> Reply:
    """GET `url`, reading at most a few body caps, within `timeout` overall."""
    deadline = time.monotonic() + timeout
    body = b""
    with client.stream("GET", url, timeout=timeout) as response:
        for chunk in response.iter_bytes():
            body += chunk
            # A huge or trickling body must not stretch the gate past its budget.
            if len(body) > READ_CAP or time.monotonic() > deadline:
                break
        return Reply(response.status_code, body[:READ_CAP])
