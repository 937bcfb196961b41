"""The console-script entry point, with two fast paths that import nothing but `os`/`sys`.

Shell completion runs the program on every TAB and `elb-upgrade --help` is the first
thing a new operator types; importing click alone costs about 3x a bare interpreter
start. So the top-level help is served from `helptext.HELP` (a test pins it to what
click renders) and completing the first word (scopes, aliases, commands) answers in
click's own `bash_complete`/`zsh_complete` protocol from a line scan of the config.
Everything else goes to click (`elb_upgrade.cli.main`).
"""

from __future__ import annotations

import os
import sys

COMPLETE_VAR = "_ELB_UPGRADE_COMPLETE"
COMMANDS = ("history", "lock", "releases", "report", "status", "upgrade")


def main() -> int:
    argv = sys.argv[1:]
    if argv in (["--help"], ["-h"]) and _wide_enough():
        from elb_upgrade.cli.helptext import HELP

        sys.stdout.write(HELP)
        return 0
    mode = os.environ.get(COMPLETE_VAR, "")
    if mode in ("bash_complete", "zsh_complete") and _first_word_only():
        _complete_first_word(mode)
        return 0
    from elb_upgrade.cli.main import main as click_main

    return click_main()


def _wide_enough() -> bool:
    # click wraps help at min(terminal width, 80); the stored text is the 80-column one.
    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns >= 80
    except (OSError, ValueError):
        return True


def _first_word_only() -> bool:
    words = os.environ.get("COMP_WORDS", "").split()
    return os.environ.get("COMP_CWORD") == "1" and len(words) <= 2


def _complete_first_word(mode: str) -> None:
    words = os.environ.get("COMP_WORDS", "").split()
    incomplete = words[1] if len(words) > 1 else ""
    if incomplete.startswith("-"):
        candidates = ["--help", "--version", "-h"]
    else:
        candidates = [*scope_names(os.getcwd()), *COMMANDS]
    for name in candidates:
        if name.startswith(incomplete):
            # click's protocol: bash wants "type,value"; zsh "type\nvalue\nhelp".
            sys.stdout.write(
                f"plain,{name}\n" if mode == "bash_complete" else f"plain\n{name}\n_\n"
            )


def scope_names(cwd: str) -> list[str]:
    """Scope and alias names from the nearest config, by a line scan (no TOML import)."""
    path = os.environ.get("ELB_UPGRADE_CONFIG") or _find(cwd)
    names: list[str] = []
    section = ""
    try:
        with open(path, encoding="utf-8") as handle:
            for raw in handle:
                line = raw.strip()
                if line.startswith("["):
                    section = line.strip("[] ")
                elif section in ("scopes", "aliases") and "=" in line and not line.startswith("#"):
                    names.append(line.split("=", 1)[0].strip().strip("\"'"))
    except OSError:
        pass
    return [*names, "rollback"]


def _find(cwd: str) -> str:
    folder = cwd
    while True:
        candidate = os.path.join(folder, "elb-upgrade.toml")
        if os.path.isfile(candidate):
            return candidate
        parent = os.path.dirname(folder)
        if parent == folder:
            return ""
        folder = parent
