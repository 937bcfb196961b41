"""Fixtures shared by the whole suite (each area adds its own in its folder)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from appkit import App, app_fixture

# A test's verdict may not depend on machine load (2 cores shared with other test runs):
# no per-example deadline, and no health check that fails a test for being slow to
# generate or for generating big data. Loaded always; a test's own @settings adds to it.
LOAD_INDEPENDENT = "load-independent"
SLOW_OK = (HealthCheck.too_slow, HealthCheck.data_too_large)
settings.register_profile(LOAD_INDEPENDENT, deadline=None, suppress_health_check=SLOW_OK)
settings.load_profile(LOAD_INDEPENDENT)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    """A committed git checkout of a fake app, already running v1, with its readiness server."""
    yield from app_fixture(tmp_path)


@pytest.fixture
def restored_signals() -> Iterator[None]:
    """In-process runs install SIGINT/SIGTERM/SIGHUP handlers: put pytest's back afterwards."""
    held = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    saved = {s: signal.getsignal(s) for s in held}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)
