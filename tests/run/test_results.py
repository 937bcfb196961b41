"""Every result value of docs/architecture.md, each from a real CLI run on the fake platform."""

from __future__ import annotations

from elb_upgrade.history.record import KEYS
from fakes.app import App, make_app
from fakes.wait import wait_until


def test_success_deploys_new_images_and_records_one_line(app: App) -> None:
    done = app.run("api", "--yes")
    assert done.returncode == 0, done.stderr
    state = app.get()
    assert state["revision"] == "demo--2"
    assert state["images"]["api"].startswith("demo-api:")
    assert state["images"]["frontend"] == "demo-frontend:v1"  # not in the scope
    [line] = app.lines()
    assert list(line)[: len(KEYS)] == list(KEYS)
    assert line["result"] == "success" and line["exit_code"] == 0
    assert line["tag"] == state["images"]["api"].split(":")[1]
    assert line["tag"].endswith("-" + line["head_sha"])


def test_alias_resolves_to_its_scope(app: App) -> None:
    assert app.run("worker", "--yes").returncode == 0
    assert app.lines()[0]["scope"] == "api"


def test_parity_rejected(app: App) -> None:
    app.set(parity_rejected=True)
    done = app.run("api", "--yes")
    assert done.returncode == 1
    assert "public access disabled" in done.stderr
    assert app.lines()[0]["result"] == "parity_rejected"
    assert app.get()["revision"] == "demo--1"


def test_skip_parity_check_warns_and_deploys(app: App) -> None:
    app.set(parity_rejected=True)
    done = app.run("api", "--yes", "--skip-parity-check")
    assert done.returncode == 0
    assert "parity check skipped" in done.stderr


def test_preflight_failed_when_platform_unreachable(app: App) -> None:
    app.set(unavailable=True)
    done = app.run("api", "--yes")
    assert done.returncode == 1
    assert "fake engine is not running" in done.stderr
    assert app.lines()[0]["result"] == "preflight_failed"


def test_build_failure_is_build_in_progress_and_changes_nothing(app: App) -> None:
    app.set(fail_build=True)
    done = app.run("api", "--yes")
    assert done.returncode == 1
    assert app.lines()[0]["result"] == "build_in_progress"
    assert app.get()["revision"] == "demo--1"


def test_gate_failure_rolls_back(app: App) -> None:
    app.set(broken_tags=["bad"])
    done = app.run("api", "--yes", "--tag", "bad", "--health-timeout", "1.5")
    assert done.returncode == 1
    assert "azure_storage: down (HttpResponseError)" in done.stderr
    assert "RBAC" in done.stderr  # the first-line hint for that error_class
    state = app.get()
    assert state["images"]["api"] == "demo-api:v1"
    line = app.lines()[0]
    assert line["result"] == "upgrade_failed_rolled_back"
    assert line["tag"] == "bad"


def test_rollback_that_is_also_unhealthy_is_rollback_failed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = make_app(tmp_path, running={"api": "demo-api:old", "frontend": "demo-frontend:old"})
    try:
        app.set(broken_tags=["old", "bad"])
        done = app.run(
            "api", "--yes", "--tag", "bad", "--health-timeout", "1", "--rollback-timeout", "1"
        )
        assert done.returncode == 3
        assert app.lines()[0]["result"] == "rollback_failed"
        assert "rollback also failed" in app.lines()[0]["message"]
    finally:
        app.server.close()


def test_no_auto_rollback_keeps_new_revision_and_prints_command(app: App) -> None:
    app.set(broken_tags=["bad"])
    done = app.run("api", "--yes", "--tag", "bad", "--health-timeout", "1", "--no-auto-rollback")
    assert done.returncode == 1
    assert "elb-upgrade rollback --yes" in done.stderr
    assert app.get()["images"]["api"] == "demo-api:bad"
    assert app.lines()[0]["result"] == "upgrade_failed"


def test_explicit_rollback_restores_snapshot(app: App) -> None:
    assert app.run("api", "--yes", "--tag", "v2").returncode == 0
    done = app.run("rollback", "--yes")
    assert done.returncode == 0, done.stderr
    assert app.get()["images"]["api"] == "demo-api:v1"
    line = app.lines()[-1]
    assert line["result"] == "rollback_success" and line["scope"] == "rollback"
    assert line["tag"] == "v1"


def test_rollback_without_snapshot_is_refused_as_aborted(app: App) -> None:
    """Nothing was changed: exit 1 and `aborted`, not `rollback_failed` (exit 3)."""
    done = app.run("rollback", "--yes")
    assert done.returncode == 1, done.stderr
    assert "no snapshot at" in done.stderr and "nothing was changed" in done.stderr
    [line] = app.lines()
    assert (line["result"], line["exit_code"]) == ("aborted", 1)
    assert "nothing was changed" in line["message"]


