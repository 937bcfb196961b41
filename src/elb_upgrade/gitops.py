"""The git facts and actions the envelope needs, through `git` with argument lists (no shell)."""

from __future__ import annotations

import contextlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

from elb_upgrade.errors import GitError


@dataclass(frozen=True)
class Upstream:
    """Where `git pull` on the current branch would pull from."""

    branch: str  # the local branch, e.g. "main"
    remote: str  # e.g. "origin"
    ref: str  # the remote's ref, e.g. "refs/heads/main"

    @property
    def name(self) -> str:
        """`origin/main`, as git shows it."""
        return f"{self.remote}/{self.ref.removeprefix('refs/heads/')}"


class Git:
    """Runs git in one working tree."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _call(self, *args: str) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
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

    def _run_raw(self, *args: str) -> str:
        done = self._call(*args)
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise GitError(
                f"git {' '.join(args)} failed: {detail[-1] if detail else done.returncode}",
                hint=f"fix the checkout at {self.root} and rerun",
            )
        return done.stdout

    def _run(self, *args: str) -> str:
        return self._run_raw(*args).strip()

    def _succeeds(self, *args: str) -> bool:
        return self._call(*args).returncode == 0

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
        """Changed and untracked paths, exactly as named (NUL-separated porcelain)."""
        out = self._run_raw("status", "--porcelain", "-z", "--untracked-files=normal")
        return parse_porcelain_z(out)

    def upstream(self) -> Upstream | None:
        """The current branch's upstream, or None (detached HEAD, or none configured)."""
        branch = self.branch()
        if branch == "HEAD":
            return None
        remote = self._config(f"branch.{branch}.remote")
        ref = self._config(f"branch.{branch}.merge")
        return Upstream(branch, remote, ref) if remote and ref else None

    def _config(self, key: str) -> str:
        done = self._call("config", "--get", key)
        return done.stdout.strip() if done.returncode == 0 else ""

    def remote_sha(self, upstream: Upstream) -> str:
        """The upstream's commit on the remote, read without fetching anything."""
        out = self._run("ls-remote", "--exit-code", upstream.remote, upstream.ref)
        return out.split()[0] if out else ""

    def full_sha(self, rev: str = "HEAD") -> str:
        return self._run("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")

    def has_commit(self, sha: str) -> bool:
        return self._succeeds("cat-file", "-e", f"{sha}^{{commit}}")

    def is_ancestor(self, older: str, newer: str) -> bool:
        return self._succeeds("merge-base", "--is-ancestor", older, newer)

    def pull_ff_only(self) -> None:
        self._run("pull", "--ff-only")


def parse_porcelain_z(out: str) -> list[str]:
    """Paths from `git status --porcelain -z`: `XY <path>` entries, NUL-terminated; a
    rename or copy is followed by its source path, which is not listed again."""
    fields = out.split("\0")
    paths: list[str] = []
    i = 0
    while i < len(fields):
        entry = fields[i]
        i += 1
        if len(entry) < 4:
            continue
        paths.append(entry[3:])
        if entry[0] in "RC":
            i += 1  # skip the rename's source
    return paths


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


def require_upstream(git: Git) -> Upstream:
    """The current branch's upstream; a GitError naming how to set one when there is none."""
    found = git.upstream()
    if found is not None:
        return found
    branch = git.branch()
    if branch == "HEAD":
        raise GitError(
            "--pull: the checkout is not on a branch (detached HEAD); nothing was pulled",
            hint="git checkout <branch> first, or leave --pull out",
        )
    raise GitError(
        f"--pull: branch {branch!r} has no upstream branch to pull from; nothing was pulled",
        hint=f"set one with `git branch --set-upstream-to=origin/{branch} {branch}` "
        f"(or `git push -u origin {branch}`), or leave --pull out",
    )


def pull(git: Git, wanted: str | None, dry_run: bool = False) -> str:
    """`git pull --ff-only` on the current branch (refused when --branch names another);
    a dry run only says what it would do. Returns the line that says what happened."""
    if wanted:
        require_branch(git, wanted)
    upstream = require_upstream(git)
    if dry_run:
        return _would_pull(git, upstream)
    before = git.full_sha()
    try:
        git.pull_ff_only()
    except GitError as exc:
        raise _pull_failed(git, upstream, before, exc) from exc
    after = git.full_sha()
    if after == before:
        return f"--pull: {upstream.branch} is up to date with {upstream.name} ({before[:7]})"
    return f"--pull: fast-forwarded {upstream.branch} from {before[:7]} to {after[:7]}"


def _would_pull(git: Git, upstream: Upstream) -> str:
    """What `--pull` would do, learnt without fetching: the checkout stays as it is."""
    head, branch = git.full_sha(), upstream.branch
    try:
        theirs = git.remote_sha(upstream)
    except GitError as exc:
        raise GitError(
            f"--pull: cannot read {upstream.name}: {exc.message}; nothing was changed",
            hint=f"check that `git pull --ff-only` works in {git.root}, then rerun",
        ) from exc
    if theirs == head:
        return f"dry run: --pull: {branch} is up to date with {upstream.name} ({head[:7]})"
    if not git.has_commit(theirs):
        return (
            f"dry run: --pull would fast-forward {branch} from {head[:7]} to {theirs[:7]} "
            "(not fetched: a real run refuses if that is not a fast-forward)"
        )
    if git.is_ancestor(head, theirs):
        return f"dry run: --pull would fast-forward {branch} from {head[:7]} to {theirs[:7]}"
    if git.is_ancestor(theirs, head):
        return f"dry run: --pull: {branch} ({head[:7]}) is ahead of {upstream.name}; no pull"
    raise _diverged(upstream, head, theirs)


def _pull_failed(git: Git, upstream: Upstream, before: str, exc: GitError) -> GitError:
    tracking = ""
    with contextlib.suppress(GitError):
        tracking = git.full_sha(f"refs/remotes/{upstream.name}")
    if tracking and not git.is_ancestor(before, tracking) and not git.is_ancestor(tracking, before):
        return _diverged(upstream, before, tracking)
    return GitError(
        f"--pull could not pull {upstream.name}: {exc.message}; nothing was deployed",
        hint=f"check that `git pull --ff-only` works in {git.root}, then rerun",
    )


def _diverged(upstream: Upstream, ours: str, theirs: str) -> GitError:
    return GitError(
        f"--pull could not fast-forward: {upstream.branch} ({ours[:7]}) and "
        f"{upstream.name} ({theirs[:7]}) have diverged; nothing was pulled or deployed",
        hint="rebase or merge by hand, then rerun",
    )
