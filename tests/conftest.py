"""Fixtures shared by the whole suite (each area adds its own in its folder)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from appkit import App, app_fixture


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
