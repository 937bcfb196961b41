"""Pack a build context into a tar.gz the way `docker build` / `az acr build` send it.

`.dockerignore` follows Docker's rules: one pattern a line, `#` comments, `!` re-includes,
`*` and `?` stay within a path segment, `**` spans segments, a leading `/` is dropped, a
pattern that matches a directory excludes everything under it, and the last matching
pattern wins. The Dockerfile and `.dockerignore` are sent even when excluded (Docker's
builder needs them). Symlinks travel as symlinks; they are never followed.
"""

from __future__ import annotations

import os
import posixpath
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO


@dataclass(frozen=True)
class Rule:
    regex: re.Pattern[str]
    include: bool  # a `!` line re-includes what it matches


def parse_ignore(text: str) -> list[Rule]:
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        pattern = posixpath.normpath(line[1:].strip() if include else line).lstrip("/")
        if pattern in ("", "."):
            continue
        rules.append(Rule(re.compile(_translate(pattern)), include))
    return rules


def _translate(pattern: str) -> str:
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(char))
            else:
                out.append(f"[{pattern[i + 1 : end]}]")  # Go's [a-z] / [^a-z] read alike
                i = end
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out) + r"\Z"


def excluded(path: str, rules: list[Rule]) -> bool:
    """Whether `path` (relative, `/`-separated) is left out; the last matching rule wins."""
    parents = _self_and_parents(path)
    verdict = False
    for rule in rules:
        if any(rule.regex.match(p) for p in parents):
            verdict = not rule.include
    return verdict


def _self_and_parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[: n + 1]) for n in range(len(parts))]


def files(root: Path, dockerfile: str) -> Iterator[str]:
    """Relative paths of everything to send, in a stable order."""
    ignore = root / ".dockerignore"
    rules = parse_ignore(ignore.read_text(encoding="utf-8")) if ignore.is_file() else []
    always = {posixpath.normpath(dockerfile), ".dockerignore"}
    can_prune = not any(r.include for r in rules)
    for folder, dirs, names in os.walk(root):
        rel_dir = Path(folder).relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        if can_prune:  # nothing can re-include below an excluded directory
            dirs[:] = [d for d in dirs if not excluded(rel_dir + d, rules)]
        dirs.sort()
        for name in sorted(names + [d for d in dirs if (Path(folder) / d).is_symlink()]):
            rel = rel_dir + name
            if rel in always or not excluded(rel, rules):
                yield rel


def pack(root: Path, dockerfile: str, out: BinaryIO) -> int:
    """Write the context under `root` as tar.gz to `out`; return how many entries."""
    count = 0
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for rel in files(root, dockerfile):
            tar.add(root / rel, arcname=rel, recursive=False, filter=_normalise)
            count += 1
    return count


def _normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
    # Who built it and when must not leak into (or change) the uploaded context.
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info
