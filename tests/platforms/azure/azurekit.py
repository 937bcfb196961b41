"""Helpers for the azure platform tests (imported by name: `conftest` is ambiguous here)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from azure.core.credentials import AccessToken
from fakeazure import FakeAzure
from standin import ACCOUNT, APP, REGISTRY, RG, SUB, TENANT, jwt

from elb_upgrade.platforms.azure import AzurePlatform
from elb_upgrade.spec import AppSpec, ContainerSpec, ImageSpec


class StaticToken:
    """A TokenCredential handing out JWT-shaped tokens for the scope asked (audience, tenant,
    expiry), or always failing with `error`. `lifetime` < 0 hands out expired tokens,
    `audience` overrides the audience written into them."""

    def __init__(
        self, error: Exception | None = None, lifetime: int = 3600, audience: str = ""
    ) -> None:
        self.error = error
        self.lifetime, self.audience = lifetime, audience
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **_kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        if self.error is not None:
            raise self.error
        expires = int(time.time()) + self.lifetime
        audience = self.audience or scopes[0].removesuffix("/.default")
        return AccessToken(jwt({"aud": audience, "tid": TENANT, "exp": expires}), expires)

    def close(self) -> None:
        pass


def settings_for(azure: FakeAzure, bin_dir: Path, **extra: str) -> dict[str, str]:
    return {
        "AZURE_RESOURCE_MANAGER_URL": azure.url,
        "ELB_UPGRADE_AZURE_CA_BUNDLE": str(azure.ca_path),
        "AZURE_SUBSCRIPTION_ID": SUB,
        "AZURE_RESOURCE_GROUP": RG,
        "CONTAINER_APP_NAME": APP,
        "CONTAINER_APP_FQDN": f"{APP}.kindsea-4f2a1c.eastus.azurecontainerapps.io",
        "ACR_NAME": REGISTRY,
        "ACR_LOGIN_SERVER": azure.host,
        "AZURE_TABLE_ENDPOINT": f"https://{ACCOUNT}.table.core.windows.net",
        "ELB_UPGRADE_AZURE_POLL_SECONDS": "0",
        "ELB_UPGRADE_ACR_POLL_SECONDS": "0",
        "ELB_UPGRADE_AZURE_BACKOFF_SECONDS": "0",
        "PATH": str(bin_dir),
        **extra,
    }


def app_spec(settings: dict[str, str], context: Path | None = None) -> AppSpec:
    root = context or Path(".")
    return AppSpec(
        name="elb-dashboard",
        containers=(
            ContainerSpec("api", "api"),
            ContainerSpec("worker", "api"),
            ContainerSpec("frontend", "frontend"),
        ),
        images=(
            ImageSpec(
                "api",
                "elb-dashboard-api",
                root / "api",
                build_args={"BASE_IMAGE": "elb-base:bookworm"},
            ),
            ImageSpec("frontend", "elb-dashboard-frontend", root / "frontend"),
        ),
        main_container="api",
        settings=settings,
    )


MakePlatform = Callable[..., AzurePlatform]


class Lines(list[str]):
    """A LogSink that keeps what it was told."""

    def __call__(self, line: str) -> None:
        self.append(line)

    def text(self) -> str:
        return "\n".join(self)
