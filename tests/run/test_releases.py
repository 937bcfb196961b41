"""Exact releases on the fake platform: the per-app lock across snapshot paths, `--tag`
reuse, the release history (`releases`, `[releases] keep`), `rollback --to` and
idempotent rollbacks. The same behaviours against the real engine are in
tests/platforms/docker/test_docker_releases.py."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from elb_upgrade import lock
from fakes.app import App
from fakes.git import git
from fakes.platform import marks_path, release_path
from fakes.wait import wait_until
from reliability.relkit import release, wait_mark

ROUNDS = 5 * max(1, int(os.environ.get("ELB_RELIABILITY_REPEAT", "1")))  # the soak repeats it


def second_checkout(app: App, tmp: Path) -> Path:
    """Another clone of the app's repository: same app, its own snapshot."""
    other = tmp / "other-checkout"
    git(tmp, "clone", "-q", str(app.root), str(other))
    return other


def popen_in(app: App, root: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        app.command(*args),
        cwd=root,
        env=app.env(**env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def first_to_exit(runs: list[subprocess.Popen[str]]) -> subprocess.Popen[str]:
    wait_until(lambda: any(r.poll() is not None for r in runs), what="one of the runs ended")
    return next(r for r in runs if r.poll() is not None)


def test_two_checkouts_with_different_snapshots_never_deploy_at_once(
    app: App, tmp_path: Path
) -> None:
    """20 times: both start together, exactly one deploys, the other ends lock_held."""
    other = second_checkout(app, tmp_path)
    other_snapshot = str(tmp_path / "other-snapshot.json")
    app.set(pause={"build": 120})
    for n in range(1, ROUNDS + 1):
        marks_path(app.state).unlink(missing_ok=True)
        release_path(app.state, "build").unlink(missing_ok=True)
        runs = [
            popen_in(app, app.root, "api", "--yes", "--tag", f"r{n}"),
            popen_in(
                app, other, "api", "--yes", "--tag", f"r{n}", ELB_UPGRADE_SNAPSHOT=other_snapshot
            ),
        ]
        try:
            loser = first_to_exit(runs)  # the winner blocks in its build until released
            [winner] = [r for r in runs if r is not loser]
            wait_mark(app, "build")
            release(app, "build")
            out = {r.pid: r.communicate(timeout=60) for r in runs}
        finally:
            for r in runs:
                if r.poll() is None:
                    r.kill()
        assert (winner.returncode, loser.returncode) == (0, 1), out
        stderr = out[loser.pid][1]
        assert f"(pid {winner.pid}, " in stderr and "another elb-upgrade run holds" in stderr
        assert len(app.get()["deploys"]) == n and len(app.get()["built"]) == n
    results = sorted(line["result"] for line in app.lines())
    assert results == ["lock_held"] * ROUNDS + ["success"] * ROUNDS
    assert not lock.is_held(lock.app_lock_path(app.name, app.env()))


def test_an_existing_tag_is_deployed_as_it_is_with_no_build(app: App) -> None:
    assert app.run("api", "--yes", "--tag", "t1").returncode == 0
    digest = app.get()["digests"]["demo-api:t1"]
    assert app.run("api", "--yes", "--tag", "t2").returncode == 0
    (app.root / "api" / "change.txt").write_text("3.0.0")
    app.commit("3.0.0")
    done = app.run("api", "--yes", "--tag", "t1")
    assert done.returncode == 0, done.stderr
    assert "using existing image demo-api:t1, built from " in done.stderr
    assert app.get()["built"] == ["demo-api:t1", "demo-api:t2"]
    assert app.get()["running"]["api"]["digest"] == digest
    assert app.get()["digests"]["demo-api:t1"] == digest


def test_a_tag_only_some_images_of_the_scope_have_is_refused(app: App) -> None:
    assert app.run("api", "--yes", "--tag", "t1").returncode == 0
    done = app.run("full", "--yes", "--tag", "t1")
    assert done.returncode == 1, done.stderr
    assert "tag t1 exists for api but not for frontend" in done.stderr
    assert "nothing was changed" in done.stderr
    assert app.lines()[-1]["result"] == "aborted"
    assert len(app.get()["deploys"]) == 1


def test_releases_json_lists_kept_releases_with_digests_and_keep_trims(app: App) -> None:
    config = app.root / "elb-upgrade.toml"
    config.write_text(config.read_text() + "\n[releases]\nkeep = 3\n")
    app.commit("keep 3")
    for n in range(1, 6):
        assert app.run("api", "--yes", "--tag", f"t{n}").returncode == 0
    done = app.run("releases", "--json")
    assert done.returncode == 0, done.stderr
    listing = json.loads(done.stdout)
    assert listing["keep"] == 3
    kept = listing["releases"]
    assert [r["tag"] for r in kept] == ["t5", "t4", "t3"]  # newest first
    assert [r["revision"] for r in kept] == ["demo--6", "demo--5", "demo--4"]
    api = next(c for c in kept[0]["containers"] if c["name"] == "api")
    assert api["digest"] == app.get()["digests"]["demo-api:t5"]
    assert api["spec"] == {"command": [], "env": {}}
    assert kept[0]["git_sha"] == app.git("rev-parse", "--short", "HEAD")
    table = app.run("releases")
    assert table.stdout.splitlines()[0].split() == [
        "REVISION",
        "TAG",
        "GIT",
        "DEPLOYED",
        "BY",
        "IMAGES",
    ]
    assert len(table.stdout.splitlines()) == 4


def test_rollback_to_a_kept_release_by_tag_or_revision(app: App) -> None:
    for n in (1, 2, 3):
        assert app.run("api", "--yes", "--tag", f"t{n}").returncode == 0
    done = app.run("rollback", "--yes", "--to", "t1")
    assert done.returncode == 0, done.stderr
    assert app.get()["images"]["api"] == "demo-api:t1"
    assert app.get()["running"]["api"]["digest"] == app.get()["digests"]["demo-api:t1"]
    done = app.run("rollback", "--yes", "--to", "demo--3")
    assert done.returncode == 0, done.stderr
    assert app.get()["images"]["api"] == "demo-api:t2"
    restored = json.loads(app.run("releases", "--json").stdout)["releases"][0]
    assert (restored["tag"], restored["restores"]) == ("t2", "demo--3")


def test_rollback_to_an_unknown_or_gone_release_is_refused_naming_what_is_kept(app: App) -> None:
    assert app.run("api", "--yes", "--tag", "t1").returncode == 0
    assert app.run("api", "--yes", "--tag", "t2").returncode == 0
    done = app.run("rollback", "--yes", "--to", "nope")
    assert done.returncode == 1, done.stderr
    assert "no kept release 'nope' of demo; nothing was changed" in done.stderr
    assert "kept: demo--3 (tag t2, git " in done.stderr
    app.set(pruned=["demo-api:t1"])
    done = app.run("rollback", "--yes", "--to", "t1")
    assert done.returncode == 1, done.stderr
    assert "the image of api, worker is gone; nothing was changed" in done.stderr
    assert [line["result"] for line in app.lines()][-2:] == ["aborted", "aborted"]
    assert app.get()["images"]["api"] == "demo-api:t2"


def test_rollback_twice_the_second_changes_nothing_and_says_so(app: App) -> None:
    assert app.run("api", "--yes", "--tag", "t2").returncode == 0
    assert app.run("rollback", "--yes").returncode == 0
    deploys = len(app.get()["deploys"])
    revision = app.get()["revision"]
    done = app.run("rollback", "--yes")
    assert done.returncode == 0, done.stderr
    assert "already runs demo--1; nothing changed" in done.stderr
    assert (len(app.get()["deploys"]), app.get()["revision"]) == (deploys, revision)
    assert app.lines()[-1]["result"] == "rollback_success"
    assert "nothing changed" in app.lines()[-1]["message"]


def test_rollback_to_needs_the_rollback_scope(app: App) -> None:
    done = app.run("api", "--yes", "--to", "t1")
    assert done.returncode == 2
    assert "--to 't1' only applies to `elb-upgrade rollback`" in done.stderr
