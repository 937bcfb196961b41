"""Exact releases against the real engine: the example app through the CLI.

A reused tag deploys the image it names with no build; a tag moved outside the tool
changes nothing `rollback --to` serves; a config change that crashes a container rolls
back to the previous command; two checkouts never deploy at once; `releases --json` lists
what is kept. (That a second rollback changes nothing is asserted under load, in
test_docker_bluegreen.py.)
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import Any

from appclone import Clone
from dockerkit import serving_container

from fakes.cli import command
from fakes.wait import wait_until
from fakes.zygote import Forked

FAST_GATE = ("--health-interval", "0.5")
BAD_WORKER = ('command = ["python3", "worker.py"]', 'command = ["python3", "no-such-worker.py"]')


def image_id(engine: Any, ref: str) -> str:
    return str(engine.images.get(ref).id)


def test_a_reused_tag_deploys_unbuilt_a_moved_tag_changes_no_rollback_a_crash_rolls_back(
    deployed: Clone, engine: Any
) -> None:
    """An existing tag redeploys its image with no build; then a tag moved outside the tool
    does not change what `rollback --to` serves; then a config change that crashes the
    worker is rolled back to the old command."""
    first_tag = deployed.history()[0]["tag"]
    first_id = image_id(engine, f"{deployed.name}-api:{first_tag}")
    deployed.set_version("2.0.0")
    assert deployed.run("api", "--yes", "--tag", "two", *FAST_GATE).returncode == 0
    assert deployed.ready()[1]["version"] == "2.0.0"
    deployed.set_version("3.0.0")

    done = deployed.run("api", "--yes", "--tag", first_tag, *FAST_GATE)

    assert done.returncode == 0, done.stdout
    assert f"using existing image {deployed.name}-api:{first_tag}, built from " in done.stdout
    assert not re.search(r"==>\s+build", done.stdout), done.stdout
    assert deployed.ready()[1]["version"] == "1.0.0"
    assert image_id(engine, f"{deployed.name}-api:{first_tag}") == first_id
    assert serving_container(engine, deployed.name, "api").attrs["Image"] == first_id

    assert deployed.run("api", "--yes", "--tag", "two", *FAST_GATE).returncode == 0
    assert deployed.ready()[1]["version"] == "2.0.0"
    engine.images.get(f"{deployed.name}-api:two").tag(f"{deployed.name}-api", first_tag)

    done = deployed.run("rollback", "--yes", "--to", f"{deployed.name}--1", *FAST_GATE)

    assert done.returncode == 0, done.stdout
    code, body = deployed.ready()
    assert (code, body["version"]) == (200, "1.0.0")
    # The tag now names 2.0.0's image: what ran was pinned by the recorded image ID.
    assert serving_container(engine, deployed.name, "api").attrs["Image"] == first_id
    assert image_id(engine, f"{deployed.name}-api:{first_tag}") != first_id

    del deployed.env["ELB_MONITOR_SECONDS"]  # the default watch, which catches the crash
    config = deployed.root / "elb-upgrade.toml"
    config.write_text(config.read_text().replace(*BAD_WORKER))
    deployed.commit("worker runs a file that does not exist")

    done = deployed.run("worker", "--yes", "--health-timeout", "60", *FAST_GATE)

    assert done.returncode == 1, done.stdout
    assert deployed.results()[-1] == "upgrade_failed_rolled_back"
    worker = serving_container(engine, deployed.name, "worker")
    assert worker.attrs["Config"]["Cmd"] == ["python3", "worker.py"]
    assert worker.status == "running"
    assert deployed.ready()[0] == 200


def test_releases_json_keeps_three_then_two_checkouts_with_different_snapshots_exclude_each_other(
    deployed: Clone, engine: Any, tmp_path: Any
) -> None:
    """Both checkouts start together without --yes; the winner holds its locks at the
    prompt."""
    config = deployed.root / "elb-upgrade.toml"
    config.write_text(config.read_text() + "\n[releases]\nkeep = 3\n")
    deployed.commit("keep three releases")
    for version in ("2.0.0", "3.0.0", "4.0.0"):
        deployed.set_version(version)
        assert deployed.run("api", "--yes", "--tag", version, *FAST_GATE).returncode == 0
    done = deployed.run("releases", "--json")
    assert done.returncode == 0, done.stdout
    kept = json.loads(done.stdout)["releases"]
    assert [r["tag"] for r in kept] == ["4.0.0", "3.0.0", "2.0.0"]
    api = next(c for c in kept[0]["containers"] if c["name"] == "api")
    assert api["digest"] == image_id(engine, f"{deployed.name}-api:4.0.0")
    assert api["spec"]["env"]["QUEUE"] == f"{deployed.name}:jobs"
    assert api["spec"]["restart_policy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    labels = engine.images.get(f"{deployed.name}-api:4.0.0").labels
    assert labels["elb-upgrade.git-sha"] == kept[0]["git_sha"]

    deployed.set_version("5.0.0")
    other_root = tmp_path / "other"
    shutil.copytree(deployed.root, other_root)
    other_env = {**deployed.env, "ELB_UPGRADE_SNAPSHOT": str(tmp_path / "other-snapshot.json")}
    runs = [
        Forked(
            command("api", *FAST_GATE),
            cwd=root,
            env=env,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for root, env in ((deployed.root, deployed.env), (other_root, other_env))
    ]
    try:
        wait_until(lambda: any(r.poll() is not None for r in runs), 120, "one run ended")
        [loser] = [r for r in runs if r.poll() is not None]
        [winner] = [r for r in runs if r is not loser]
        out, _ = winner.communicate("y\n", timeout=300)
        lost = loser.communicate(timeout=60)[0]
    finally:
        for r in runs:
            if r.poll() is None:
                r.kill()
    assert loser.returncode == 1 and "another elb-upgrade run holds" in lost, lost
    assert f"(pid {winner.pid}, " in lost
    assert winner.returncode == 0, out
    assert sorted(deployed.results()[4:]) == ["lock_held", "success"]
    assert deployed.ready()[1]["version"] == "5.0.0"
