"""Who we are on Azure and the SDK clients we talk through.

The subscription the operator is logged in to (`az account show`) is the source of truth.
When the configured `AZURE_SUBSCRIPTION_ID` (environment, .env or azd env) names another
one we refuse until the operator says which: never deploy to a subscription they did not
see named. `ELB_UPGRADE_CONFIRM_SUBSCRIPTION=<id>` is that confirmation.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from azure.core import exceptions as az

from elb_upgrade.errors import PlatformUnavailable
from elb_upgrade.platforms.azure import translate as tr
from elb_upgrade.platforms.azure.settings import REQUIRED, AzureSettings, Runner

CredentialFactory = Callable[[], Any]
"""Returns an azure-core TokenCredential; the seam tests use for a static token."""

ARM_AUDIENCE = "https://management.azure.com"
CONFIRM = "ELB_UPGRADE_CONFIRM_SUBSCRIPTION"
AZ_TIMEOUT = 30.0


def default_credential() -> Any:
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(exclude_interactive_browser_credential=True)


@dataclass
class Session:
    """Settings, credential and subscription of one run, and its lazily built clients."""

    settings: AzureSettings
    credential: Any
    subscription: str
    subscription_note: str = ""
    announced: bool = field(default=False)
    registry: Any = None  # the registry resource, once `registry.resolve` found it

    @property
    def rg(self) -> str:
        return self.settings.resource_group

    @property
    def app_name(self) -> str:
        return self.settings.app_name

    def rg_scope(self) -> str:
        return f"/subscriptions/{self.subscription}/resourceGroups/{self.rg}"

    def scope(self, provider: str, name: str) -> str:
        return f"{self.rg_scope()}/providers/{provider}/{name}"

    def app_scope(self) -> str:
        return self.scope("Microsoft.App/containerApps", self.app_name)

    def transport_kwargs(self) -> dict[str, Any]:
        ca = self.settings.ca_bundle
        return {"connection_verify": ca} if ca else {}

    def arm_kwargs(self) -> dict[str, Any]:
        audience = self.settings.get("AZURE_RESOURCE_MANAGER_AUDIENCE", ARM_AUDIENCE)
        return {
            "base_url": self.settings.arm_url,
            "credential_scopes": [f"{audience.rstrip('/')}/.default"],
            "polling_interval": self.settings.seconds("ELB_UPGRADE_AZURE_POLL_SECONDS", 5.0),
            **self.transport_kwargs(),
        }

    @cached_property
    def apps(self) -> Any:
        from azure.mgmt.appcontainers import ContainerAppsAPIClient

        return ContainerAppsAPIClient(self.credential, self.subscription, **self.arm_kwargs())

    @cached_property
    def storage(self) -> Any:
        from azure.mgmt.storage import StorageManagementClient

        return StorageManagementClient(self.credential, self.subscription, **self.arm_kwargs())

    @cached_property
    def registries(self) -> Any:
        from azure.mgmt.containerregistry import ContainerRegistryManagementClient

        return ContainerRegistryManagementClient(
            self.credential, self.subscription, **self.arm_kwargs()
        )

    @cached_property
    def tasks(self) -> Any:
        from azure.mgmt.containerregistrytasks import ContainerRegistryTasksMgmtClient

        return ContainerRegistryTasksMgmtClient(
            self.credential, self.subscription, **self.arm_kwargs()
        )

    def blob(self, sas_url: str) -> Any:
        """A blob client for a SAS URL ACR handed us (build source upload, run log)."""
        from azure.storage.blob import BlobClient

        return BlobClient.from_blob_url(sas_url, **self.transport_kwargs())

    def registry_data(self, login_server: str) -> Any:
        """The registry's data plane (tags, manifests) at `login_server`."""
        from azure.containerregistry import ContainerRegistryClient

        return ContainerRegistryClient(
            f"https://{login_server}", self.credential, **self.transport_kwargs()
        )

    def announce(self) -> str:
        """The one line naming where we deploy, the first time anything is logged."""
        if self.announced:
            return ""
        self.announced = True
        return (
            f"azure: subscription {self.subscription} {self.subscription_note}, "
            f"resource group {self.rg}, app {self.app_name}"
        )


def open_session(settings: AzureSettings, factory: CredentialFactory, run: Runner) -> Session:
    """Validate settings, prove the credential gets an ARM token, settle the subscription."""
    settings.require(*REQUIRED)
    credential = factory()
    audience = settings.get("AZURE_RESOURCE_MANAGER_AUDIENCE", ARM_AUDIENCE).rstrip("/")
    try:
        credential.get_token(f"{audience}/.default")
    except az.ClientAuthenticationError as exc:
        raise tr.not_logged_in(exc) from exc
    except az.AzureError as exc:
        raise PlatformUnavailable(f"cannot get an Azure token: {exc}", hint=tr.LOGIN_HINT) from exc
    subscription, note = choose_subscription(settings, logged_in_subscription(settings, run))
    return Session(settings, credential, subscription, note)


def logged_in_subscription(settings: AzureSettings, run: Runner) -> str | None:
    """`az account show`'s subscription, or None when az is absent or says nothing."""
    az_cli = shutil.which("az", path=settings.get("PATH") or None)
    if az_cli is None:
        return None
    try:
        out = run([az_cli, "account", "show", "--query", "id", "-o", "tsv"], AZ_TIMEOUT)
    except (OSError, subprocess.SubprocessError):
        return None  # not logged in with az: the credential may be a service principal
    return out.strip().lower() or None


def choose_subscription(settings: AzureSettings, logged_in: str | None) -> tuple[str, str]:
    """The subscription to use and how it was chosen; refuses an unconfirmed mismatch."""
    configured = settings.get("AZURE_SUBSCRIPTION_ID").lower()
    source = settings.sources.get("AZURE_SUBSCRIPTION_ID", "settings")
    confirmed = settings.get(CONFIRM).lower()
    if confirmed and confirmed not in (logged_in, configured):
        raise PlatformUnavailable(
            f"{CONFIRM}={confirmed} names neither the logged-in subscription "
            f"({logged_in or 'unknown'}) nor AZURE_SUBSCRIPTION_ID ({configured or 'unset'})",
            hint=f"unset {CONFIRM} or set it to the subscription you mean",
        )
    if logged_in and configured and logged_in != configured:
        if confirmed in (logged_in, configured):
            return confirmed, f"(confirmed with {CONFIRM})"
        raise PlatformUnavailable(
            f"subscription mismatch: you are logged in to {logged_in} (az account show) but "
            f"AZURE_SUBSCRIPTION_ID from {source} is {configured}",
            hint=f"say which one to use: `az account set --subscription {configured}`, or "
            f"`azd env set AZURE_SUBSCRIPTION_ID {logged_in}`, or rerun with "
            f"{CONFIRM}=<the id you mean>",
        )
    if logged_in:
        return logged_in, "(az account show)"
    if configured:
        return configured, f"(AZURE_SUBSCRIPTION_ID from {source})"
    raise PlatformUnavailable(
        "no Azure subscription: AZURE_SUBSCRIPTION_ID is not set and `az account show` gave none",
        hint="run `az login` then `az account set --subscription <id>`, or export "
        "AZURE_SUBSCRIPTION_ID=<id> (`azd env refresh` sets it for azd projects)",
    )
