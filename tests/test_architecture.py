"""docs/architecture.md names every module under src/elb_upgrade/, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "elb_upgrade"
DOC = ROOT / "docs" / "architecture.md"


def listed_modules() -> set[str]:
    rows = re.findall(r"^\| `([\w/]+\.py)` \| .+ \|$", DOC.read_text(), flags=re.M)
    return set(rows)


def actual_modules() -> set[str]:
    return {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")}


def test_every_module_is_named_once_in_the_architecture_doc() -> None:
    listed, actual = listed_modules(), actual_modules()
    assert not actual - listed, f"add to docs/architecture.md: {sorted(actual - listed)}"
    assert not listed - actual, f"gone from src, drop from the doc: {sorted(listed - actual)}"


def test_nothing_cites_documents_outside_the_repo() -> None:
    seed = "se" + "ed"  # spelt apart so this file does not match itself
    pattern = re.compile(rf"DESIGN\.md|the {seed}\b|{seed}'s", re.I)
    found = []
    for folder in ("src", "tests", "docs", "examples", "bench", "scripts"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in {".py", ".md", ".sh", ".toml", ".html", ""}:
                text = path.read_text(errors="replace")
                found += [f"{path.relative_to(ROOT)}" for _ in pattern.findall(text)[:1]]
    readme = (ROOT / "README.md").read_text()
    found += ["README.md"] * bool(pattern.search(readme))
    assert found == []


OWN_FOLDERS = {"fakes", "reliability", "packaging", "live"}


def test_tests_mirror_src() -> None:
    """Every folder of tests/ is a package of src/elb_upgrade/ or one the doc names."""
    tests = ROOT / "tests"
    packages = {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*") if p.is_dir()}
    modules = {m.removesuffix(".py") for m in actual_modules()}
    folders = {
        p.relative_to(tests).as_posix()
        for p in tests.rglob("*")
        if p.is_dir() and any(p.glob("test_*.py"))
    }
    strays = {
        f for f in folders if f.split("/")[0] not in OWN_FOLDERS and f not in packages | modules
    }
    assert strays == set(), f"move these under a src/ path or name them in the doc: {strays}"
    table = DOC.read_text().split("## Tests", 1)[1]
    assert set(re.findall(r"^\| `(\w+)/` \|", table, flags=re.M)) == OWN_FOLDERS
