"""Liveness and deep readiness for an app: cached, single-flight, time-boxed probes.

    from elb_upgrade.health import Readiness, health_router, redis_probe, azure_storage_probe

    readiness = Readiness(version=__version__, probes=[
        redis_probe(),                                  # $REDIS_URL
        azure_storage_probe(),                          # $AZURE_TABLE_ENDPOINT
        http_probe("terminal", env="TERMINAL_HEALTH_URL"),
    ])
    app.include_router(health_router(readiness))        # /api/health, /api/health/ready

Importing this package is cheap: the probe factories and the FastAPI router are loaded on
first use, so `hint_for` (used by the CLI) pulls in no fastapi, redis or azure module.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from elb_upgrade.health.aggregate import ReadinessReport, aggregate, liveness
from elb_upgrade.health.cache import CachePolicy, ProbeCache
from elb_upgrade.health.hints import hint_for
from elb_upgrade.health.probe import DEFAULT_TIMEOUT, Probe, probe
from elb_upgrade.health.readiness import Readiness
from elb_upgrade.health.redact import redact, safe_text
from elb_upgrade.health.result import (
    ComponentResult,
    ComponentView,
    degraded,
    down,
    ok,
    skipped,
)

if TYPE_CHECKING:
    from elb_upgrade.health.probes.azure_credential import azure_credential_probe
    from elb_upgrade.health.probes.azure_storage import azure_storage_probe
    from elb_upgrade.health.probes.http_sidecar import http_probe
    from elb_upgrade.health.probes.redis_ping import redis_probe
    from elb_upgrade.health.probes.tcp import tcp_probe
    from elb_upgrade.health.router import header_token, health_router

# name → module that defines it; imported on first attribute access (PEP 562).
_LAZY = {
    "azure_credential_probe": "elb_upgrade.health.probes.azure_credential",
    "azure_storage_probe": "elb_upgrade.health.probes.azure_storage",
    "http_probe": "elb_upgrade.health.probes.http_sidecar",
    "redis_probe": "elb_upgrade.health.probes.redis_ping",
    "tcp_probe": "elb_upgrade.health.probes.tcp",
    "health_router": "elb_upgrade.health.router",
    "header_token": "elb_upgrade.health.router",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'elb_upgrade.health' has no attribute {name!r}")
    try:
        loaded = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        from elb_upgrade.extras import MissingExtra, extra_for

        extra = extra_for(exc.name or "")
        if extra is None:
            raise
        raise MissingExtra(extra, f"elb_upgrade.health.{name}") from None
    return getattr(loaded, name)


__all__ = [
    "DEFAULT_TIMEOUT",
    "CachePolicy",
    "ComponentResult",
    "ComponentView",
    "Probe",
    "ProbeCache",
    "Readiness",
    "ReadinessReport",
    "aggregate",
    "azure_credential_probe",
    "azure_storage_probe",
    "degraded",
    "down",
    "header_token",
    "health_router",
    "hint_for",
    "http_probe",
    "liveness",
    "ok",
    "probe",
    "redact",
    "redis_probe",
    "safe_text",
    "skipped",
    "tcp_probe",
]
