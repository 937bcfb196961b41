"""`elb-upgrade report`: what it writes, and a clear one-line error for each bad input."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import pytest

from elb_upgrade.cli.main import main
from fakes.history import entry, generate


@pytest.fixture
def history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "history.jsonl"
    monkeypatch.setenv("ELB_UPGRADE_HISTORY", str(path))
    monkeypatch.chdir(tmp_path)
    return path


def ago(**delta: float) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_html_goes_to_the_default_file_and_the_path_is_printed(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    generate(history, dt.datetime.now(dt.UTC))
    assert main(["report"]) == 0
    out, err = capsys.readouterr()
    written = history.parent / "elb-upgrade-report.html"
    assert out == f"report written to {written} (60 runs of 3 apps since {ago(days=30)[:10]})\n"
    assert err == f"warning: skipped 5 corrupt or foreign line(s) in {history}\n"
    page = written.read_text()
    assert page.startswith("<!DOCTYPE html>") and "Content-Security-Policy" in page
    assert written.stat().st_mode & 0o777 == 0o600  # the history's messages, kept private


def test_markdown_goes_to_stdout(history: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [
        entry(ago(days=2), "api", "success", 60, commit_ts=ago(days=2, hours=1)),
        entry(ago(days=1), "api", "upgrade_failed", 60, message="a | b <i>x</i>"),
        entry(ago(days=40), "api", "success", 60, app="portal"),
    ]
    history.write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert main(["report", "--markdown", "--app", "billing"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("## Deploy report: billing\n")
    assert "| billing | change fail rate | 50.0% (1 of 2) | low | no deployments | – |" in out
    assert "| billing | change lead time | 1h 1m (median of 1) | elite | no data | – |" in out
    assert "a &#124; b &lt;i&gt;x&lt;/i&gt;" in out
    assert "portal" not in out


def test_a_missing_history_writes_an_empty_report_and_says_why(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--markdown"]) == 0
    captured = capsys.readouterr()
    assert f"note: {history} does not exist yet" in captured.err
    assert "0 runs in the period" in captured.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "soon"], "error: --since 'soon' is neither an age nor a date"),
        (["--since", "2999-01-01"], "error: --since '2999-01-01' is not in the past"),
        (["--rework-window", "2026-01-01"], "error: --rework-window '2026-01-01' is not an age"),
    ],
)
def test_bad_values_are_usage_errors(
    history: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["report", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1 and " → " in err
    assert not (history.parent / "elb-upgrade-report.html").exists()


def test_an_output_that_is_a_directory_is_refused(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "-o", str(history.parent)]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"error: cannot write the report to {history.parent}: it is a directory; nothing was "
        f"written → name a file, e.g. -o {history.parent / 'elb-upgrade-report.html'}\n"
    )


def test_an_output_in_a_missing_folder_is_refused(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = history.parent / "no" / "such" / "r.html"
    assert main(["report", "-o", str(target)]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"error: cannot write the report to {target}: No such directory {target.parent}; "
        f"nothing was written → create it (mkdir -p {target.parent}) or pick another -o PATH\n"
    )
    assert not target.parent.exists()


def test_a_failed_write_is_an_error_and_leaves_nothing(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = history.parent / ("r" * 250 + ".html")  # its temporary name is too long
    assert main(["report", "-o", str(target)]) == 1
    err = capsys.readouterr().err.splitlines()[-1] + "\n"  # after the note on the missing file
    assert err.startswith(f"error: cannot write the report to {target}: File name too long")
    assert err.endswith("; nothing was written → pick a writable place with -o PATH\n")
    assert list(history.parent.iterdir()) == []


def test_without_plotly_html_says_how_to_install_it(
    history: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "plotly.io", None)  # `import plotly.io` raises
    assert main(["report"]) == 1
    err = capsys.readouterr().err
    assert "the HTML report needs plotly, which is not installed; no report was written" in err
    assert "pip install 'elb-upgrade[report]'" in err
    assert not (history.parent / "elb-upgrade-report.html").exists()
    assert main(["report", "--markdown"]) == 0  # Markdown needs no extra
