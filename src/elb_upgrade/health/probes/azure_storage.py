"""`azure_storage_probe`: one page of `list_tables` on the Azure Table Storage data plane.

This is elb-dashboard's Storage check: it proves the whole path an app's data calls take
(DNS, private endpoint, firewall, identity, RBAC) with the cheapest request there is.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from typing import Any

from azure.data.tables import TableServiceClient

from elb_upgrade.health.probe import DEFAULT_TIMEOUT, IO_GRACE, Probe
from elb_upgrade.health.result import ComponentResult, skipped

ENDPOINT_ENV = "AZURE_TABLE_ENDPOINT"
CONNECTION_STRING_ENV = "AZURE_STORAGE_CONNECTION_STRING"
# The original route's knobs for how long a Storage verdict is reused (ok / anything else).
TTL_OK_ENV = "STORAGE_PROBE_CACHE_TTL_OK_SECONDS"
TTL_BAD_ENV = "STORAGE_PROBE_CACHE_TTL_BAD_SECONDS"


def azure_storage_probe(
    endpoint: str | None = None,
    *,
    connection_string: str | None = None,
    credential: Any = None,
    name: str = "azure_storage",
    critical: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    ok_ttl: float | None = None,
    bad_ttl: float | None = None,
) -> Probe:
    """Probe Table Storage at `endpoint` or by `connection_string`, else from the env.

    Precedence: the arguments, then `$AZURE_TABLE_ENDPOINT`, then
    `$AZURE_STORAGE_CONNECTION_STRING`; none set → `skipped`. With an endpoint and no
    `credential`, `DefaultAzureCredential()` is used (the app's managed identity).

    `ok_ttl` / `bad_ttl` (else `$STORAGE_PROBE_CACHE_TTL_OK_SECONDS` /
    `$STORAGE_PROBE_CACHE_TTL_BAD_SECONDS`, else the cache policy's) say how long an `ok` /
    any other verdict is reused. A variable that is not a number > 0 makes the component
    `down` with a `ValueError` naming it, so a typo shows up at the deploy gate.
    """
    ttls = _ttls(ok_ttl, bad_ttl)
    if isinstance(ttls, str):
        problem = ttls
        return Probe(name, lambda: _raise(ValueError(problem)), critical, timeout)
    if not endpoint and not connection_string:
        endpoint = os.environ.get(ENDPOINT_ENV) or None
        connection_string = None if endpoint else os.environ.get(CONNECTION_STRING_ENV)
    if not endpoint and not connection_string:
        reason = f"{ENDPOINT_ENV} not set"
        return Probe(name, lambda: skipped(reason), critical, timeout, *ttls)
    client = _lazy(lambda: _client(endpoint, connection_string, credential, timeout))

    def list_one_page() -> ComponentResult | None:
        pages = client().list_tables(results_per_page=1).by_page()
        for _table in next(pages, []):  # one request: the first page only
            pass
        return None

    return Probe(name, list_one_page, critical, timeout, *ttls)


def _ttls(ok_ttl: float | None, bad_ttl: float | None) -> tuple[float | None, float | None] | str:
    """The (ok, bad) TTL overrides from the arguments or the env, or what is wrong."""
    found: list[float | None] = []
    for given, env in ((ok_ttl, TTL_OK_ENV), (bad_ttl, TTL_BAD_ENV)):
        raw = os.environ.get(env, "").strip()
        if given is not None or not raw:
            found.append(given)
            continue
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value <= 0:
            return (
                f"{env}={raw[:40]!r} is not a number of seconds > 0: set it to e.g. "
                f"{'15' if env == TTL_OK_ENV else '3'}, or unset it for the default"
            )
        found.append(value)
    return found[0], found[1]


def _raise(exc: Exception) -> None:
    raise exc


def _client(
    endpoint: str | None, connection_string: str | None, credential: Any, timeout: float
) -> TableServiceClient:
    # SDK retries off (the cache decides when to ask again); I/O timeouts just past the
    # probe's (IO_GRACE) so a hung service frees the worker thread soon after it gives up.
    options: dict[str, Any] = {
        "retry_total": 0,
        "connection_timeout": timeout + IO_GRACE,
        "read_timeout": timeout + IO_GRACE,
    }
    if connection_string:
        return TableServiceClient.from_connection_string(connection_string, **options)
    if credential is None:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    assert endpoint is not None
    return TableServiceClient(endpoint, credential=credential, **options)


def _lazy(build: Callable[[], TableServiceClient]) -> Callable[[], TableServiceClient]:
    """Build the client on first use and keep it: a bad setting is reported as `down`
    (with its class) by the probe instead of crashing the app at import time."""
    lock = threading.Lock()
    built: list[TableServiceClient] = []

    def get() -> TableServiceClient:
        with lock:
            if not built:
                built.append(build())
            return built[0]

    return get
