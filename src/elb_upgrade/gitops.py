"""The git facts and actions the envelope needs, through `git` with argument lists (no shell)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from elb_upgrade.errors import GitError


class Git:
    """Runs git in one working tree."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _run(self, *args: str) -> str:
        try:
            done = subprocess.run(
                ["git", "-C", str(self.root), *args],
                capture_output=True,
                text=True,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except FileNotFoundError as exc:
            raise GitError(
                "git is not installed", hint="install git (apt-get install git)"
            ) from exc
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise GitError(
                f"git {' '.join(args)} failed: {detail[-1] if detail else done.returncode}",
                hint=f"fix the checkout at {self.root} and rerun",
            )
        return done.stdout.strip()

    def head_sha(self) -> str:
        try:
            return self._run("rev-parse", "--short=7", "HEAD")
        except GitError as exc:
            raise GitError(
                f"{self.root} is not a git checkout with a commit",
                hint="elb-upgrade tags images with the commit: run it from a git clone of the app",
            ) from exc

    def commit_ts(self) -> str:
        """HEAD's committer time, ISO 8601 with its offset (for lead time); "" if unknown."""
        try:
            return self._run("show", "-s", "--format=%cI", "HEAD")
        except GitError:
            return ""

    def branch(self) -> str:
        return self._run("rev-parse", "--abbrev-ref", "HEAD")

    def dirty_files(self) -> list[str]:
        out = self._run("status", "--porcelain", "--untracked-files=normal")
        return [line[3:] for line in out.splitlines() if line.strip()]

    def pull_ff_only(self) -> None:
        self._run("pull", "--ff-only")


def require_clean(git: Git) -> None:
    dirty = git.dirty_files()
    if dirty:
        shown = ", ".join(dirty[:5]) + (" …" if len(dirty) > 5 else "")
        raise GitError(
            f"working tree has uncommitted changes: {shown}",
            hint="commit or stash them, or pass --allow-dirty to deploy them as-is",
        )


def require_branch(git: Git, wanted: str) -> None:
    current = git.branch()
    if current != wanted:
        raise GitError(
            f"on branch {current!r}, but --branch {wanted!r} was asked for",
            hint=f"git checkout {wanted} (or drop --branch)",
        )


def pull(git: Git, wanted: str | None) -> None:
    """`git pull --ff-only` on the current branch; refuse when --branch names another."""
    if wanted:
        require_branch(git, wanted)
    try:
        git.pull_ff_only()
    except GitError as exc:
        raise GitError(
            f"--pull could not fast-forward: {exc.message}",
            hint="your branch has diverged: rebase or merge by hand, then rerun",
        ) from exc
