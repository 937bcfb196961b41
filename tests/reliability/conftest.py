"""Fixtures for the reliability suite (tests/fakes/app.py and tests/fakes/ do the heavy lifting)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes.app import App, make_app

# A soak run repeats the race, crash and signal scenarios: ELB_RELIABILITY_REPEAT=10.
REPEAT = max(1, int(os.environ.get("ELB_RELIABILITY_REPEAT", "1")))


@pytest.fixture(params=range(REPEAT), ids=lambda i: f"round{i}")
def soak(request: pytest.FixtureRequest) -> int:
    """Use with `@pytest.mark.usefixtures("soak")`: the test runs REPEAT times."""
    return int(request.param)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    """The shared `app` fixture, but its readiness server stops in the background.

    Stopping it waits for the server loop's half-second poll; over a hundred tests that
    is most of a minute of this suite's budget spent waiting for nothing.
    """
    app = make_app(tmp_path)
    yield app
    threading.Thread(target=app.server.close, daemon=True).start()
