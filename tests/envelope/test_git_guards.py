"""The working-tree guards: clean tree, --branch, --pull --ff-only."""

from __future__ import annotations

import subprocess

from appkit import GIT_ENV, App


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


def test_pull_refuses_a_non_fast_forward(app: App, tmp_path) -> None:  # type: ignore[no-untyped-def]
    upstream = tmp_path / "upstream.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(app.root), str(upstream)], check=True)
    app.git("remote", "add", "origin", str(upstream))
    app.git("fetch", "-q", "origin")
    app.git("branch", "-q", "--set-upstream-to=origin/main")
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(upstream), str(other)], check=True)
    (other / "upstream.txt").write_text("theirs\n")
    env = {**GIT_ENV, "PATH": "/usr/bin:/bin"}
    subprocess.run(["git", "-C", str(other), "add", "-A"], check=True, env=env)
    subprocess.run(["git", "-C", str(other), "commit", "-qm", "theirs"], check=True, env=env)
    subprocess.run(["git", "-C", str(other), "push", "-q"], check=True, env=env)
    (app.root / "mine.txt").write_text("mine\n")
    app.commit("mine")
    done = app.run("api", "--yes", "--pull")
    assert done.returncode == 1
    assert "--pull could not fast-forward" in done.stderr
    assert app.lines()[0]["result"] == "preflight_failed"


def test_pull_fast_forwards(app: App, tmp_path) -> None:  # type: ignore[no-untyped-def]
    upstream = tmp_path / "upstream.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(app.root), str(upstream)], check=True)
    app.git("remote", "add", "origin", str(upstream))
    app.git("fetch", "-q", "origin")
    app.git("branch", "-q", "--set-upstream-to=origin/main")
    done = app.run("api", "--yes", "--pull")
    assert done.returncode == 0, done.stderr


def test_pull_with_other_branch_is_refused(app: App) -> None:
    done = app.run("api", "--yes", "--pull", "--branch", "release")
    assert done.returncode == 1 and "--branch 'release'" in done.stderr
