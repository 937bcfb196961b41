"""Optional extras: what only some users install, and the error when one is missing.

The core (click, rich, httpx, docker) is what a docker-only operator needs. The Azure SDK
is the `[azure]` extra; the readiness library's built-in Redis and Azure probes need the
`[health]` extra; its FastAPI router the `[fastapi]` extra. A missing extra is a one-line
error that names the install command, never an ImportError traceback.
"""

from __future__ import annotations

import importlib.util

from elb_upgrade.errors import UsageError

# extra → the top-level modules it provides (checked without importing them)
PROVIDES: dict[str, tuple[str, ...]] = {
    "azure": ("azure.identity", "azure.mgmt.appcontainers", "azure.containerregistry"),
    "health": ("redis", "azure.data.tables", "azure.identity"),
    "fastapi": ("fastapi",),
}


class MissingExtra(UsageError, ImportError):
    """An optional extra that this use needs is not installed."""

    def __init__(self, extra: str, needed_for: str) -> None:
        UsageError.__init__(
            self,
            f"{needed_for} needs the [{extra}] extra, which is not installed",
            hint=f"pip install 'elb-upgrade[{extra}]'",
        )
        self.extra = extra

    def __str__(self) -> str:  # one line, also when Python prints it as an ImportError
        return f"{self.message}: {self.hint}"


def missing(extra: str) -> list[str]:
    """The modules of `extra` that cannot be imported here."""
    return [name for name in PROVIDES[extra] if not _importable(name)]


def require(extra: str, needed_for: str) -> None:
    """Raise MissingExtra unless every module of `extra` can be imported."""
    if missing(extra):
        raise MissingExtra(extra, needed_for)


# module prefix → the extra that brings it, for naming the extra of a failed import
_BY_MODULE = {
    "redis": "health",
    "azure.data": "health",
    "azure.identity": "health",
    "azure.core": "health",
    "azure": "azure",
    "fastapi": "fastapi",
    "starlette": "fastapi",
    "uvicorn": "fastapi",
}


def extra_for(module: str) -> str | None:
    """The extra that provides `module` (the name a ModuleNotFoundError gives), if any."""
    for prefix in sorted(_BY_MODULE, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return _BY_MODULE[prefix]
    return None


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False
