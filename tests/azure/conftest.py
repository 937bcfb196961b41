"""Fixtures for the azure platform tests: the stand-in, settings pointing at it, a
static-token credential and a platform built with both."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken

# This folder is not a package (it would shadow the `azure` namespace of the SDK), so its
# helper modules are found by putting the folder itself on the path.
sys.path.insert(0, str(Path(__file__).parent))

from fakeazure import FakeAzure
from standin import ACCOUNT, APP, REGISTRY, RG, SUB

from elb_upgrade.platforms.azure import AzurePlatform
from elb_upgrade.platforms.base import AppSpec, ContainerSpec, ImageSpec
from fakes.clock import FakeClock


class StaticToken:
    """A TokenCredential that always has a token (or always fails with `error`)."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **_kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        if self.error is not None:
            raise self.error
        return AccessToken("arm-token-for-tests", int(time.time()) + 3600)

    def close(self) -> None:
        pass


@pytest.fixture
def azure(tmp_path: Path) -> Iterator[FakeAzure]:
    fake = FakeAzure(tmp_path)
    try:
        yield fake
    finally:
        fake.close()


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    """An otherwise empty PATH: no real `az` / `azd` of the machine leaks in."""
    folder = tmp_path / "bin"
    folder.mkdir()
    return folder


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


@pytest.fixture
def make_platform(azure: FakeAzure, bin_dir: Path) -> MakePlatform:
    """`make_platform(credential=..., **settings)`: a platform wired to the stand-in."""

    def make(
        credential: StaticToken | None = None, clock: FakeClock | None = None, **extra: str
    ) -> AzurePlatform:
        token = credential or StaticToken()
        return AzurePlatform(
            app_spec(settings_for(azure, bin_dir, **extra)),
            credential_factory=lambda: token,
            clock=clock or FakeClock(),
        )

    return make


@pytest.fixture
def platform(make_platform: MakePlatform) -> AzurePlatform:
    return make_platform()


class Lines(list[str]):
    """A LogSink that keeps what it was told."""

    def __call__(self, line: str) -> None:
        self.append(line)

    def text(self) -> str:
        return "\n".join(self)


@pytest.fixture
def log() -> Lines:
    return Lines()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A hung request to the stand-in fails its test in a minute, not the suite's five."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.timeout(60))
