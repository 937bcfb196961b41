"""`elb-upgrade status` against the fake platform and a local readiness server."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from elb_upgrade import snapshot
from elb_upgrade.health.hints import hint_for
from elb_upgrade.platforms.base import AppState, ContainerImage
from fakes.platform import write_state
from fakes.readiness import ReadinessServer as Readiness
from fakes.sandbox import Env, entry, hold_lock, ready_body

RUNNING = {
    "api": "shop-api:t3",
    "worker": "shop-api:t3",
    "frontend": "shop-frontend:t3",
    "terminal": "shop-terminal:t3",
}


def _arrange(shop: Env, readiness: Readiness, snapshot_images: dict[str, str] | None) -> None:
    write_state(shop.env["FAKE_STATE"], "shop--3", RUNNING)
    readiness.set(200, ready_body("shop--3", redis={"status": "ok"}))
    shop.write_history(
        [
            entry("2026-05-01T10:00:00Z", "full", "success", 127, tag="20260501100000-abc1234"),
            entry("2026-05-02T10:00:00Z", "api", "success", 50, app="blog"),
        ]
    )
    if snapshot_images is not None:
        state = AppState("shop--2", tuple(ContainerImage(n, i) for n, i in snapshot_images.items()))
        snap = snapshot.Snapshot("shop", "fake", "2026-05-01T10:00:01Z", state)
        snapshot.write(shop.snapshot, snap)


def test_a_healthy_app_in_words(shop: Env, readiness: Readiness) -> None:
    _arrange(shop, readiness, RUNNING)
    done = shop.run("status")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == [
        "app shop on fake",
        "running: revision shop--3",
        "  api       shop-api:t3",
        "  worker    shop-api:t3",
        "  frontend  shop-frontend:t3",
        "  terminal  shop-terminal:t3",
        f"readiness: HTTP 200 ready, revision shop--3 ({readiness.url})",
        "  redis  ok",
        f"lock: free: no run holds {shop.snapshot}.lock",
        "last run: 2026-05-01T10:00:00Z full → success (127s, tag 20260501100000-abc1234)",
        "snapshot: snapshot of shop--2 taken 2026-05-01T10:00:01Z matches what runs "
        "(a rollback would change nothing)",
    ]


def test_status_json_has_a_stable_key_set(shop: Env, readiness: Readiness) -> None:
    _arrange(shop, readiness, RUNNING)
    done = shop.run("status", "--json")
    assert done.returncode == 0
    data = json.loads(done.stdout)
    assert list(data) == [
        "version", "app", "platform", "running", "platform_error", "readiness", "lock",
        "last_run", "history_error", "snapshot", "routes", "routes_error",
    ]  # fmt: skip
    assert data["running"] == {
        "revision": "shop--3",
        "images": [{"name": n, "image": i} for n, i in RUNNING.items()],
    }
    assert data["readiness"] == {
        "url": readiness.url,
        "http_status": 200,
        "status": "ready",
        "revision": "shop--3",
        "components": [{"name": "redis", "status": "ok", "error_class": ""}],
        "error": "",
    }
    assert (data["lock"]["state"], data["last_run"]["app"]) == ("free", "shop")
    assert data["snapshot"]["state"] == "matches" and data["snapshot"]["differences"] == []


def test_a_down_component_shows_its_error_class_and_first_action(
    shop: Env, readiness: Readiness
) -> None:
    _arrange(shop, readiness, RUNNING)
    storage = {"status": "down", "error": "denied", "error_class": "HttpResponseError"}
    readiness.set(503, ready_body("shop--3", redis={"status": "ok"}, azure_storage=storage))
    done = shop.run("status")
    assert done.returncode == 1
    assert f"readiness: HTTP 503 not_ready, revision shop--3 ({readiness.url})" in done.stdout
    line = f"  azure_storage  down  HttpResponseError → {hint_for('HttpResponseError')}"
    assert line in done.stdout.splitlines()
    data = json.loads(shop.run("status", "--json").stdout)
    assert data["readiness"]["components"][1] == {
        "name": "azure_storage",
        "status": "down",
        "error_class": "HttpResponseError",
    }


def test_a_differing_snapshot_lists_what_a_rollback_would_restore(
    shop: Env, readiness: Readiness
) -> None:
    _arrange(shop, readiness, {**RUNNING, "api": "shop-api:t2", "worker": "shop-api:t2"})
    lines = shop.run("status").stdout.splitlines()
    assert lines[-3:] == [
        "snapshot: snapshot of shop--2 taken 2026-05-01T10:00:01Z differs from what runs; "
        "`elb-upgrade rollback` would restore:",
        "  api: snapshot shop-api:t2, running shop-api:t3",
        "  worker: snapshot shop-api:t2, running shop-api:t3",
    ]


def test_no_snapshot_and_no_history_say_so(shop: Env, readiness: Readiness) -> None:
    _arrange(shop, readiness, None)
    shop.history.unlink()
    lines = shop.run("status").stdout.splitlines()
    assert "last run: none recorded for shop" in lines
    assert lines[-1].startswith(f"snapshot: missing: no snapshot at {shop.snapshot}: ")


def test_an_unreachable_platform_is_one_line_and_exit_1(shop: Env, readiness: Readiness) -> None:
    _arrange(shop, readiness, RUNNING)
    write_state(shop.env["FAKE_STATE"], "", {}, down=True)
    done = shop.run("status")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[1] == "running: unknown: the fake engine is down → start the fake engine"
    assert "(cannot compare: the platform did not answer)" in lines[-1]
    assert json.loads(shop.run("status", "--json").stdout)["running"] is None


def test_no_readiness_answer_is_reported(shop: Env, readiness: Readiness) -> None:
    _arrange(shop, readiness, RUNNING)
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    shop.env["READINESS_URL"] = f"http://127.0.0.1:{port}/api/health/ready"
    done = shop.run("status")
    assert done.returncode == 1
    assert f"readiness: no answer from http://127.0.0.1:{port}/api/health/ready: Connect" in (
        done.stdout
    )


def test_a_held_lock_is_shown(shop: Env, readiness: Readiness) -> None:
    _arrange(shop, readiness, RUNNING)
    holder = hold_lock(Path(f"{shop.snapshot}.lock"), shop.env)
    try:
        done = shop.run("status")
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 0  # the app is fine; someone is deploying it
    assert f"lock: held by pid {holder.pid}, " in done.stdout


def test_a_missing_config_is_a_one_line_error(sandbox: Env) -> None:
    done = sandbox.run("status")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith("error: no elb-upgrade.toml in ")
    assert len(done.stderr.splitlines()) == 1


def test_an_unknown_platform_is_a_one_line_error(shop: Env, readiness: Readiness) -> None:
    config = Path(shop.env["ELB_UPGRADE_CONFIG"])
    config.write_text(config.read_text().replace("fakes.platform:FakePlatform", "dokcer"))
    done = shop.run("status")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "error: unknown platform 'dokcer' → use one of: azure, docker (or a module:Class "
        "import path)\n"
    )
