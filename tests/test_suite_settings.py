"""The suite's own settings: a test's verdict may not depend on machine load."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, settings

TESTS = Path(__file__).resolve().parent
SLOW_OK = {HealthCheck.too_slow, HealthCheck.data_too_large}
PROPERTY_FILES = sorted(
    p
    for p in TESTS.rglob("test_*.py")
    if "@given(" in p.read_text() and p != Path(__file__).resolve()
)


def _load(path: Path) -> ModuleType:
    sys.path.insert(0, str(path.parent))  # as its folder's conftest does
    try:
        spec = importlib.util.spec_from_file_location(f"_settings_check_{path.stem}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(path.parent))


def test_hypothesis_has_no_deadline_and_no_slowness_health_checks() -> None:
    """`Input generation is slow` failed a fresh-clone run on a busy machine."""
    current = settings()
    assert current.deadline is None
    assert set(current.suppress_health_check) >= SLOW_OK


@pytest.mark.parametrize("path", PROPERTY_FILES, ids=lambda p: p.relative_to(TESTS).as_posix())
def test_every_property_test_keeps_the_profile(path: Path) -> None:
    """A test's own @settings must add to the profile, not replace its suppressions."""
    module = _load(path)
    given = [
        getattr(module, n)
        for n in dir(module)
        if n.startswith("test_") and hasattr(getattr(module, n), "hypothesis")
    ]
    assert given, f"no property tests in {path}"
    for test in given:
        chosen = test._hypothesis_internal_use_settings
        assert chosen.deadline is None, test.__name__
        assert set(chosen.suppress_health_check) >= SLOW_OK, test.__name__
