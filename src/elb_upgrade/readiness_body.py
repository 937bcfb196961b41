"""The one reader of an app's readiness answer: status, revision and each component.

The gate (did the new revision pass?) and `elb-upgrade status` (what does the app say
now?) both read the body here, so both see the same values, cleaned the same way: every
text is cut to a size and stripped of terminal control sequences and bidirectional
overrides before it can reach a terminal or a history line. The body's JSON contract is
in docs/architecture.md (readiness JSON).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from elb_upgrade.ui import printable

BODY_CAP = 5 * 1024
READ_CAP = 4 * BODY_CAP  # what is read of an answer; enough JSON to find what is down
HEALTHY = frozenset({"ok", "skipped"})
_REVISION = re.compile(rb'"revision"\s*:\s*"((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Reply:
    """One readiness answer: HTTP status (None when no answer) and the capped body."""

    status: int | None
    body: bytes = b""
    error: str = ""


Fetch = Callable[[str, float], Reply]
"""GET a readiness URL within a timeout (seconds); never raises."""


@dataclass(frozen=True)
class Component:
    """One dependency as the readiness body reports it (cleaned and capped)."""

    name: str
    status: str
    error_class: str
    error: str = ""

    @property
    def healthy(self) -> bool:
        return self.status in HEALTHY


@dataclass(frozen=True)
class Body:
    """What a readiness body says; `valid` is False when it is not a JSON object."""

    valid: bool
    status: str = ""
    revision: str = ""
    components: tuple[Component, ...] = ()

    @property
    def down(self) -> list[Component]:
        """Each component reported as anything but ok or skipped."""
        return [c for c in self.components if not c.healthy]


def sanitize(body: bytes, cap: int = BODY_CAP) -> str:
    """Printable text of at most `cap` bytes: no terminal control sequences survive."""
    text = printable(body[:cap].decode("utf-8", "replace"))
    return text + ("\n… (truncated)" if len(body) > cap else "")


def parse(body: bytes) -> Body:
    """Read a readiness body; anything malformed reads as an empty, invalid body."""
    data = _json_object(body)
    if data is None:
        return Body(False)
    found = data.get("components")
    components = tuple(
        Component(
            name=_clean(name, 80),
            status=_clean(info.get("status", ""), 20),
            error_class=_clean(info.get("error_class", ""), 80),
            error=_clean(info.get("error", ""), 200),
        )
        for name, info in (found.items() if isinstance(found, dict) else ())
        if isinstance(info, dict)
    )
    revision = data.get("revision")
    return Body(
        True,
        _clean(data.get("status", ""), 40),
        _clean(revision, 120) if revision else "",
        components,
    )


def reported_revision(body: bytes) -> object:
    """The body's raw `revision`; from a body cut at the read cap, the first one it names.

    A huge (or trickling) answer is read only up to the cap and no longer parses as JSON;
    it must not count as "revision unknown" and pass for an old revision.
    """
    data = _json_object(body)
    if data is not None:
        return data.get("revision")
    match = _REVISION.search(body)
    if match is None:
        return None
    try:
        return json.loads(b'"' + match.group(1) + b'"')
    except ValueError:
        return match.group(1).decode("utf-8", "replace")


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _clean(value: object, cap: int) -> str:
    return sanitize(str(value).encode(), cap)
