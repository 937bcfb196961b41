"""The working-tree guards: clean tree, --branch, --pull --ff-only."""

from __future__ import annotations

from pathlib import Path

from fakes.app import App
from fakes.git import commit_all, git


def _tracking(app: App, tmp_path: Path) -> Path:
    """Give the checkout an `origin` (a bare clone) that its main tracks."""
    upstream = tmp_path / "upstream.git"
    git(tmp_path, "clone", "-q", "--bare", str(app.root), str(upstream))
    app.git("remote", "add", "origin", str(upstream))
    app.git("fetch", "-q", "origin")
    app.git("branch", "-q", "--set-upstream-to=origin/main")
    return upstream


def _push_theirs(upstream: Path, tmp_path: Path) -> str:
    """A teammate pushes a commit to `upstream`; its short sha."""
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(upstream), str(other))
    (other / "upstream.txt").write_text("theirs\n")
    commit_all(other, "theirs")
    git(other, "push", "-q")
    return git(other, "rev-parse", "--short=7", "HEAD")


def test_dirty_tree_is_refused(app: App) -> None:
    (app.root / "api" / "app.py").write_text("print('wip')\n")
    done = app.run("api", "--yes")
    assert done.returncode == 1
    assert "uncommitted changes: api/app.py" in done.stderr and "--allow-dirty" in done.stderr
    assert app.lines()[0]["result"] == "preflight_failed"
    assert app.get()["revision"] == "demo--1"


def test_allow_dirty_deploys_anyway(app: App) -> None:
    (app.root / "api" / "app.py").write_text("print('wip')\n")
    assert app.run("api", "--yes", "--allow-dirty").returncode == 0


def test_branch_guard(app: App) -> None:
    done = app.run("api", "--yes", "--branch", "release")
    assert done.returncode == 1
    assert "on branch 'main', but --branch 'release'" in done.stderr


def test_pull_refuses_a_non_fast_forward(app: App, tmp_path: Path) -> None:
    upstream = _tracking(app, tmp_path)
    _push_theirs(upstream, tmp_path)
    (app.root / "mine.txt").write_text("mine\n")
    app.commit("mine")
    done = app.run("api", "--yes", "--pull")
    assert done.returncode == 1
    assert "--pull could not fast-forward" in done.stderr and "diverged" in done.stderr
    assert app.lines()[0]["result"] == "preflight_failed"
    app.git("fetch", "-q", "origin")  # once their commit is here, the dry run says so too
    dry = app.run("api", "--pull", "--dry-run")
    assert dry.returncode == 1 and "have diverged" in dry.stderr


def test_pull_fast_forwards(app: App, tmp_path: Path) -> None:
    _tracking(app, tmp_path)
    done = app.run("api", "--yes", "--pull")
    assert done.returncode == 0, done.stderr


def test_pull_with_other_branch_is_refused(app: App) -> None:
    done = app.run("api", "--yes", "--pull", "--branch", "release")
    assert done.returncode == 1 and "--branch 'release'" in done.stderr


def test_dirty_tracked_file_is_named_whole(app: App) -> None:
    """Porcelain's first line starts with a space (` M api/Dockerfile`): the path stays whole."""
    (app.root / "api" / "Dockerfile").write_text("FROM scratch\n")
    (app.root / "we ird name.txt").write_text("x\n")
    done = app.run("api", "--yes")
    assert done.returncode == 1
    assert "uncommitted changes: api/Dockerfile, we ird name.txt" in done.stderr, done.stderr


def test_dry_run_pull_moves_nothing_and_says_what_it_would_do(app: App, tmp_path: Path) -> None:
    upstream = _tracking(app, tmp_path)
    theirs = _push_theirs(upstream, tmp_path)
    before = app.git("rev-parse", "--short=7", "HEAD")
    tracking = app.git("rev-parse", "origin/main")
    done = app.run("api", "--pull", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert f"would fast-forward main from {before} to {theirs}" in done.stderr
    assert app.git("rev-parse", "--short=7", "HEAD") == before  # HEAD did not move
    assert app.git("rev-parse", "origin/main") == tracking  # nothing fetched either
    assert not (app.root / "upstream.txt").exists()
    assert app.git("status", "--porcelain") == ""


def test_real_pull_says_what_it_did(app: App, tmp_path: Path) -> None:
    upstream = _tracking(app, tmp_path)
    theirs = _push_theirs(upstream, tmp_path)
    done = app.run("api", "--yes", "--pull")
    assert done.returncode == 0, done.stderr
    assert f"to {theirs}" in done.stderr and "fast-forwarded main" in done.stderr
    assert app.lines()[0]["head_sha"] == theirs


def test_dirty_tree_is_refused_before_pulling(app: App, tmp_path: Path) -> None:
    upstream = _tracking(app, tmp_path)
    _push_theirs(upstream, tmp_path)
    before = app.git("rev-parse", "HEAD")
    (app.root / "api" / "Dockerfile").write_text("FROM scratch\n")
    done = app.run("api", "--yes", "--pull")
    assert done.returncode == 1
    assert "uncommitted changes: api/Dockerfile" in done.stderr
    assert app.git("rev-parse", "HEAD") == before  # not pulled
    assert not (app.root / "upstream.txt").exists()


def test_pull_without_upstream_says_so_and_how_to_set_one(app: App) -> None:
    done = app.run("api", "--yes", "--pull")
    assert done.returncode == 1
    assert "branch 'main' has no upstream branch" in done.stderr
    assert "git branch --set-upstream-to=origin/main main" in done.stderr
    assert "diverged" not in done.stderr
    assert app.lines()[0]["result"] == "preflight_failed"
