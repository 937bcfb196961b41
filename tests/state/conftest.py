"""Team mode runs against Azurite (scripts/setup.sh's, else a private one) with a fresh
container per test; a test that cuts storage off does it through its own relay
(`fakes.services.TcpRelay`), never by stopping Azurite."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fakes.services import AzuriteService, any_azurite
from state.statekit import new_container


@pytest.fixture(scope="session")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzuriteService]:
    with any_azurite(tmp_path_factory.mktemp("azurite-state")) as service:
        yield service


@pytest.fixture
def container(storage: AzuriteService) -> Iterator[tuple[str, Any]]:
    url, client = new_container(storage.blob_port)
    try:
        yield url, client
    finally:
        client.delete_container()
