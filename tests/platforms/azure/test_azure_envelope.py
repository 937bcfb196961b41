"""The whole envelope on the azure platform: config `platform = "azure"`, the registry
builds `AzurePlatform(app)`, the SDK talks to the stand-in, a local HTTP server stands in
for the app's readiness endpoint (answering as the revision Azure would route to)."""

from __future__ import annotations

import io
import json
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azurekit import StaticToken, settings_for
from fakeazure import FakeAzure, digest_of, json_images
from standin import APP, OLD_TAG

from elb_upgrade import run
from elb_upgrade.platforms.azure import session
from elb_upgrade.run import Options
from elb_upgrade.ui import PlainReporter
from fakes.clock import FakeClock
from fakes.git import commit_all, git
from fakes.readiness import ReadinessServer

CONFIG = """\
[app]
name = "elb-dashboard"
platform = "azure"
readiness_url = "{url}"
main_container = "api"

[images.api]
repository = "elb-dashboard-api"
context = "api"
build_args = {{ BASE_IMAGE = "elb-base:bookworm" }}

[images.frontend]
repository = "elb-dashboard-frontend"
context = "frontend"

[containers.api]
image = "api"

[containers.worker]
image = "api"

[containers.frontend]
image = "frontend"

[scopes]
api = ["api"]
full = ["api", "frontend"]

[platform]
{platform}
"""


def readiness_for(azure: FakeAzure) -> ReadinessServer:
    """The app's readiness endpoint as the app FQDN would answer: from the serving revision."""

    def answer() -> tuple[int, dict[str, Any]]:
        with azure.lock:
            revision = azure.serving()
            images = json_images(azure.revisions[revision])
        if "notready" in images:
            return 503, {
                "status": "not_ready",
                "revision": revision,
                "components": {
                    "azure_storage": {
                        "status": "down",
                        "error_class": "HttpResponseError",
                        "error": "This request is not authorized",
                    }
                },
                "retryable": True,
                "retry_after_seconds": 30,
            }
        return 200, {
            "status": "ready",
            "version": "1.0",
            "revision": revision,
            "components": {"azure_storage": {"status": "ok"}},
            "retryable": False,
            "retry_after_seconds": None,
        }

    return ReadinessServer(answer)


@dataclass
class Checkout:
    root: Path
    tmp: Path
    ui_out: io.StringIO

    def run(self, scope: str, **options: Any) -> run.Finished:
        self.ui_out.seek(0)
        self.ui_out.truncate()
        environ = {
            "ELB_UPGRADE_HISTORY": str(self.tmp / "history.jsonl"),
            "ELB_UPGRADE_SNAPSHOT": str(self.tmp / "snapshot.json"),
            "ELB_UPGRADE_STATE_DIR": str(self.tmp),
            "HOME": str(self.tmp),
            "PATH": os.environ["PATH"],
        }
        opts = Options(scope=scope, yes=True, health_interval=1.0, **options)
        ui = PlainReporter(self.ui_out, None)
        return run.upgrade(opts, environ, self.root, ui, run.Edges(clock=FakeClock()))

    @property
    def output(self) -> str:
        return self.ui_out.getvalue()

    def history(self) -> list[dict[str, Any]]:
        path = self.tmp / "history.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()]

    def snapshot(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.tmp / "snapshot.json").read_text())
        return data


