"""Where runs keep their shared state: the lock, documents (the rollback snapshot,
release records) and the deploy history. See `elb_upgrade.state.base` for the interface;
`open_backend` picks the implementation from `[state]` and `--state`."""

from __future__ import annotations

from collections.abc import Mapping

from elb_upgrade.state.base import AZURE_BLOB, LOCAL, StateBackend, StateSettings


def open_backend(
    settings: StateSettings, environ: Mapping[str, str], override: str | None = None
) -> StateBackend:
    """The backend `[state]` names, or `override` (`--state local`, the escape hatch).

    Building the azure-blob backend talks to nobody: the first request is the lock's.
    """
    backend = override or settings.backend
    if backend == AZURE_BLOB:
        from elb_upgrade.state.azure_blob import open_backend as open_blob

        return open_blob(settings, environ)
    from elb_upgrade.state.local import LocalBackend

    assert backend == LOCAL, backend
    return LocalBackend(environ)
