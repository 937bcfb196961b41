"""Deploy history, the writer: one JSON line per terminal outcome of a run.

Contract (docs/architecture.md, history line): keys in this order, then additive keys —
    ts, scope, app, tag, head_sha, result, elapsed_seconds, message, exit_code
Additive keys, written only when known: `commit_ts` (the committer time of HEAD, for
lead time in `elb-upgrade report`) and `who` (user@host of the run).
The line is written with a single `write()` on an `O_APPEND` descriptor and kept under
4 KiB (the message is truncated), so concurrent runs on one local filesystem never tear
or interleave lines. Recording must never change a run's outcome: any failure to write
is reported as a warning and swallowed.
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
ADDITIVE = ("commit_ts", "who")
MAX_LINE = 4096
FIELD_BYTES = 256  # each field but the message, JSON-escaped
_ELLIPSIS = "\\u2026"  # "…" as ensure_ascii writes it
TAIL_WAIT = 2.0


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
    # Additive keys after the contract's (a shared history's run_id, host, user, prev).
    extra: tuple[tuple[str, str], ...] = ()
    commit_ts: str = ""
    who: str = ""

    def to_line(self) -> bytes:
        """The JSON line, always under MAX_LINE bytes: the message is cut to fit, never split.

        The short fields (scope, app, tag, …) can carry operator input too (`--tag`, a
        scope typed with a paste accident), so each is capped at FIELD_BYTES first; that
        guarantees room for the keys and at least part of the message.
        """
        fields: dict[str, Any] = {k: getattr(self, k) for k in KEYS}
        fields.update({k: getattr(self, k) for k in ADDITIVE if getattr(self, k)})
        for key in fields:
            if isinstance(fields[key], str) and key != "message":
                fields[key] = _fit(_clean(fields[key]), FIELD_BYTES)
        for key, value in self.extra:
            fields[key] = _fit(_clean(value), FIELD_BYTES)
        fields["message"] = ""
        room = MAX_LINE - 1 - len(_dump(fields))
        message = _clean(self.message)
        fitted = _fit(message, room)
        if fitted != message:
            fitted = _fit(message, room - len(_ELLIPSIS)).rstrip() + "…"
        fields["message"] = fitted
        return _dump(fields)


def who() -> str:
    """`user@host` of this process, as the lock records its holder; "" when unknown."""
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


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
    line = entry.to_line()
    try:
        # O_NONBLOCK: a FIFO planted at the path must not hang the end of the run.
        fd = _open_append(path)
        try:
            if _torn_tail(fd):
                # The last line was cut short (a full disk, a crash of another tool): end it,
                # so ours stays a line of its own.
                line = b"\n" + line
            written = os.write(fd, line)
        finally:
            os.close(fd)  # also drops the flock `_torn_tail` took
    except OSError as exc:
        return f"deploy history not written to {path}: {exc.strerror or exc}"
    if written != len(line):
        return f"deploy history line to {path} cut short ({written} of {len(line)} bytes)"
    return None


def _open_append(path: Path) -> int:
    flags = os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        return os.open(path, flags | os.O_RDWR, 0o600)
    except PermissionError:  # a write-only file: append without the tail check
        return os.open(path, flags | os.O_WRONLY, 0o600)


def _torn_tail(fd: int) -> bool:
    """Whether the file's last line lacks its newline.

    Another writer's append may be in flight and show a size mid-line, so writers take
    a short flock on the file for the check and their write. The lock is only ever
    waited for a moment: if it is not ours within TAIL_WAIT the line is appended anyway
    (the write itself is one atomic append; only the repair is skipped).
    """
    deadline = time.monotonic() + TAIL_WAIT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.001)
        except OSError:
            return False
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
            return False
        return os.pread(fd, 1, info.st_size - 1) != b"\n"
    except OSError:
        return False


def _dump(fields: dict[str, Any]) -> bytes:
    # ensure_ascii keeps the line one line whatever the message holds.
    return (json.dumps(fields, ensure_ascii=True, separators=(",", ":")) + "\n").encode()


def _clean(text: str) -> str:
    """Drop surrogates left by undecodable bytes so the line is valid JSON text."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _fit(text: str, budget: int) -> str:
    """The longest prefix of `text` whose JSON-escaped form takes at most `budget` bytes."""
    if _escaped_len(text) <= budget:
        return text
    used = 0
    for i, char in enumerate(text[: max(0, budget)]):
        used += _escaped_len(char)
        if used > budget:
            return text[:i]
    return text[: max(0, budget)]


def _escaped_len(text: str) -> int:
    return len(json.dumps(text, ensure_ascii=True)) - 2
