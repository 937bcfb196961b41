"""Options several commands share, written once: `--config` and `--state`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

CONFIG_HELP = "Config file (default: $ELB_UPGRADE_CONFIG or the nearest elb-upgrade.toml)."


def config_option(help: str = CONFIG_HELP) -> Callable[[F], F]:
    """`--config PATH`, passed as `config_arg`."""
    return click.option("--config", "config_arg", metavar="PATH", help=help)


def state_option(help: str) -> Callable[[F], F]:
    """`--state local|azure-blob`: override the config's `[state]` backend."""
    from elb_upgrade.state.base import AZURE_BLOB, LOCAL

    return click.option("--state", type=click.Choice([LOCAL, AZURE_BLOB]), default=None, help=help)
