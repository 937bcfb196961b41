"""Exactly one history line per run whatever the exit path; none for help, usage or dry-run."""

from __future__ import annotations

import json
import signal
import time

import pytest

from fakes.app import App
from fakes.wait import wait_until
from reliability.relkit import wait_mark


@pytest.mark.parametrize("args", [["--help"], ["api", "--help"], ["-h"], ["--version"]])
def test_help_and_version_write_no_history(app: App, args: list[str]) -> None:
    done = app.run(*args)
    assert done.returncode == 0
    assert not app.history.exists()


@pytest.mark.parametrize(
    "args",
    [
        ["api", "--health-timeout", "abc"],
        ["api", "--health-timeout", "-5"],
        ["api", "--health-timeout", "0"],
        ["api", "--bogus"],
        ["api", "--lock-wait", "x"],
        [],
    ],
)
def test_usage_errors_exit_2_before_anything_happens(app: App, args: list[str]) -> None:
    done = app.run(*args)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert not app.history.exists()
    assert app.get()["revision"] == "demo--1" and not app.snapshot.exists()


def test_dry_run_prints_plan_takes_lock_and_changes_nothing(app: App) -> None:
    done = app.run("full", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "plan: full" in done.stderr and "frontend: demo-frontend:v1 →" in done.stderr
    assert "dry run" in done.stderr
    assert app.get()["built"] == [] and app.get()["revision"] == "demo--1"
    assert not app.history.exists() and not app.snapshot.exists()
    assert app.lock.exists()  # it took the lock


def test_dry_run_refused_while_another_run_holds_the_lock(app: App) -> None:
    holder = app.popen("api")
    try:
        _wait_for_holder(app)
        done = app.run("api", "--dry-run")
        assert done.returncode == 1
        assert "another elb-upgrade run holds" in done.stderr
    finally:
        holder.communicate("n\n", timeout=30)
    assert [line["result"] for line in app.lines()] == ["aborted_by_user"]


def test_dry_run_holds_the_lock_while_it_runs(app: App) -> None:
    app.set(sleep_current=3)
    first = app.popen("api", "--dry-run")
    try:
        _wait_for_holder(app)
        second = app.run("api", "--dry-run")
        assert second.returncode == 1 and "holds" in second.stderr
    finally:
        first.communicate(timeout=30)
    assert first.returncode == 0


def test_config_error_names_the_variable_and_the_fix(app: App) -> None:
    config = app.root / "elb-upgrade.toml"
    config.write_text(
        config.read_text().replace('repository = "demo-api"', 'repository = "${API_REPO}"')
    )
    app.commit("use a variable")
    done = app.run("api", "--yes")
    assert done.returncode == 2
    assert "needs ${API_REPO}, which is not set" in done.stderr
    assert "export API_REPO=" in done.stderr
    assert "Traceback" not in done.stderr
    assert not app.history.exists()  # a config error (exit 2) writes no history line
    (app.root / ".env").write_text("API_REPO=from-dotenv\n")
    assert app.run("api", "--yes", "--allow-dirty").returncode == 0
    assert app.get()["images"]["api"].startswith("from-dotenv:")


def test_unknown_platform_lists_valid_ones(app: App) -> None:
    config = app.root / "elb-upgrade.toml"
    config.write_text(config.read_text().replace("fakes.platform:FakePlatform", "kubernetes"))
    done = app.run("api", "--yes", "--allow-dirty")
    assert done.returncode == 2
    assert "unknown platform 'kubernetes'" in done.stderr and "azure, docker" in done.stderr


def test_json_summary_has_a_pinned_key_set(app: App) -> None:
    done = app.run("api", "--yes", "--json")
    assert done.returncode == 0
    summary = json.loads(done.stdout)
    assert set(summary) == {
        "version",
        "result",
        "exit_code",
        "scope",
        "app",
        "tag",
        "head_sha",
        "revision",
        "previous_revision",
        "deployed",
        "elapsed_seconds",
        "message",
        "components_down",
    }
    assert summary["result"] == "success" and summary["revision"] == "demo--2"
    assert summary["previous_revision"] == "demo--1"
    assert set(summary["deployed"]) == {"api", "worker"}


def test_json_summary_lists_parse_down(app: App) -> None:
    app.set(broken_tags=["bad"])
    done = app.run("api", "--yes", "--json", "--tag", "bad", "--health-timeout", "1")
    summary = json.loads(done.stdout)
    assert summary["result"] == "upgrade_failed_rolled_back"
    assert summary["components_down"] == [
        {"name": "azure_storage", "status": "down", "error_class": "HttpResponseError"}
    ]


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_during_gate_records_aborted_and_frees_lock(app: App, sig: int, code: int) -> None:
    """The signal lands at a point the run marks (the gate's status read, long after the
    handlers are installed), never at a time a sleep guessed: the verdict is load-free."""
    app.set(broken_tags=["bad"], pause={"status": 60})
    run = app.popen("api", "--yes", "--tag", "bad", "--health-timeout", "60")
    wait_mark(app, "status")
    run.send_signal(sig)
    _, err = run.communicate(timeout=30)
    assert run.returncode == code, err
    app.set(pause={})
    [line] = app.lines()
    assert line["result"] == "aborted" and line["exit_code"] == code
    assert "during gate" in line["message"]
    assert app.run("api", "--yes", "--tag", "good").returncode == 0  # the lock is free


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_during_build_is_build_in_progress(app: App, sig: int, code: int) -> None:
    app.set(pause={"build": 60})
    run = app.popen("api", "--yes")
    wait_mark(app, "build")
    run.send_signal(sig)
    _, err = run.communicate(timeout=30)
    assert run.returncode == code, err
    [line] = app.lines()
    assert line["result"] == "build_in_progress" and line["exit_code"] == code


def test_kill_9_of_the_holder_frees_the_lock(app: App) -> None:
    holder = app.popen("api")
    _wait_for_holder(app)
    holder.kill()
    holder.wait(timeout=60)
    done = app.run("api", "--yes")
    assert done.returncode == 0, done.stderr


def test_lock_wait_waits_for_the_holder(app: App) -> None:
    holder = app.popen("api")
    _wait_for_holder(app)
    waiter = app.popen("api", "--yes", "--lock-wait", "30")
    time.sleep(1.0)
    assert waiter.poll() is None  # still waiting
    holder.communicate("n\n", timeout=30)
    waiter.communicate(timeout=30)
    assert waiter.returncode == 0


def _wait_for_holder(app: App) -> None:
    wait_until(
        lambda: app.lock.exists() and app.lock.read_text().strip(),
        what="the first run took the lock",
    )


MISSPELT = {
    "evn": (("", '\n[containers.api.evn]\nDEBUG = "1"\n'), "`evn` in [containers.api]", "env"),
    "main_contaner": (
        ('main_container = "api"', 'main_contaner = "api"'),
        "`main_contaner` in [app]",
        "main_container",
    ),
    "comand": (
        ('[containers.api]\nimage = "api"\n', '[containers.api]\nimage = "api"\ncomand = ["x"]\n'),
        "`comand` in [containers.api]",
        "command",
    ),
    "build_arg": (
        ('context = "api"\n', 'context = "api"\nbuild_arg = { A = "1" }\n'),
        "`build_arg` in [images.api]",
        "build_args",
    ),
    "platfrom": (
        ('platform = "fakes.platform', 'platfrom = "fakes.platform'),
        "`platfrom` in [app]",
        "platform",
    ),
}


@pytest.mark.parametrize("key", list(MISSPELT))
def test_a_misspelt_config_key_is_a_config_error_naming_the_closest_key(app: App, key: str) -> None:
    (old, new), where, meant = MISSPELT[key]
    config = app.root / "elb-upgrade.toml"
    text = config.read_text()
    config.write_text(text.replace(old, new) if old else text + new)
    assert config.read_text() != text
    done = app.run("api", "--dry-run", "--allow-dirty")
    assert done.returncode == 2, done.stderr
    assert f"unknown key {where}; did you mean `{meant}`?" in done.stderr
    assert "Traceback" not in done.stderr
    assert not app.history.exists()  # a config error writes no history line
    assert app.get()["built"] == [] and not app.lock.exists()


def test_config_and_usage_errors_write_no_history_line(app: App) -> None:
    """`history --stats` must not grow an unnamed app from runs that never started."""
    config = app.root / "elb-upgrade.toml"
    good = config.read_text()
    config.write_text(good.replace("[scopes]", "[scopes\n"))  # not TOML
    assert app.run("api", "--yes").returncode == 2
    config.write_text(good.replace("fakes.platform:FakePlatform", "kubernetes"))
    assert app.run("api", "--yes", "--allow-dirty").returncode == 2  # unknown platform
    config.write_text(good)
    assert app.run("api", "--yes", "--tag", "..bad").returncode == 2
    assert not app.history.exists()
    stats = app.run("history", "--stats")
    assert stats.returncode == 0 and '""' not in stats.stdout


@pytest.mark.usefixtures("restored_signals")
def test_a_line_written_before_the_config_is_read_names_the_app_unknown(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl+C while the config is being read: one line, app `unknown`, never empty."""
    import io

    from elb_upgrade import config as config_mod
    from elb_upgrade import run
    from elb_upgrade.ui import PlainReporter

    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(config_mod, "load", interrupted)
    options = run.Options(scope="api", yes=True)
    finished = run.upgrade(options, app.env(), app.root, PlainReporter(io.StringIO(), None))
    assert finished.exit_code == 130
    [line] = app.lines()
    assert line["app"] == "unknown" and line["result"] == "aborted"
