"""Where runs keep their shared state: the lock, documents (the rollback snapshot,
release records) and the deploy history. See `elb_upgrade.state.base` for the interface;
`open_backend` picks the implementation from `[state]` and `--state`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from elb_upgrade.state.base import AZURE_BLOB, LOCAL, StateBackend, StateSettings


def open_backend(
    settings: StateSettings, environ: Mapping[str, str], override: str | None = None
) -> StateBackend:
    """The backend `[state]` names, or `override` (`--state local`, the escape hatch).

    Building the azure-blob backend talks to nobody: the first request is the lock's.
    """
    backend = override or settings.backend
    if backend == AZURE_BLOB:
        from elb_upgrade.extras import require

        require("azure", "the azure-blob state backend")
        from elb_upgrade.state.azure_blob import open_backend as open_blob

        return open_blob(settings, environ)
    from elb_upgrade.state.local import LocalBackend

    assert backend == LOCAL, backend
    return LocalBackend(environ)


def for_command(
    config_arg: str | None, override: str | None, environ: Mapping[str, str], cwd: Path
) -> StateBackend:
    """The backend of a command other than an upgrade (`history`, `lock`): the `[state]`
    of the config found by the usual precedence; `local` when there is no config, as
    before team mode (those commands never needed one)."""
    from elb_upgrade import config
    from elb_upgrade.errors import ConfigError

    try:
        path: Path | None = config.find(config_arg, cwd, environ)
    except ConfigError:
        if config_arg or environ.get("ELB_UPGRADE_CONFIG"):
            raise
        path = None
    settings = config.load_state_settings(path, environ) if path else StateSettings()
    return open_backend(settings, environ, override)
