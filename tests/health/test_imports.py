"""Import weight: the package, and `hint_for` the CLI uses, pull in no optional or heavy SDK."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from elb_upgrade.health import hint_for
from elb_upgrade.health.hints import known_error_classes

DOCS = Path(__file__).resolve().parents[2] / "docs" / "health.md"
HEAVY = ("fastapi", "starlette", "redis", "azure", "httpx", "pydantic")


def loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {name.split(".")[0] for name in out.stdout.split()}


def test_importing_the_package_and_hints_loads_nothing_heavy() -> None:
    loaded = loaded_after("import elb_upgrade.health; from elb_upgrade.health import hint_for")
    assert loaded.isdisjoint(HEAVY), loaded & set(HEAVY)


def test_fastapi_is_imported_only_by_the_router_module() -> None:
    package = Path(__file__).resolve().parents[2] / "src" / "elb_upgrade" / "health"
    importers = {
        p.relative_to(package).as_posix()
        for p in package.rglob("*.py")
        if "import fastapi" in p.read_text() or "from fastapi" in p.read_text()
    }
    assert importers == {"router.py"}


def test_hint_for_known_and_unknown_classes() -> None:
    assert "managed identity" in hint_for("ClientAuthenticationError")
    assert "DNS" in hint_for("ServiceRequestError")
    assert "RBAC" in hint_for("HttpResponseError") and "firewall" in hint_for("HttpResponseError")
    assert "slow or unreachable" in hint_for("TimeoutError")
    assert hint_for("SomethingNew") == "read the error text and the app's logs for this component"


def test_docs_table_lists_every_error_class_with_a_hint() -> None:
    text = DOCS.read_text()
    missing = [name for name in known_error_classes() if f"`{name}`" not in text]
    assert missing == []
