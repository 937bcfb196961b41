"""Storage network parity: public access, approved vs pending private endpoints, skips."""

from __future__ import annotations

import pytest
from azurekit import Lines
from fakeazure import FakeAzure
from standin import ACCOUNT, RG, SUB

from elb_upgrade.errors import ParityRejected
from elb_upgrade.platforms.azure import AzurePlatform
from elb_upgrade.results import Phase, result_for

ACCOUNT_PATH = rf"/storageAccounts/{ACCOUNT}$"
SCOPE = (
    f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/"
    f"storageAccounts/{ACCOUNT}"
)


def disable_public_access(azure: FakeAzure, *statuses: str) -> None:
    assert azure.account is not None
    azure.account["properties"]["publicNetworkAccess"] = "Disabled"
    template = azure.connections[0]
    azure.connections = []
    for n, status in enumerate(statuses):
        connection = {
            **template,
            "name": f"{ACCOUNT}.pe-{n}",
            "properties": {
                **template["properties"],
                "privateLinkServiceConnectionState": {"status": status, "actionRequired": "None"},
            },
        }
        azure.connections.append(connection)


def test_public_access_enabled_passes(
    platform: AzurePlatform, azure: FakeAzure, log: Lines
) -> None:
    platform.parity_check(log)
    assert f"storage parity: {ACCOUNT} allows public network access (Enabled): ok" in log
    [read] = azure.made("GET", ACCOUNT_PATH)
    assert read.path == f"{SCOPE}"  # the account named by AZURE_TABLE_ENDPOINT's host label


def test_disabled_with_an_approved_private_endpoint_passes(
    platform: AzurePlatform, azure: FakeAzure, log: Lines
) -> None:
    disable_public_access(azure, "Pending", "Approved")
    platform.parity_check(log)
    assert "1 approved private endpoint connection(s): ok" in log.text()
    assert azure.made("GET", "/privateEndpointConnections$")


def test_disabled_with_only_pending_private_endpoints_is_rejected(
    platform: AzurePlatform, azure: FakeAzure, log: Lines
) -> None:
    disable_public_access(azure, "Pending", "Rejected")
    with pytest.raises(ParityRejected) as caught:
        platform.parity_check(log)
    text = str(caught.value)
    assert f"account {ACCOUNT} has public network access disabled and no approved" in text
    assert "connections found: pending, rejected" in text
    assert (
        f"az storage account update --name {ACCOUNT} --resource-group {RG} "
        "--public-network-access Enabled" in text
    )  # the quick way out
    assert "provision private endpoints" in text  # the proper one
    assert "--skip-parity-check" in text
    assert result_for(caught.value, Phase.PREFLIGHT)[0] == "parity_rejected"


def test_disabled_with_no_private_endpoint_is_rejected(
    platform: AzurePlatform, azure: FakeAzure, log: Lines
) -> None:
    disable_public_access(azure)
    with pytest.raises(ParityRejected, match="no approved private endpoint"):
        platform.parity_check(log)


def test_inline_private_endpoint_connections_are_used(
    platform: AzurePlatform, azure: FakeAzure, log: Lines
) -> None:
    disable_public_access(azure)
    azure.account["properties"]["privateEndpointConnections"] = [
        {"properties": {"privateLinkServiceConnectionState": {"status": "Approved"}}}
    ]
    platform.parity_check(log)
    assert azure.made("GET", "/privateEndpointConnections$") == []


def test_authorization_failure_warns_and_skips(
    platform: AzurePlatform, azure: FakeAzure, log: Lines
) -> None:
    azure.forbid("GET", ACCOUNT_PATH, "Microsoft.Storage/storageAccounts/read", SCOPE)
    platform.parity_check(log)
    warning = log[-1]
    assert warning.startswith(
        f"WARNING: storage parity check skipped: not authorised to read storage account {ACCOUNT}"
    )
    assert f"grant 'Reader' on {SCOPE}" in warning


def test_named_account_is_used_when_there_is_no_table_endpoint(
    make_platform,
    azure: FakeAzure,
    log: Lines,  # type: ignore[no-untyped-def]
) -> None:
    platform = make_platform(AZURE_TABLE_ENDPOINT="", STORAGE_ACCOUNT_NAME=ACCOUNT)
    platform.parity_check(log)
    assert azure.made("GET", ACCOUNT_PATH)


def test_first_st_account_is_guessed_with_a_loud_warning(
    make_platform,
    azure: FakeAzure,
    log: Lines,  # type: ignore[no-untyped-def]
) -> None:
    platform = make_platform(AZURE_TABLE_ENDPOINT="")
    platform.parity_check(log)
    warning = next(line for line in log if line.startswith("WARNING"))
    assert f"guessing the account: {ACCOUNT} (first st* account in {RG}, of 1)" in warning
    assert "It may be the wrong one: set STORAGE_ACCOUNT_NAME" in warning
    assert azure.made("GET", r"/storageAccounts$")
    assert azure.made("GET", ACCOUNT_PATH)


def test_local_emulator_endpoint_has_nothing_to_check(
    make_platform,
    azure: FakeAzure,
    log: Lines,  # type: ignore[no-untyped-def]
) -> None:
    platform = make_platform(AZURE_TABLE_ENDPOINT="http://127.0.0.1:10002/devstoreaccount1")
    platform.parity_check(log)
    assert "is local (an emulator); nothing to check" in log.text()
    assert azure.made("GET", "storageAccounts") == []


def test_secured_by_perimeter_warns_and_passes(
    platform: AzurePlatform, azure: FakeAzure, log: Lines
) -> None:
    assert azure.account is not None
    azure.account["properties"]["publicNetworkAccess"] = "SecuredByPerimeter"
    platform.parity_check(log)
    assert "secured by a network security perimeter" in log.text()
    assert "allows public network access" not in log.text()


def test_firewall_deny_without_the_apps_ips_is_rejected(
    platform: AzurePlatform, azure: FakeAzure, log: Lines
) -> None:
    assert azure.account is not None
    azure.account["properties"]["networkAcls"] = {
        "defaultAction": "Deny",
        "bypass": "AzureServices",
        "ipRules": [{"value": "203.0.113.0/24", "action": "Allow"}],
        "virtualNetworkRules": [],
    }
    azure.connections = []
    with pytest.raises(ParityRejected) as caught:
        platform.parity_check(log)
    assert "networkAcls.defaultAction Deny" in str(caught.value)
    assert "20.62.0.1" in str(caught.value)  # the app's outbound IP, named


def test_firewall_deny_admitting_the_apps_ips_passes(
    platform: AzurePlatform, azure: FakeAzure, log: Lines
) -> None:
    assert azure.account is not None
    azure.account["properties"]["networkAcls"] = {
        "defaultAction": "Deny",
        "ipRules": [{"value": "20.62.0.0/16", "action": "Allow"}],
    }
    azure.connections = []
    platform.parity_check(log)
    assert "admits every outbound IP of the app: ok" in log.text()


def test_a_missing_account_skips_with_a_warning(
    platform: AzurePlatform, azure: FakeAzure, log: Lines
) -> None:
    azure.account = None
    platform.parity_check(log)
    assert log[-1].startswith("WARNING: storage parity check skipped: not found")
