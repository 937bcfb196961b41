"""Settings (env, azd env), the credential, the subscription, and lazy SDK imports."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CredentialUnavailableError
from azurekit import Lines, StaticToken, app_spec, settings_for
from fakeazure import FakeAzure
from standin import APP, SUB

from elb_upgrade.errors import ConfigError, PlatformError, PlatformUnavailable
from elb_upgrade.platforms.azure import AzurePlatform
from elb_upgrade.platforms.azure.settings import load

OTHER_SUB = "0c4b2e6d-8f1a-4b3c-9d5e-7f6a8b9c0d1e"


def script(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def test_check_passes_when_logged_in_and_the_app_exists(make_platform, azure: FakeAzure) -> None:  # type: ignore[no-untyped-def]
    token = StaticToken()
    make_platform(credential=token).check()
    assert token.scopes[0] == ("https://management.azure.com/.default",)
    assert azure.made("GET", rf"containerApps/{APP}$")


@pytest.mark.parametrize(
    "error",
    [
        CredentialUnavailableError("DefaultAzureCredential failed to retrieve a token"),
        ClientAuthenticationError("AADSTS700082: The refresh token has expired"),
    ],
)
def test_no_token_means_not_logged_in(make_platform, azure: FakeAzure, error: Exception) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PlatformUnavailable) as caught:
        make_platform(credential=StaticToken(error)).check()
    assert "Not logged in to Azure: run `az login`" in str(caught.value)
    assert azure.requests == []


def test_arm_rejecting_the_token_means_not_logged_in(make_platform, azure: FakeAzure) -> None:  # type: ignore[no-untyped-def]
    azure.fail(
        "GET",
        "containerApps",
        401,
        {"error": {"code": "ExpiredAuthenticationToken", "message": "The access token expiry"}},
    )
    with pytest.raises(PlatformUnavailable, match="Not logged in to Azure"):
        make_platform().check()


def test_missing_app_is_named_with_where_it_was_looked_for(make_platform) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PlatformError) as caught:
        make_platform(CONTAINER_APP_NAME="ca-typo").check()
    assert "Container App ca-typo not found in resource group rg-elb-prod" in str(caught.value)
    assert "CONTAINER_APP_NAME" in caught.value.hint


def test_each_missing_setting_is_named_with_the_fix(make_platform) -> None:  # type: ignore[no-untyped-def]
    platform = make_platform(AZURE_RESOURCE_GROUP="", CONTAINER_APP_NAME="")
    with pytest.raises(PlatformUnavailable) as caught:
        platform.check()
    text = str(caught.value)
    assert "AZURE_RESOURCE_GROUP, CONTAINER_APP_NAME" in text
    assert "azd is not on PATH" in text
    assert "azd env refresh" in text and "export AZURE_RESOURCE_GROUP=" in text


def test_build_settings_are_required_only_to_build(make_platform, log: Lines, tmp_path) -> None:  # type: ignore[no-untyped-def]
    platform = make_platform(ACR_NAME="", ACR_LOGIN_SERVER="")
    platform.check()
    image = app_spec({}, tmp_path).images[0]
    with pytest.raises(PlatformUnavailable, match="missing Azure setting: ACR_NAME"):
        platform.build(image, "t1", log)


def test_azd_env_fills_what_the_settings_lack(bin_dir: Path) -> None:
    script(
        bin_dir,
        "azd",
        'echo AZURE_RESOURCE_GROUP="rg-from-azd"\n'
        'echo CONTAINER_APP_NAME="ca-from-azd"\necho ACR_NAME="explicit-wins"',
    )
    settings = load({"PATH": str(bin_dir), "ACR_NAME": "crexplicit"})
    assert settings.resource_group == "rg-from-azd"
    assert settings.app_name == "ca-from-azd"
    assert settings.get("ACR_NAME") == "crexplicit"
    assert settings.sources["AZURE_RESOURCE_GROUP"] == "azd env"


def test_a_failing_azd_is_reported_in_the_missing_setting_error(bin_dir: Path) -> None:
    script(bin_dir, "azd", "echo 'ERROR: no default environment set' >&2; exit 1")
    settings = load({"PATH": str(bin_dir)})
    with pytest.raises(PlatformUnavailable) as caught:
        settings.require("AZURE_RESOURCE_GROUP")
    assert "`azd env get-values` failed: ERROR: no default environment set" in str(caught.value)


def test_logged_in_subscription_is_used_when_none_is_configured(
    make_platform,
    bin_dir: Path,
    log: Lines,  # type: ignore[no-untyped-def]
) -> None:
    script(bin_dir, "az", f"echo {SUB}")
    platform = make_platform(AZURE_SUBSCRIPTION_ID="")
    platform.parity_check(log)
    assert log[0].startswith(f"azure: subscription {SUB} (az account show)")


def test_subscription_mismatch_is_refused_naming_both(make_platform, bin_dir: Path) -> None:  # type: ignore[no-untyped-def]
    script(bin_dir, "az", f"echo {OTHER_SUB}")
    with pytest.raises(PlatformUnavailable) as caught:
        make_platform().check()
    text = str(caught.value)
    assert (
        f"logged in to {OTHER_SUB}" in text
        and f"AZURE_SUBSCRIPTION_ID from settings is {SUB}" in text
    )
    assert "ELB_UPGRADE_CONFIRM_SUBSCRIPTION=<the id you mean>" in text
    assert f"az account set --subscription {SUB}" in text


def test_confirmed_subscription_is_used(make_platform, bin_dir: Path, azure: FakeAzure) -> None:  # type: ignore[no-untyped-def]
    script(bin_dir, "az", f"echo {OTHER_SUB}")
    make_platform(ELB_UPGRADE_CONFIRM_SUBSCRIPTION=SUB).check()
    assert azure.made("GET", f"^/subscriptions/{SUB}/")


def test_confirmation_naming_a_third_subscription_is_refused(make_platform, bin_dir: Path) -> None:  # type: ignore[no-untyped-def]
    script(bin_dir, "az", f"echo {OTHER_SUB}")
    with pytest.raises(PlatformUnavailable, match="names neither"):
        make_platform(ELB_UPGRADE_CONFIRM_SUBSCRIPTION="11111111-2222").check()


def test_importing_the_platform_loads_no_azure_sdk() -> None:
    code = (
        "import sys, elb_upgrade.platforms.azure, elb_upgrade.cli.main; "
        "print(sorted(m for m in sys.modules if m == 'azure' or m.startswith('azure.')))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, cwd="/"
    )
    assert done.stdout.strip() == "[]"


def test_an_expired_token_is_not_logged_in(make_platform, azure: FakeAzure) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PlatformUnavailable, match="Not logged in to Azure"):
        make_platform(credential=StaticToken(lifetime=-60)).check()
    assert azure.requests[-1].path.endswith(f"/containerApps/{APP}")


def test_a_token_for_another_audience_is_not_logged_in(make_platform, azure: FakeAzure) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PlatformUnavailable) as caught:
        make_platform(credential=StaticToken(audience="https://vault.azure.net")).check()
    assert "wrong audience" in str(caught.value)


def test_azd_output_names_find_the_app_and_the_registry(bin_dir: Path) -> None:
    script(
        bin_dir,
        "azd",
        'echo AZURE_RESOURCE_GROUP="rg-from-azd"\n'
        'echo SERVICE_API_NAME="ca-api-from-azd"\n'
        'echo SERVICE_API_IMAGE_NAME="crazd.azurecr.io/app/api-azd:azd-deploy-1"\n'
        'echo AZURE_CONTAINER_REGISTRY_ENDPOINT="crazd.azurecr.io"',
    )
    settings = load({"PATH": str(bin_dir)})
    settings.require("AZURE_RESOURCE_GROUP", "CONTAINER_APP_NAME")
    assert settings.app_name == "ca-api-from-azd"
    assert settings.login_server == "crazd.azurecr.io"


def test_several_azd_services_need_azd_service_name(bin_dir: Path) -> None:
    script(bin_dir, "azd", 'echo SERVICE_API_NAME="ca-api"\necho SERVICE_WEB_NAME="ca-web"')
    with pytest.raises(ConfigError, match="AZD_SERVICE_NAME"):
        _ = load({"PATH": str(bin_dir), "AZURE_RESOURCE_GROUP": "rg"}).app_name
    chosen = load({"PATH": str(bin_dir), "AZURE_RESOURCE_GROUP": "rg", "AZD_SERVICE_NAME": "web"})
    assert chosen.app_name == "ca-web"


def test_uppercase_repository_is_refused_when_the_platform_is_built(
    azure: FakeAzure, bin_dir: Path
) -> None:
    spec = app_spec(settings_for(azure, bin_dir))
    bad = replace(spec, images=(replace(spec.images[0], repository="Elb-Dashboard-API"),))
    with pytest.raises(ConfigError) as caught:
        AzurePlatform(bad, credential_factory=StaticToken)
    assert "'Elb-Dashboard-API' is not a valid registry repository name" in str(caught.value)
    assert "use 'elb-dashboard-api'" in str(caught.value)
    assert azure.requests == []


def test_config_variables_resolve_from_platform_table_then_azd_env(
    bin_dir: Path, tmp_path: Path
) -> None:
    from elb_upgrade import config
    from elb_upgrade.platforms.base import platform_variables

    script(
        bin_dir,
        "azd",
        'echo CONTAINER_APP_FQDN="ca-from-azd.eastus.azurecontainerapps.io"\n'
        'echo HEALTH_PATH="/from-azd"\necho REGION="azd-region"',
    )
    (tmp_path / "elb-upgrade.toml").write_text(
        '[app]\nname = "app"\nplatform = "azure"\n'
        'readiness_url = "https://${CONTAINER_APP_FQDN}${HEALTH_PATH}?r=${REGION}"\n'
        '[images.api]\nrepository = "api"\ncontext = "."\n'
        '[containers.api]\nimage = "api"\n[scopes]\nfull = ["api"]\n'
        '[platform]\nHEALTH_PATH = "/api/health/ready"\n'
    )
    environ = {"PATH": str(bin_dir), "REGION": "env-region"}
    cfg = config.load(tmp_path / "elb-upgrade.toml", environ, extra=platform_variables)
    # process environment > [platform] > azd env get-values
    assert cfg.readiness_url == (
        "https://ca-from-azd.eastus.azurecontainerapps.io/api/health/ready?r=env-region"
    )
    with pytest.raises(ConfigError, match=r"needs \$\{CONTAINER_APP_FQDN\}"):
        config.load(tmp_path / "elb-upgrade.toml", environ)  # without the platform's source
