"""Deploy history: one JSON line per terminal outcome of a run.

Contract (DESIGN.md): keys in this order, then additive keys —
    ts, scope, app, tag, head_sha, result, elapsed_seconds, message, exit_code
The line is written with a single `write()` on an `O_APPEND` descriptor and kept under
4 KiB (the message is truncated), so concurrent runs on one local filesystem never tear
or interleave lines. Recording must never change a run's outcome: any failure to write
is reported as a warning and swallowed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS = (
    "success",
    "parity_rejected",
    "preflight_failed",
    "lock_held",
    "build_in_progress",
    "upgrade_failed",
    "upgrade_failed_rolled_back",
    "rollback_failed",
    "rollback_success",
    "aborted_by_user",
    "aborted",
)
KEYS = (
    "ts",
    "scope",
    "app",
    "tag",
    "head_sha",
    "result",
    "elapsed_seconds",
    "message",
    "exit_code",
)
MAX_LINE = 4096


@dataclass(frozen=True)
class Entry:
    ts: str
    scope: str
    app: str
    tag: str
    head_sha: str
    result: str
    elapsed_seconds: int
    message: str
    exit_code: int

    def to_line(self) -> bytes:
        """The JSON line, message truncated so the whole line stays under MAX_LINE bytes."""
        fields: dict[str, Any] = {k: getattr(self, k) for k in KEYS}
        fields["message"] = _clean(self.message)
        line = _dump(fields)
        while len(line) >= MAX_LINE:
            excess = len(line) - MAX_LINE + 16
            fields["message"] = fields["message"][: max(0, len(fields["message"]) - excess)]
            fields["message"] = fields["message"].rstrip() + "…"
            line = _dump(fields)
        return line


def default_path(environ: Mapping[str, str]) -> Path | None:
    """`$ELB_UPGRADE_HISTORY`, else `~/.elb-upgrade-history.jsonl`; None with no home."""
    if environ.get("ELB_UPGRADE_HISTORY"):
        return Path(environ["ELB_UPGRADE_HISTORY"]).expanduser()
    home = environ.get("HOME")
    return Path(home) / ".elb-upgrade-history.jsonl" if home else None


def append(path: Path | None, entry: Entry) -> str | None:
    """Append `entry` to `path`; return a warning instead of raising when that fails."""
    if path is None:
        return "deploy history not written: $HOME is not set (set $ELB_UPGRADE_HISTORY)"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, entry.to_line())
        finally:
            os.close(fd)
    except OSError as exc:
        return f"deploy history not written to {path}: {exc.strerror or exc}"
    return None


@dataclass(frozen=True)
class Loaded:
    entries: list[dict[str, Any]]
    skipped: int


def load(path: Path) -> Loaded:
    """Every valid history line of `path`; corrupt or foreign lines are counted, not fatal."""
    entries: list[dict[str, Any]] = []
    skipped = 0
    for raw in _lines(path):
        entry = parse_line(raw)
        if entry is None:
            skipped += 1
        else:
            entries.append(entry)
    return Loaded(entries, skipped)


def parse_line(raw: bytes) -> dict[str, Any] | None:
    """One history line as a dict, or None when it is not one of ours."""
    if not raw.strip():
        return None
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or not all(k in data for k in ("ts", "scope", "result")):
        return None
    if not isinstance(data.get("elapsed_seconds", 0), int | float):
        return None
    return data


def _lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        yield from handle


def _dump(fields: dict[str, Any]) -> bytes:
    # ensure_ascii keeps the line one line whatever the message holds.
    return (json.dumps(fields, ensure_ascii=True, separators=(",", ":")) + "\n").encode()


def _clean(message: str) -> str:
    """Drop surrogates left by undecodable bytes so the line is valid JSON text."""
    return message.encode("utf-8", "replace").decode("utf-8")
