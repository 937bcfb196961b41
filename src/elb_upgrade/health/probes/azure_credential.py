"""`azure_credential_probe`: the app's Azure credential can be built and, opt-in, a token got.

Building proves the identity configuration parses; fetching a token proves the identity
exists and the token service is reachable, which is the first thing that breaks when a
managed identity is detached or `AZURE_CLIENT_ID` is wrong. The component reports the
credential's class as `"type"` (which credential was found), like the original route.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from elb_upgrade.health.probe import DEFAULT_TIMEOUT, Probe
from elb_upgrade.health.redact import describe
from elb_upgrade.health.result import ComponentResult, ok, skipped

STORAGE_SCOPE = "https://storage.azure.com/.default"
# Variables that mean "this process has an Azure identity to use": managed identity (App
# Service / Container Apps), a service principal, or workload identity.
IDENTITY_ENV = (
    "IDENTITY_ENDPOINT",
    "MSI_ENDPOINT",
    "AZURE_CLIENT_ID",
    "AZURE_FEDERATED_TOKEN_FILE",
)


def azure_credential_probe(
    factory: Callable[[], Any] | None = None,
    *,
    fetch_token: bool = False,
    scope: str = STORAGE_SCOPE,
    name: str = "azure_credential",
    critical: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
) -> Probe:
    """Probe that `factory()` (default `DefaultAzureCredential`) builds, and can get a token.

    Without a `factory` and with none of the identity variables set, the component is
    `skipped`: a local run has no identity to check.
    """
    if factory is None and not any(os.environ.get(v) for v in IDENTITY_ENV):
        reason = f"no Azure identity configured ({', '.join(IDENTITY_ENV)} unset)"
        return Probe(name, lambda: skipped(reason), critical, timeout)
    make = factory or _default_credential
    lock = threading.Lock()
    built: list[Any] = []

    def check() -> ComponentResult | None:
        with lock:
            if not built:  # built once and kept: credentials cache their tokens
                built.append(make())
        credential = built[0]
        if fetch_token:
            try:
                credential.get_token(scope)
            except Exception as exc:
                return ComponentResult(
                    "down",
                    error=describe(exc),
                    error_class=type(exc).__name__,
                    kind=credential_type(credential),
                )
        return ok(kind=credential_type(credential))

    return Probe(name, check, critical, timeout)


def credential_type(credential: Any) -> str:
    """The class of the credential that serves tokens: for a chain such as
    `DefaultAzureCredential`, the link that last got one (e.g. `ManagedIdentityCredential`),
    else the credential's own class (as the original route's `"type"` reported it)."""
    found = getattr(credential, "_successful_credential", None)
    return type(found if found is not None else credential).__name__


def _default_credential() -> Any:
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()
