"""The fast entry paths answer exactly what click would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from elb_upgrade import config
from elb_upgrade.cli import fast
from elb_upgrade.cli.helptext import HELP

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "elb-upgrade.example.toml"


def _click(*args: str, **env: str) -> str:
    code = "import sys; from elb_upgrade.cli.main import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=EXAMPLE.parent,
    )
    return done.stdout


def test_stored_help_is_what_click_renders() -> None:
    assert _click("--help") == HELP, "regenerate: python -m elb_upgrade.cli.helptext"


def test_fast_help_is_served_by_the_console_script() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from elb_upgrade.cli.fast import main;"
            " sys.argv=['elb-upgrade','--help']; sys.exit(main())",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and done.stdout == HELP


def test_line_scan_finds_the_same_scopes_as_the_toml_parser(tmp_path: Path) -> None:
    (tmp_path / "elb-upgrade.toml").write_text(EXAMPLE.read_text())
    deeper = tmp_path / "api"
    deeper.mkdir()
    cfg = config.load(EXAMPLE, {})
    assert fast.scope_names(str(deeper)) == cfg.scope_names()


def test_first_word_completion_matches_click(tmp_path: Path) -> None:
    (tmp_path / "elb-upgrade.toml").write_text(EXAMPLE.read_text())
    env = {
        "_ELB_UPGRADE_COMPLETE": "bash_complete",
        "COMP_WORDS": "elb-upgrade ",
        "COMP_CWORD": "1",
        "ELB_UPGRADE_CONFIG": str(tmp_path / "elb-upgrade.toml"),
    }
    slow = subprocess.run(
        [sys.executable, "-c", "from elb_upgrade.cli.main import main; main()"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    quick = subprocess.run(
        [sys.executable, "-c", "from elb_upgrade.cli.fast import main; main()"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    assert set(quick.stdout.splitlines()) == set(slow.stdout.splitlines())
    assert "plain,full" in quick.stdout and "plain,history" in quick.stdout
