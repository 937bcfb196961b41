"""azure_storage_probe against a real Azurite: ok, skipped, and each error_class for real."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from azure.core.credentials import AzureNamedKeyCredential
from azure.identity import DefaultAzureCredential

from elb_upgrade.health import ComponentResult, Probe, Readiness, azure_storage_probe
from fakes import services
from fakes.clock import FakeClock

RunProbe = Callable[[Probe], ComponentResult]
WRONG_KEY = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk="


def key_credential(key: str = services.AZURITE_KEY) -> AzureNamedKeyCredential:
    return AzureNamedKeyCredential(services.AZURITE_ACCOUNT, key)


def test_ok_with_a_connection_string(
    run_probe: RunProbe, azurite_service: services.AzuriteService
) -> None:
    probe = azure_storage_probe(connection_string=azurite_service.connection_string())
    assert run_probe(probe).status == "ok"


def test_ok_with_endpoint_from_env_and_a_credential(
    run_probe: RunProbe,
    azurite_service: services.AzuriteService,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AZURE_TABLE_ENDPOINT", azurite_service.table_endpoint)
    assert run_probe(azure_storage_probe(credential=key_credential())).status == "ok"


def test_ok_with_connection_string_from_env(
    run_probe: RunProbe,
    azurite_service: services.AzuriteService,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite_service.connection_string())
    assert run_probe(azure_storage_probe()).status == "ok"


def test_skipped_when_nothing_is_configured(run_probe: RunProbe) -> None:
    result = run_probe(azure_storage_probe())
    assert (result.status, result.reason) == ("skipped", "AZURE_TABLE_ENDPOINT not set")


def test_wrong_account_key_is_a_real_403_http_response_error(
    run_probe: RunProbe, azurite_service: services.AzuriteService
) -> None:
    conn = azurite_service.connection_string(WRONG_KEY)
    result = run_probe(azure_storage_probe(connection_string=conn))
    assert (result.status, result.error_class) == ("down", "HttpResponseError")
    assert "Server failed to authenticate the request" in (result.error or "")
    assert WRONG_KEY not in str(result) and len(result.error or "") <= 200


def test_closed_port_is_service_request_error(run_probe: RunProbe) -> None:
    endpoint = f"http://127.0.0.1:{services.closed_port()}/{services.AZURITE_ACCOUNT}"
    result = run_probe(azure_storage_probe(endpoint, credential=key_credential(), timeout=1))
    assert (result.status, result.error_class) == ("down", "ServiceRequestError")


def test_failing_credential_is_client_authentication_error(run_probe: RunProbe) -> None:
    # A real DefaultAzureCredential with no identity source it may use fails to get a
    # token; the request never leaves (HTTPS endpoint on a closed port, never reached).
    credential = DefaultAzureCredential(
        exclude_managed_identity_credential=True,
        exclude_cli_credential=True,
        exclude_developer_cli_credential=True,
        exclude_powershell_credential=True,
        exclude_visual_studio_code_credential=True,
        exclude_shared_token_cache_credential=True,
        exclude_interactive_browser_credential=True,
    )
    endpoint = f"https://127.0.0.1:{services.closed_port()}/{services.AZURITE_ACCOUNT}"
    result = run_probe(azure_storage_probe(endpoint, credential=credential, timeout=2))
    assert (result.status, result.error_class) == ("down", "ClientAuthenticationError")


def test_a_service_that_never_answers_times_out_within_the_probe_timeout(
    run_probe: RunProbe, hung_port: int
) -> None:
    endpoint = f"http://127.0.0.1:{hung_port}/{services.AZURITE_ACCOUNT}"
    result = run_probe(azure_storage_probe(endpoint, credential=key_credential(), timeout=0.3))
    # the peer never answers: only the probe's own timeout can end the call
    assert (result.status, result.error_class) == ("down", "TimeoutError")


def test_a_bad_setting_is_reported_down_not_raised_at_startup(run_probe: RunProbe) -> None:
    result = run_probe(azure_storage_probe(connection_string="not a connection string"))
    assert result.status == "down" and result.error_class == "ValueError"


def counted(probe: Probe) -> tuple[Probe, list[int]]:
    """The same probe, counting the requests it sends (each call is one list_tables)."""
    calls: list[int] = []

    def check() -> Any:
        calls.append(1)
        return probe.check()

    return replace(probe, check=check), calls


def test_storage_ttl_variables_set_how_long_each_verdict_is_reused(
    azurite_service: services.AzuriteService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORAGE_PROBE_CACHE_TTL_OK_SECONDS", "60")
    monkeypatch.setenv("STORAGE_PROBE_CACHE_TTL_BAD_SECONDS", "10")
    clock = FakeClock()
    good, good_calls = counted(
        azure_storage_probe(connection_string=azurite_service.connection_string())
    )
    bad, bad_calls = counted(
        azure_storage_probe(
            connection_string=azurite_service.connection_string(WRONG_KEY), name="bad"
        )
    )
    readiness = Readiness(version="1", probes=[good, bad], clock=clock)
    statuses = []
    for step in (0, 30, 31):  # t = 0, 30, 61: the policy's 15 s / 3 s would re-probe each time
        clock.advance(step)
        body = asyncio.run(readiness.check()).body["components"]
        statuses.append((body["azure_storage"]["status"], body["bad"]["status"]))
    readiness.close()
    assert statuses == [("ok", "down")] * 3
    assert len(good_calls) == 2  # t=0 and t=61 (past 60 s)
    assert len(bad_calls) == 3  # t=0, 30, 61 (each past 10 s)


def test_storage_ttl_arguments_win_over_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORAGE_PROBE_CACHE_TTL_OK_SECONDS", "60")
    probe = azure_storage_probe(ok_ttl=5)
    assert (probe.ok_ttl, probe.down_ttl) == (5, None)


@pytest.mark.parametrize("value", ["abc", "0", "-3", "nan", "inf"])
def test_a_bad_storage_ttl_variable_is_down_naming_it(
    run_probe: RunProbe, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("STORAGE_PROBE_CACHE_TTL_BAD_SECONDS", value)
    result = run_probe(azure_storage_probe())
    assert (result.status, result.error_class) == ("down", "ValueError")
    assert (result.error or "").startswith(
        f"STORAGE_PROBE_CACHE_TTL_BAD_SECONDS={value!r} is not a number of seconds > 0"
    )
