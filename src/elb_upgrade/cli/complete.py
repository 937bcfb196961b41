"""Shell completion of scope names for click's completion (one reader: `fast.scope_names`)."""

from __future__ import annotations

import os

from click.shell_completion import CompletionItem

from elb_upgrade.cli.fast import scope_names


def scope_items(incomplete: str) -> list[CompletionItem]:
    return [
        CompletionItem(name, help="scope")
        for name in scope_names(os.getcwd())
        if name.startswith(incomplete)
    ]
