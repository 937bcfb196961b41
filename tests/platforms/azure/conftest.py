"""Fixtures for the azure platform tests: the stand-in, settings pointing at it, a
static-token credential and a platform built with both."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# This folder is not a package (it would shadow the `azure` namespace of the SDK), so its
# helper modules are found by putting the folder itself on the path.
sys.path.insert(0, str(Path(__file__).parent))

from azurekit import Lines, MakePlatform, StaticToken, app_spec, settings_for
from fakeazure import FakeAzure

from elb_upgrade.platforms.azure import AzurePlatform
from fakes.clock import FakeClock


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


@pytest.fixture
def log() -> Lines:
    return Lines()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A hung request to the stand-in fails its test in a minute, not the suite's five."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.timeout(60))
