"""azure_credential_probe: skipped without an identity, built, token fetched, or failing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.identity import ChainedTokenCredential, DefaultAzureCredential, EnvironmentCredential

from elb_upgrade.health import ComponentResult, Probe, Readiness, azure_credential_probe

RunProbe = Callable[[Probe], ComponentResult]


class StaticToken:
    """A TokenCredential that always has a token (stands in for a working identity)."""

    def __init__(self) -> None:
        self.scopes: list[str] = []

    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.scopes.extend(scopes)
        return AccessToken("t", 2_000_000_000)


def no_identity_credential() -> DefaultAzureCredential:
    """A real DefaultAzureCredential with every source it could use here switched off."""
    return DefaultAzureCredential(
        exclude_managed_identity_credential=True,
        exclude_cli_credential=True,
        exclude_developer_cli_credential=True,
        exclude_powershell_credential=True,
        exclude_visual_studio_code_credential=True,
        exclude_shared_token_cache_credential=True,
        exclude_interactive_browser_credential=True,
    )


def test_skipped_when_the_process_has_no_identity(run_probe: RunProbe) -> None:
    result = run_probe(azure_credential_probe())
    assert result.status == "skipped" and "IDENTITY_ENDPOINT" in (result.reason or "")


def test_ok_when_the_default_credential_builds_under_managed_identity(
    run_probe: RunProbe, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDENTITY_ENDPOINT", "http://localhost:42356/msi/token")
    assert run_probe(azure_credential_probe()).status == "ok"


def test_ok_when_a_token_is_fetched_for_the_scope(run_probe: RunProbe) -> None:
    credential = StaticToken()
    result = run_probe(azure_credential_probe(lambda: credential, fetch_token=True))
    assert result.status == "ok"
    assert credential.scopes == ["https://storage.azure.com/.default"]


def test_down_when_the_credential_cannot_be_built(run_probe: RunProbe) -> None:
    def broken() -> Any:
        raise ValueError("AZURE_CLIENT_ID is not a GUID")

    result = run_probe(azure_credential_probe(broken))
    assert (result.status, result.error_class) == ("down", "ValueError")


def test_token_fetch_failure_is_client_authentication_error(run_probe: RunProbe) -> None:
    probe = azure_credential_probe(no_identity_credential, fetch_token=True)
    result = run_probe(probe)
    assert (result.status, result.error_class) == ("down", "ClientAuthenticationError")
    assert (result.error or "").startswith("DefaultAzureCredential failed to retrieve a token")


def test_token_is_not_fetched_unless_asked(run_probe: RunProbe) -> None:
    assert run_probe(azure_credential_probe(no_identity_credential)).status == "ok"


def test_type_names_the_credential_that_was_found(run_probe: RunProbe) -> None:
    result = run_probe(azure_credential_probe(StaticToken, fetch_token=True))
    assert (result.status, result.kind) == ("ok", "StaticToken")


def test_type_names_the_link_of_a_chain_that_got_the_token(run_probe: RunProbe) -> None:
    # A real chain: a real EnvironmentCredential (no variables here) is unavailable, the
    # next link serves the token.
    chain = ChainedTokenCredential(EnvironmentCredential(), StaticToken())
    result = run_probe(azure_credential_probe(lambda: chain, fetch_token=True))
    assert (result.status, result.kind) == ("ok", "StaticToken")


def test_type_is_reported_when_the_token_fetch_fails(run_probe: RunProbe) -> None:
    result = run_probe(azure_credential_probe(no_identity_credential, fetch_token=True))
    assert (result.status, result.kind) == ("down", "DefaultAzureCredential")


def test_type_is_in_the_component_body_and_hidden_from_anonymous_callers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IDENTITY_ENDPOINT", "http://localhost:42356/msi/token")
    readiness = Readiness(version="1", probes=[azure_credential_probe()])
    shown = asyncio.run(readiness.check()).body["components"]["azure_credential"]
    hidden = asyncio.run(readiness.check(details=False)).body["components"]["azure_credential"]
    assert shown["type"] == "DefaultAzureCredential" and shown["status"] == "ok"
    assert hidden == {"status": "ok"}
