"""The tamper-evident chain of a shared history (pure: bytes in, verdicts out).

Each line's `prev` is the SHA-256 (hex) of the previous line exactly as stored, newline
included; the first line of the first blob has `GENESIS`. A rolled-over blob's first
line chains to the last line of the blob before it, so the chain runs across blobs.

What the chain proves: a line changed, removed or inserted after a later line was
written breaks the next line's `prev`, and `--verify` names where. The newest line has
no successor yet, so an edit of it shows only once the next run appends.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from elb_upgrade.history.read import parse_line

GENESIS = "0" * 64


def digest(line: bytes) -> str:
    """The `prev` a line after `line` carries (`line` with its newline)."""
    return hashlib.sha256(line).hexdigest()


def last_line(tail: bytes, whole: bool) -> bytes | None:
    """The last complete line (with its newline) of a blob's tail, or None.

    `whole`: the tail is the entire blob, so a tail without an inner newline is one line.
    """
    if not tail.endswith(b"\n"):
        return None
    cut = tail[:-1].rfind(b"\n")
    if cut < 0:
        return tail if whole else None
    return tail[cut + 1 :]


def first_problem(blobs: Iterable[tuple[str, bytes]]) -> tuple[int, int, str | None]:
    """Walk every line of every blob in order: (lines, blobs, the first problem or None)."""
    expected, lines, count = GENESIS, 0, 0
    previous = ""
    for name, data in blobs:
        count += 1
        if data and not data.endswith(b"\n"):
            return lines, count, f"{name} ends in a torn line (no newline)"
        for number, raw in enumerate(data.splitlines(keepends=True), start=1):
            lines += 1
            entry = parse_line(raw)
            here = f"{name} line {number}"
            if entry is None:
                return lines, count, f"{here} is not a history line (corrupt or torn)"
            prev = entry.get("prev")
            if prev != expected:
                if not isinstance(prev, str):
                    return (
                        lines,
                        count,
                        f"{here} has no `prev` field: it was not appended by elb-upgrade",
                    )
                suspect = previous or "the start of the history"
                return (
                    lines,
                    count,
                    f"{here}: its prev does not match {suspect} — that line was edited, or "
                    f"a line between them was removed or inserted",
                )
            expected, previous = digest(raw), here
    return lines, count, None
