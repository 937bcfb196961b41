"""`http_probe`: a sidecar's health URL answers 2xx and says it is ok (elb-dashboard's terminal).

Non-critical by default: a sidecar that is down degrades one feature, it should not take
the whole app out of the load balancer.
"""

from __future__ import annotations

import json
import os

import httpx

from elb_upgrade.health.probe import DEFAULT_TIMEOUT, IO_GRACE, Probe
from elb_upgrade.health.redact import safe_text
from elb_upgrade.health.result import ComponentResult, degraded, skipped

OK_WORDS = frozenset({"ok", "ready", "healthy", "pass", "up", "alive"})
MAX_BODY = 4096  # a health body is tiny; never read an unbounded one
MAX_SAID = 100  # how much of what the sidecar said is quoted in `reason`


def http_probe(
    name: str,
    url: str | None = None,
    *,
    env: str | None = None,
    critical: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> Probe:
    """Probe `url` (or `$env`): non-2xx → down, 2xx whose body is not ok → degraded."""
    url = url if url is not None else os.environ.get(env or "", "")
    if not url:
        return Probe(name, lambda: skipped(f"{env or 'url'} not set"), critical, timeout)
    # Long-lived client: keep-alive to the sidecar; redirects are an answer, not followed.
    client = httpx.Client(timeout=timeout + IO_GRACE, follow_redirects=False)

    def get() -> ComponentResult | None:
        with client.stream("GET", url, headers={"accept": "application/json"}) as response:
            response.raise_for_status()
            body = _read_bounded(response)
        return body_verdict(body)

    return Probe(name, get, critical, timeout)


def _read_bounded(response: httpx.Response) -> bytes:
    """At most MAX_BODY bytes; a longer body loses its last, possibly cut, token too."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY:
            body = b"".join(chunks)[:MAX_BODY]
            return body[: max(body.rfind(b" "), body.rfind(b"\n"), 0)]
    return b"".join(chunks)


def body_verdict(body: bytes) -> ComponentResult | None:
    """None when the body says ok (or says nothing), else a `degraded` result.

    Understood: empty, a plain word (`ok`, `healthy`, …), or JSON with a `status` field.
    What the sidecar said is redacted whole, then folded and cut (never cut first).
    """
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = text
    if isinstance(parsed, dict):
        if "status" not in parsed:
            return None
        parsed = parsed["status"]
    said = str(parsed).strip()
    if said.lower() in OK_WORDS:
        return None
    return degraded(f"sidecar says: {safe_text(said, MAX_SAID)}")
