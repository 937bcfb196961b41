"""Team mode runs against a private Azurite (so a test may cut it off without touching
anyone else's) and a fresh container per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fakes.services import AzuriteService, azurite
from state.statekit import new_container


@pytest.fixture(scope="session")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzuriteService]:
    with azurite(tmp_path_factory.mktemp("azurite-state")) as service:
        yield service


@pytest.fixture
def container(storage: AzuriteService) -> Iterator[tuple[str, Any]]:
    url, client = new_container(storage.blob_port)
    try:
        yield url, client
    finally:
        client.delete_container()