@pytest.fixture
def checkout(
    azure: FakeAzure, bin_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Checkout]:
    monkeypatch.setattr(session, "default_credential", StaticToken)
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    readiness = readiness_for(azure)
    root = tmp_path / "checkout"
    for folder in ("api", "frontend"):
        (root / folder).mkdir(parents=True)
        (root / folder / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM $BASE_IMAGE\n")
    table = "\n".join(f'{k} = "{v}"' for k, v in settings_for(azure, bin_dir).items())
    (root / "elb-upgrade.toml").write_text(CONFIG.format(url=readiness.url, platform=table))
    git(root, "init", "-q", "-b", "main")
    commit_all(root, "app")
    try:
        yield Checkout(root, tmp_path, io.StringIO())
    finally:
        readiness.close()
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def old(azure: FakeAzure, repository: str = "elb-dashboard-api") -> str:
    return azure.image(repository, OLD_TAG)


def built(azure: FakeAzure, repository: str, tag: str) -> str:
    """What a build deploys: the run's output digest."""
    return f"{azure.host}/{repository}@{digest_of(f'{repository}:{tag}')}"


def test_full_upgrade_succeeds(checkout: Checkout, azure: FakeAzure) -> None:
    done = checkout.run("full", tag="20260523120000-58cc179")
    assert done.outcome.result == "success", checkout.output
    assert done.exit_code == 0
    new_api = built(azure, "elb-dashboard-api", "20260523120000-58cc179")
    assert azure.images() == {
        "api": new_api,
        "worker": new_api,
        "migrate": old(azure),  # not a config container
        "frontend": built(azure, "elb-dashboard-frontend", "20260523120000-58cc179"),
    }
    assert len(azure.made("POST", "/scheduleRun$")) == 2
    assert len(azure.updates()) == 1  # every changed container in one update
    assert done.outcome.revision == f"{APP}--r00002" == azure.serving()
    snap = checkout.snapshot()
    assert snap["platform"] == "azure" and snap["revision"] == f"{APP}--r00001"
    assert {"name": "api", "image": old(azure)} in [
        {"name": i["name"], "image": i["image"]} for i in snap["images"]
    ]
    [line] = checkout.history()
    assert line["result"] == "success" and line["tag"] == "20260523120000-58cc179"
    assert "storage parity: stelbdash allows public network access" in checkout.output


def test_crash_looping_revision_is_rolled_back_at_once(
    checkout: Checkout, azure: FakeAzure
) -> None:
    done = checkout.run("api", tag="crashloop", health_timeout=600.0)
    assert done.outcome.result == "upgrade_failed_rolled_back", checkout.output
    assert "crash loop" in checkout.output
    assert len(azure.updates()) == 2  # the deploy and the restore
    assert azure.images()["api"] == old(azure)
    assert azure.serving() == f"{APP}--r00003" == done.outcome.revision
    assert checkout.history()[0]["result"] == "upgrade_failed_rolled_back"


def test_readiness_failure_is_rolled_back(checkout: Checkout, azure: FakeAzure) -> None:
    done = checkout.run("api", tag="notready", health_timeout=20.0)
    assert done.outcome.result == "upgrade_failed_rolled_back", checkout.output
    assert "azure_storage: down (HttpResponseError)" in checkout.output
    assert azure.images()["worker"] == old(azure)


def test_rollback_scope_restores_the_snapshot(checkout: Checkout, azure: FakeAzure) -> None:
    assert checkout.run("api", tag="v2").outcome.result == "success"
    done = checkout.run("rollback")
    assert done.outcome.result == "rollback_success", checkout.output
    assert done.exit_code == 0
    assert azure.images()["api"] == old(azure)
    assert azure.serving() == f"{APP}--r00003"
    assert len(azure.made("POST", "/scheduleRun$")) == 1  # a rollback builds nothing
    assert "storage parity check skipped for rollback" in checkout.output
    assert [h["result"] for h in checkout.history()] == ["success", "rollback_success"]


def test_rollback_to_a_purged_tag_is_refused_up_front(checkout: Checkout, azure: FakeAzure) -> None:
    assert checkout.run("api", tag="v2").outcome.result == "success"
    azure.tags.discard(f"elb-dashboard-api:{OLD_TAG}")  # an acr purge ran meanwhile
    done = checkout.run("rollback")
    assert (done.outcome.result, done.exit_code) == ("aborted", 1)  # nothing was changed
    assert f"no longer exist: {old(azure)}; nothing was changed" in checkout.output
    assert len(azure.updates()) == 1  # only the upgrade's
    assert azure.images()["api"] == built(azure, "elb-dashboard-api", "v2")
    assert azure.made("GET", f"/acr/v1/elb-dashboard-api/_tags/{OLD_TAG}$")


def test_parity_rejection_stops_before_anything_is_built(
    checkout: Checkout, azure: FakeAzure
) -> None:
    azure.account["properties"]["publicNetworkAccess"] = "Disabled"
    azure.connections = []
    done = checkout.run("api", tag="v2")
    assert done.outcome.result == "parity_rejected"
    assert azure.made("POST", "/scheduleRun$") == [] and azure.updates() == []
    assert "--skip-parity-check" in checkout.output


@pytest.mark.parametrize(
    ("refusal", "said"),
    [
        ("acr_pull", "authentication required, visit https://aka.ms/acr/authorization"),
        ("acr_firewall", "client with IP '127.0.0.1' is not allowed access"),
    ],
)
def test_a_registry_refusal_before_any_change_exits_1_without_a_rollback(
    checkout: Checkout, azure: FakeAzure, refusal: str, said: str
) -> None:
    assert checkout.run("api", tag="v2").outcome.result == "success"
    azure.tags.discard(f"elb-dashboard-api:{OLD_TAG}")  # (irrelevant: refused before asking)
    setattr(azure, refusal, refusal != "acr_pull")
    done = checkout.run("api", tag="v3")
    assert done.exit_code == 1, checkout.output
    assert done.outcome.result != "rollback_failed"
    assert said in checkout.output
    assert "auto-rollback" not in checkout.output
    assert len(azure.updates()) == 1  # only the first run's
