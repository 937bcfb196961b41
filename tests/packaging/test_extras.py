"""A plain install of the wheel is docker-only: no Azure SDK, no redis, and still works.

Built and installed into a fresh virtual environment (uv, from its cache), then run as an
operator would: `--help`, a docker `--dry-run` against the real engine, and the one-line
errors that name the extra when the azure platform or a health probe needs one.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes.app import GIT_ENV

ROOT = Path(__file__).resolve().parents[2]

CONFIG = """\
[app]
name = "{name}"
platform = "{platform}"
readiness_url = "http://127.0.0.1:9/ready"

[images.api]
repository = "{name}-api"
context = "api"

[containers.api]
image = "api"

[scopes]
api = ["api"]
"""


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The `elb-upgrade` of a venv with the wheel and no extras."""
    where = tmp_path_factory.mktemp("bare")
    subprocess.run(
        ["uv", "build", "--wheel", "--quiet", "--out-dir", str(where / "dist")],
        cwd=ROOT,
        check=True,
    )
    [wheel] = (where / "dist").glob("*.whl")
    subprocess.run(["uv", "venv", "--quiet", str(where / "venv")], check=True)
    python = where / "venv" / "bin" / "python"
    subprocess.run(
        ["uv", "pip", "install", "--quiet", "--python", str(python), str(wheel)], check=True
    )
    yield where / "venv" / "bin"


def checkout(tmp_path: Path, platform: str) -> Path:
    root = tmp_path / "app"
    (root / "api").mkdir(parents=True)
    (root / "api" / "Dockerfile").write_text("FROM scratch\n")
    name = f"bare-{tmp_path.name[-8:].lower().strip('-_.') or 'x'}"
    (root / "elb-upgrade.toml").write_text(CONFIG.format(name=name, platform=platform))
    env = {**os.environ, **GIT_ENV}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "app"]):
        subprocess.run(["git", *args], cwd=root, check=True, env=env)
    return root


def run(bin_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELB_UPGRADE")}
    env["ELB_UPGRADE_HISTORY"] = str(cwd.parent / "history.jsonl")
    env["ELB_UPGRADE_SNAPSHOT"] = str(cwd.parent / "snapshot.json")
    return subprocess.run(
        [str(bin_dir / "elb-upgrade"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_no_azure_or_redis_is_installed(bare: Path) -> None:
    probe = "import importlib.util as u; print(u.find_spec('azure'), u.find_spec('redis'))"
    done = subprocess.run([str(bare / "python"), "-c", probe], capture_output=True, text=True)
    assert done.stdout.split() == ["None", "None"]


def test_help_runs(bare: Path, tmp_path: Path) -> None:
    done = run(bare, "--help", cwd=tmp_path)
    assert done.returncode == 0 and "elb-upgrade SCOPE" in done.stdout


def test_a_docker_dry_run_needs_no_extra(bare: Path, tmp_path: Path) -> None:
    root = checkout(tmp_path, "docker")
    done = run(bare, "api", "--dry-run", cwd=root)
    assert done.returncode == 0, done.stderr
    assert "dry run: nothing built, nothing deployed" in done.stderr


def test_the_azure_platform_names_its_extra(bare: Path, tmp_path: Path) -> None:
    root = checkout(tmp_path, "azure")
    done = run(bare, "api", "--dry-run", cwd=root)
    assert done.returncode == 2
    assert "the azure platform needs the [azure] extra" in done.stderr
    assert "pip install 'elb-upgrade[azure]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_health_probe_names_its_extra(bare: Path) -> None:
    code = "from elb_upgrade.health import redis_probe"
    done = subprocess.run([str(bare / "python"), "-c", code], capture_output=True, text=True)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert "elb_upgrade.health.redis_probe needs the [health] extra" in last
    assert "pip install 'elb-upgrade[health]'" in last
