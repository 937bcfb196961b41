"""First-line actions for a readiness `error_class`: what an operator checks first.

The CLI gate imports this module to explain a failed readiness check, so it imports
nothing but the standard library (no fastapi, redis or azure).
"""

from __future__ import annotations

# Keyed by the exception class name a probe reports (`type(exc).__name__`). Subclasses
# that share a cause share a hint: CredentialUnavailableError is a ClientAuthenticationError.
_HINTS: dict[str, str] = {
    "ClientAuthenticationError": (
        "check the managed identity / credential: is the identity assigned to the app, "
        "is AZURE_CLIENT_ID right, can it get a token?"
    ),
    "CredentialUnavailableError": (
        "no credential source is configured: assign a managed identity to the app "
        "or set AZURE_CLIENT_ID / the workload identity variables"
    ),
    "ServiceRequestError": (
        "the request never reached the service: check the network path, DNS and "
        "the private endpoint (does the name resolve to the private IP from the app?)"
    ),
    "ServiceResponseError": (
        "the connection broke mid-response: check the network path and any proxy "
        "or firewall between the app and the service"
    ),
    "HttpResponseError": (
        "the service answered with an error: check RBAC role assignments "
        "(e.g. Storage Table Data Contributor) and the storage firewall / network rules"
    ),
    "ResourceNotFoundError": (
        "the account or resource does not exist: check the endpoint URL and account name"
    ),
    "TimeoutError": (
        "the dependency is slow or unreachable: check that it is running and that "
        "nothing drops packets on the way (firewall, NSG, private DNS)"
    ),
    "ConnectionRefusedError": (
        "nothing listens at that address: check the host, the port and that the service is up"
    ),
    "ConnectionError": (
        "could not connect: check the host, the port, that the service is up and its password"
    ),
    "AuthenticationError": "the dependency rejected the password: check the secret the app uses",
    "ConnectError": "the sidecar did not accept a connection: is its container running?",
    "HTTPStatusError": "the sidecar answered but is unhealthy: read its logs",
    "gaierror": "the host name does not resolve: check DNS and the configured host",
    "InvalidProbeResult": (
        "the app's own check returned something that is no result: make it return None or "
        "True (ok), False (down), or ok()/degraded()/skipped()/down(), and redeploy"
    ),
}

_DEFAULT = "read the error text and the app's logs for this component"


def hint_for(error_class: str) -> str:
    """Return the first thing to check for a component that failed with `error_class`."""
    return _HINTS.get(error_class, _DEFAULT)


def known_error_classes() -> list[str]:
    """Every class name with a specific hint (the docs table is checked against it)."""
    return sorted(_HINTS)
