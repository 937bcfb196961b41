"""Every upgrade run appends a short summary to $GITHUB_STEP_SUMMARY (GitHub Actions), and
records its commit's time (`commit_ts`) and who ran it in the history line."""

from __future__ import annotations

from pathlib import Path

from elb_upgrade.clock import iso_z, moment
from fakes.app import App


def test_a_successful_run_appends_its_summary(app: App, tmp_path: Path) -> None:
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n")
    done = app.run("api", "--yes", GITHUB_STEP_SUMMARY=str(summary))
    assert done.returncode == 0, done.stderr
    text = summary.read_text()
    assert text.startswith("earlier step\n### ✅ elb-upgrade api of demo\n")
    [line] = app.lines()
    for row in (
        "| result | success (exit 0) |",
        "| revision | demo--2 (was demo--1) |",
        f"| tag | {line['tag']} |",
        f"| commit | {line['head_sha']} |",
        f"| started | {line['ts']} |",
    ):
        assert row in text
    assert app.run("api", "--yes", GITHUB_STEP_SUMMARY=str(summary)).returncode == 0
    assert summary.read_text().count("### ✅") == 2  # appended, never overwritten


def test_a_failed_gate_lists_the_components_and_their_hints(app: App, tmp_path: Path) -> None:
    summary = tmp_path / "step-summary.md"
    app.set(broken_tags=["bad"])
    done = app.run(
        "api", "--yes", "--tag", "bad", "--health-timeout", "1.5", GITHUB_STEP_SUMMARY=str(summary)
    )
    assert done.returncode == 1
    text = summary.read_text()
    assert text.startswith("### ❌ elb-upgrade api of demo\n")
    assert "| result | upgrade_failed_rolled_back (exit 1) |" in text
    assert "| tag | bad |" in text
    component = next(x for x in text.splitlines() if x.startswith("| azure_storage |"))
    assert "| down | HttpResponseError |" in component and "RBAC" in component


def test_an_unwritable_summary_is_a_warning_and_changes_nothing(app: App, tmp_path: Path) -> None:
    done = app.run("api", "--yes", GITHUB_STEP_SUMMARY=str(tmp_path))  # a directory
    assert done.returncode == 0
    assert f"job summary not written to $GITHUB_STEP_SUMMARY ({tmp_path})" in done.stderr
    assert "the run's result is unchanged" in done.stderr
    assert app.lines()[0]["result"] == "success"


def test_the_history_line_records_the_commit_time_and_who(app: App) -> None:
    assert app.run("api", "--yes").returncode == 0
    [line] = app.lines()
    committed = moment(app.git("show", "-s", "--format=%cI", "HEAD"))
    assert committed is not None and line["commit_ts"] == iso_z(committed)
    assert "@" in line["who"]
