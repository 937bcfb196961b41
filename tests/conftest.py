"""Fixtures shared by the whole suite (each area adds its own in its folder)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appkit import App, app_fixture


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    """A committed git checkout of a fake app, already running v1, with its readiness server."""
    yield from app_fixture(tmp_path)
