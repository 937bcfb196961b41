"""The local spool: shared-history lines that could not be appended, kept until they can.

A run whose history append fails (storage unreachable at the end of the run) writes its
line here instead and keeps its exit code. The next run against the same container, or
`elb-upgrade history --flush`, appends the spooled lines, skipping any whose `run_id`
the shared history already holds (an append whose answer was lost may have landed), so
each line reaches the history exactly once. The spool is one JSON object per line
(`$ELB_UPGRADE_SPOOL`, else `~/.elb-upgrade-spool.jsonl`), mode 0600, and flushes hold
an flock on it so two runs on one machine never append the same line twice.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from elb_upgrade.history.record import KEYS, Entry
from elb_upgrade.safefile import open_private
from elb_upgrade.state.base import FlushReport, RunMeta


def spool_path(environ: Mapping[str, str]) -> Path | None:
    if environ.get("ELB_UPGRADE_SPOOL"):
        return Path(environ["ELB_UPGRADE_SPOOL"]).expanduser()
    home = environ.get("HOME")
    return Path(home) / ".elb-upgrade-spool.jsonl" if home else None


def add(path: Path | None, target: str, app: str, entry: Entry, meta: RunMeta) -> str | None:
    """Spool one line; the error text when even that fails (the line is then lost)."""
    if path is None:
        return "$HOME is not set (set $ELB_UPGRADE_SPOOL)"
    record = {
        "target": target,
        "app": app,
        "entry": {k: getattr(entry, k) for k in KEYS},
        "meta": {"run_id": meta.run_id, "host": meta.host, "user": meta.user},
    }
    line = (json.dumps(record, ensure_ascii=True, separators=(",", ":")) + "\n").encode()
    try:
        fd = open_private(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    except Exception as exc:  # StateFileError for an unsafe path, OSError otherwise
        return str(exc)
    try:
        os.write(fd, line)
    except OSError as exc:
        return exc.strerror or str(exc)
    finally:
        os.close(fd)
    return None


def flush(
    path: Path | None,
    target: str,
    seen: Callable[[str], set[str]],
    append: Callable[[str, Entry, RunMeta], None],
) -> FlushReport:
    """Append the spooled lines for `target` that its history lacks; keep the rest.

    `seen(app)` gives the run ids the app's shared history holds; `append` raises when
    the line cannot be appended (it then stays spooled, with every line after it).
    """
    report = FlushReport()
    if path is None or not path.exists():
        return report
    fd = open_private(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with os.fdopen(os.dup(fd), "rb") as handle:
            raw_lines = handle.read().splitlines()
        kept: list[bytes] = []
        known: dict[str, set[str]] = {}
        for raw in raw_lines:
            record = _parse(raw)
            if record is None or record["target"] != target or report.errors:
                if raw.strip():
                    report.kept += 1
                    kept.append(raw)
                continue
            app, entry, meta = record["app"], record["entry"], record["meta"]
            try:
                if app not in known:
                    known[app] = seen(app)
                if meta.run_id in known[app]:
                    report.duplicates += 1
                    continue
                append(app, entry, meta)
                known[app].add(meta.run_id)
                report.appended += 1
            except Exception as exc:  # storage still away: keep this and the rest
                report.errors.append(str(exc).splitlines()[0])
                report.kept += 1
                kept.append(raw)
        data = b"".join(line + b"\n" for line in kept)
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
        os.fsync(fd)
    finally:
        os.close(fd)
    return report


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(raw)
        fields = data["entry"]
        entry = Entry(**{k: fields[k] for k in KEYS})
        meta = RunMeta(**{k: str(data["meta"][k]) for k in ("run_id", "host", "user")})
        return {
            "target": str(data["target"]),
            "app": str(data["app"]),
            "entry": entry,
            "meta": meta,
        }
    except (ValueError, KeyError, TypeError):
        return None
