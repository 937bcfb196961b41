"""Storage network parity: refuse to deploy an app whose Storage it cannot reach.

The failure it prevents: the app's storage account has public network access disabled and
no approved private endpoint, so every data-plane call fails with a misleading 403 while
the app itself looks healthy. Which account: the host label of `AZURE_TABLE_ENDPOINT`,
else `STORAGE_ACCOUNT_NAME`, else the first `st*` account in the resource group (with a
loud warning: it may be the wrong one). Missing permission to read the account, or an
account that is not there (404), warns and skips: the check protects, it must not block an
operator who cannot run it.

What each network setting means for the app's own Storage calls:
- `publicNetworkAccess: Disabled`: only private endpoints reach the account; ok only with
  an approved private endpoint connection.
- `publicNetworkAccess: SecuredByPerimeter`: a network security perimeter's access rules
  decide; they cannot be read from the account, so the check warns and passes.
- `networkAcls.defaultAction: Deny` (public access Enabled): the firewall admits only its
  IP rules, virtual-network rules, resource-instance rules and trusted services; ok when an
  approved private endpoint exists or every outbound IP of the app is in the IP rules;
  with virtual-network rules (which the check cannot match to the app's subnet) it warns.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
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
    if access.lower() == "securedbyperimeter":
        log(
            f"WARNING: storage parity: {name} is secured by a network security perimeter "
            "(publicNetworkAccess SecuredByPerimeter): only the perimeter's access rules let "
            "the app in, and they cannot be read from here; make sure they admit the app"
        )
        return
    approved = _approved(s, rg, name, scope, props)
    if access.lower() == "disabled":
        if approved:
            log(
                f"storage parity: {name} has public access disabled and {len(approved)} "
                "approved private endpoint connection(s): ok"
            )
            return
        raise _rejection(
            name, rg, sorted({_state(c) for c in _connections(s, rg, name, scope, props)})
        )
    acls = props.get("networkAcls") or {}
    if str(acls.get("defaultAction") or "Allow").lower() != "deny":
        log(f"storage parity: {name} allows public network access ({access}): ok")
        return
    _check_firewall(s, name, rg, acls, approved, log)


def _approved(
    s: Session, rg: str, name: str, scope: str, props: dict[str, Any]
) -> list[dict[str, Any]]:
    return [c for c in _connections(s, rg, name, scope, props) if _state(c) == "approved"]


def _connections(
    s: Session, rg: str, name: str, scope: str, props: dict[str, Any]
) -> list[dict[str, Any]]:
    inline = props.get("privateEndpointConnections")
    if inline:
        return list(inline)
    listed: list[dict[str, Any]] = _read(
        s,
        f"list private endpoints of {name}",
        scope,
        lambda: [c.as_dict() for c in s.storage.private_endpoint_connections.list(rg, name)],
    )
    return listed


def _check_firewall(
    s: Session,
    name: str,
    rg: str,
    acls: dict[str, Any],
    approved: list[dict[str, Any]],
    log: LogSink,
) -> None:
    """Public access with `defaultAction: Deny`: the app must be admitted by a rule."""
    if approved:
        log(
            f"storage parity: {name}'s firewall denies by default; {len(approved)} approved "
            "private endpoint connection(s) admit the app: ok"
        )
        return
    outbound = _outbound_ips(s)
    rules = [
        str(r.get("value") or r.get("iPAddressOrRange") or "") for r in acls.get("ipRules") or []
    ]
    if outbound and all(_admitted(ip, rules) for ip in outbound):
        log(f"storage parity: {name}'s firewall admits every outbound IP of the app: ok")
        return
    if acls.get("virtualNetworkRules"):
        log(
            f"WARNING: storage parity: {name}'s firewall denies by default and admits "
            f"{len(acls['virtualNetworkRules'])} virtual network rule(s); the check cannot "
            "tell whether the app's subnet is one of them"
        )
        return
    raise ParityRejected(
        f"storage parity: account {name}'s firewall denies by default "
        "(networkAcls.defaultAction Deny) and admits neither the app's outbound IPs "
        f"({', '.join(outbound) or 'unknown'}) nor a private endpoint; the app's Storage calls "
        "would fail with 403s while it looks healthy",
        hint=f"add the app's outbound IPs: az storage account network-rule add --account-name "
        f"{name} --resource-group {rg} --ip-address <ip>; or allow its subnet or a private "
        "endpoint. To deploy anyway: --skip-parity-check",
    )


def _outbound_ips(s: Session) -> list[str]:
    from elb_upgrade.platforms.azure import containerapp

    app = containerapp.read(s)
    return [str(ip) for ip in (app.props.get("outboundIpAddresses") or [])] if app else []


def _admitted(ip: str, rules: Iterable[str]) -> bool:
    for rule in rules:
        try:
            if ipaddress.ip_address(ip) in ipaddress.ip_network(rule, strict=False):
                return True
        except ValueError:
            continue
    return False


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
        status = getattr(exc.__cause__, "status_code", None)
        if status == 403:
            raise _Skip(
                f"not authorised to {what} ({exc.message}); grant 'Reader' on {scope} "
                "to enable the check"
            ) from exc
        if status == 404:
            raise _Skip(
                f"not found when trying to {what} ({scope}); set STORAGE_ACCOUNT_NAME / "
                "STORAGE_RESOURCE_GROUP to the account the app uses"
            ) from exc
        raise
