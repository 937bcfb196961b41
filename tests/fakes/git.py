"""The one git helper of the tests: a fixed identity and a runner.

`GIT_ENV` is the author and committer every test commit carries; `git(root, *args)` runs
git in `root` with it (plus `env`, if given, over `os.environ`) and returns its stdout.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
}


def git(root: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    """`git -C root ARGS` with the test identity; raises on failure, returns stdout stripped."""
    done = subprocess.run(
        ["git", "-C", str(root), *args],
        env={**os.environ, **GIT_ENV, **(env or {})},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def commit_all(
    root: Path,
    message: str = "change",
    env: Mapping[str, str] | None = None,
    allow_empty: bool = False,
) -> None:
    """Stage everything in `root` and commit it (nothing to commit fails, unless
    `allow_empty`)."""
    git(root, "add", "-A", env=env)
    git(root, "commit", "-q", *(["--allow-empty"] if allow_empty else []), "-m", message, env=env)
