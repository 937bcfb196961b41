"""Shell completion of scope names, read from the nearest elb-upgrade.toml (tomllib only)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from click.shell_completion import CompletionItem


def scope_names(cwd: Path | None = None) -> list[str]:
    """Scopes and aliases of the config that would be used here; [] when there is none."""
    cwd = cwd or Path.cwd()
    explicit = os.environ.get("ELB_UPGRADE_CONFIG")
    candidates = (
        [Path(explicit)] if explicit else [d / "elb-upgrade.toml" for d in (cwd, *cwd.parents)]
    )
    for path in candidates:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        scopes, aliases = raw.get("scopes", {}), raw.get("aliases", {})
        if isinstance(scopes, dict) and isinstance(aliases, dict):
            return [*scopes, *aliases, "rollback"]
    return ["rollback"]


def scope_items(incomplete: str) -> list[CompletionItem]:
    return [
        CompletionItem(name, help="scope") for name in scope_names() if name.startswith(incomplete)
    ]