def test_rollback_refused_when_snapshot_image_was_pruned(app: App) -> None:
    assert app.run("api", "--yes", "--tag", "v2").returncode == 0
    app.set(pruned=["demo-api:v1"])
    done = app.run("rollback", input="y\n")
    assert done.returncode == 1, done.stderr
    assert "no longer exist: demo-api:v1; nothing was changed" in done.stderr
    assert "Roll back to these images?" not in done.stderr  # refused before asking
    assert app.get()["images"]["api"] == "demo-api:v2"  # nothing was touched
    assert app.get()["deploys"][-1]["api"] == "demo-api:v2"
    line = app.lines()[-1]
    assert (line["result"], line["exit_code"]) == ("aborted", 1)


def test_declined_prompt_is_aborted_by_user(app: App) -> None:
    done = app.run("api", input="n\n")
    assert done.returncode == 1
    assert "Proceed? [y/N]" in done.stderr
    assert app.lines()[0]["result"] == "aborted_by_user"
    assert app.get()["revision"] == "demo--1"


def test_end_of_input_at_prompt_is_a_decline(app: App) -> None:
    done = app.run("api", input="")
    assert app.lines()[0]["result"] == "aborted_by_user"
    assert done.returncode == 1


def test_yes_at_prompt_proceeds(app: App) -> None:
    assert app.run("api", input="y\n").returncode == 0
    assert app.lines()[0]["result"] == "success"


def test_bad_scope_is_aborted_with_scope_unknown(app: App) -> None:
    done = app.run("xxxxxxx")
    assert done.returncode == 1
    assert "unknown scope 'xxxxxxx'" in done.stderr and "api, frontend, full" in done.stderr
    assert "Traceback" not in done.stderr
    [line] = app.lines()
    assert (line["result"], line["scope"], line["exit_code"]) == ("aborted", "unknown", 1)


def test_lock_held_result(app: App) -> None:
    holder = app.popen("api")  # waits at the prompt, holding the lock
    try:
        wait_until(
            lambda: app.lock.exists() and app.lock.read_text().strip() != "",
            what="the first run took the lock",
        )
        done = app.run("api", "--yes")
        assert done.returncode == 1
        assert f"another elb-upgrade run holds {app.lock}" in done.stderr
        assert f"pid {holder.pid}" in done.stderr and "scope api" in done.stderr
        assert app.lines()[0]["result"] == "lock_held"
    finally:
        holder.communicate("n\n", timeout=30)
    assert [line["result"] for line in app.lines()] == ["lock_held", "aborted_by_user"]


def test_conflict_on_deploy_changes_nothing_and_does_not_roll_back(app: App) -> None:
    app.set(conflict_once=True)
    done = app.run("api", "--yes")
    assert done.returncode == 1
    assert "the app changed since the snapshot" in done.stderr
    assert "auto-rollback" not in done.stderr
    state = app.get()
    assert state["images"]["api"] == "demo-api:v1" and state["deploy_calls"] == 1
    assert app.lines()[0]["result"] == "build_in_progress"


def _last_line(stderr: str) -> str:
    return stderr.rstrip("\n").splitlines()[-1]


def test_auto_rollback_ends_with_a_closing_line(app: App) -> None:
    app.set(crash_tags=["bad"])
    done = app.run("full", "--yes", "--tag", "bad")
    assert done.returncode == 1, done.stderr
    assert "rolled back: demo--1 (as demo--3) is serving again" in _last_line(done.stderr)
    assert app.lines()[0]["result"] == "upgrade_failed_rolled_back"


def test_failed_auto_rollback_ends_saying_a_human_must_look_and_what_to_run(app: App) -> None:
    app.set(crash_tags=["bad"], fail_deploys={"2": "worker"})
    done = app.run("full", "--yes", "--tag", "bad")
    assert done.returncode == 3, done.stderr
    last = _last_line(done.stderr)
    assert "rollback failed" in last and "a human must look now" in last
    assert "`elb-upgrade status`" in last
    assert app.lines()[0]["result"] == "rollback_failed"


def test_failed_explicit_rollback_ends_saying_a_human_must_look(app: App) -> None:
    assert app.run("api", "--yes", "--tag", "v2").returncode == 0
    app.set(crash_tags=["v1"])
    done = app.run("rollback", "--yes", "--health-timeout", "1")
    assert done.returncode == 3, done.stderr
    assert "a human must look now" in _last_line(done.stderr)
