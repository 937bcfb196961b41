"""Storage network parity: refuse to deploy an app whose Storage it cannot reach.

The failure it prevents: the app's storage account has public network access disabled and
no approved private endpoint, so every data-plane call fails with a misleading 403 while
the app itself looks healthy. Which account: the host label of `AZURE_TABLE_ENDPOINT`,
else `STORAGE_ACCOUNT_NAME`, else the first `st*` account in the resource group (with a
loud warning: it may be the wrong one). Missing permission to read the account warns and
skips: the check protects, it must not block an operator who cannot run it.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from elb_upgrade.errors import ParityRejected, PlatformError
from elb_upgrade.platforms.azure.session import Session
from elb_upgrade.platforms.azure.translate import Action, translate
from elb_upgrade.platforms.base import LogSink

_PROVIDER = "Microsoft.Storage/storageAccounts"


class _Skip(Exception):
    """The check cannot run; the message says why."""


def check(s: Session, log: LogSink) -> None:
    """ParityRejected when the app could not reach its storage account."""
    try:
        account = _account_name(s, log)
        if account:
            _check_account(s, account, log)
    except _Skip as skip:
        log(f"WARNING: storage parity check skipped: {skip}")


def _account_name(s: Session, log: LogSink) -> str | None:
    endpoint = s.settings.get("AZURE_TABLE_ENDPOINT")
    if endpoint:
        host = urlsplit(endpoint if "//" in endpoint else f"https://{endpoint}").hostname or ""
        if _is_local(host):
            log(
                f"storage parity: AZURE_TABLE_ENDPOINT {endpoint} is local (an emulator); "
                "nothing to check"
            )
            return None
        return host.split(".")[0]
    named = s.settings.get("STORAGE_ACCOUNT_NAME")
    if named:
        return named
    return _guess(s, log)


def _is_local(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback or ipaddress.ip_address(host).is_private
    except ValueError:
        return host in ("localhost", "azurite") or host.endswith(".localhost")


def _guess(s: Session, log: LogSink) -> str | None:
    listed = _read(
        s,
        f"list storage accounts in {s.rg}",
        s.rg_scope(),
        lambda: [a.as_dict() for a in s.storage.storage_accounts.list_by_resource_group(s.rg)],
    )
    names = sorted(str(a["name"]) for a in listed if str(a.get("name", "")).startswith("st"))
    if not names:
        log(
            "storage parity: no AZURE_TABLE_ENDPOINT / STORAGE_ACCOUNT_NAME and no st* account "
            f"in {s.rg}; nothing to check"
        )
        return None
    log(
        f"WARNING: storage parity is guessing the account: {names[0]} (first st* account "
        f"in {s.rg}, of {len(names)}). It may be the wrong one: set STORAGE_ACCOUNT_NAME "
        "or AZURE_TABLE_ENDPOINT to name it."
    )
    return names[0]


def _check_account(s: Session, name: str, log: LogSink) -> None:
    rg = s.settings.get("STORAGE_RESOURCE_GROUP", s.rg)
    scope = f"/subscriptions/{s.subscription}/resourceGroups/{rg}/providers/{_PROVIDER}/{name}"
    account = _read(
        s,
        f"read storage account {name}",
        scope,
        lambda: s.storage.storage_accounts.get_properties(rg, name).as_dict(),
    )
    props = account.get("properties") or {}
    access = str(props.get("publicNetworkAccess") or "Enabled")
    if access.lower() != "disabled":
        log(f"storage parity: {name} allows public network access ({access}): ok")
        return
    connections = props.get("privateEndpointConnections") or _read(
        s,
        f"list private endpoints of {name}",
        scope,
        lambda: [c.as_dict() for c in s.storage.private_endpoint_connections.list(rg, name)],
    )
    approved = [c for c in connections if _state(c) == "approved"]
    if approved:
        log(
            f"storage parity: {name} has public access disabled and {len(approved)} approved "
            "private endpoint connection(s): ok"
        )
        return
    raise _rejection(name, rg, sorted({_state(c) for c in connections}))


def _state(connection: dict[str, Any]) -> str:
    props = connection.get("properties") or {}
    return str((props.get("privateLinkServiceConnectionState") or {}).get("status", "")).lower()


def _rejection(name: str, rg: str, states: list[str]) -> ParityRejected:
    seen = f" (connections found: {', '.join(states)})" if states else ""
    return ParityRejected(
        f"storage parity: account {name} has public network access disabled and no approved "
        f"private endpoint{seen}; the app's Storage calls would fail with 403s while it "
        "looks healthy",
        hint="either (quick) re-enable public network access: az storage account update "
        f"--name {name} --resource-group {rg} --public-network-access Enabled; or (proper) "
        "provision private endpoints for the account's table and blob services in the app's "
        "virtual network and approve them. To deploy anyway: --skip-parity-check",
    )


def _read(s: Session, what: str, scope: str, call: Any) -> Any:
    """Run a read; authorization failures become a skip, other failures stay errors."""
    try:
        with translate(Action(what, "Reader", scope)):
            return call()
    except PlatformError as exc:
        if getattr(exc.__cause__, "status_code", None) == 403:
            raise _Skip(
                f"not authorised to {what} ({exc.message}); grant 'Reader' on {scope} "
                "to enable the check"
            ) from exc
        raise
