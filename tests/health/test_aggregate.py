"""The readiness body is a contract: its keys, codes and rules are pinned here (pure)."""

from __future__ import annotations

import json

from elb_upgrade.health import ComponentView, aggregate, degraded, down, liveness, ok, skipped
from elb_upgrade.health.aggregate import LIVENESS_KEYS, READY_KEYS
from elb_upgrade.health.result import ComponentResult

AT = "2026-05-23T03:22:48.000Z"
COMMON = {"status", "critical", "checked_at", "age_seconds"}


def view(result: ComponentResult, critical: bool = True) -> ComponentView:
    return ComponentView(result, critical, AT, 1.5)


def test_all_ok_is_200_with_exact_keys_in_contract_order() -> None:
    report = aggregate({"redis": view(ok())}, version="1.2.3", revision="rev-7")
    assert report.status_code == 200
    assert list(report.body) == list(READY_KEYS)
    assert report.body == {
        "status": "ready",
        "version": "1.2.3",
        "revision": "rev-7",
        "components": {
            "redis": {"status": "ok", "critical": True, "checked_at": AT, "age_seconds": 1.5}
        },
        "retryable": False,
        "retry_after_seconds": None,
    }


def test_critical_down_is_503_retryable_with_retry_after() -> None:
    components = {"redis": view(ok()), "azure_storage": view(down("403", "HttpResponseError"))}
    report = aggregate(components, version="1", revision="r", retry_after_seconds=30)
    assert report.status_code == 503
    assert list(report.body) == list(READY_KEYS)
    assert report.body["status"] == "not_ready"
    assert report.body["retryable"] is True and report.body["retry_after_seconds"] == 30


def test_non_critical_down_is_reported_but_still_200() -> None:
    components = {"redis": view(ok()), "terminal": view(down("refused", "ConnectError"), False)}
    report = aggregate(components, version="1", revision="r")
    assert report.status_code == 200
    assert report.body["components"]["terminal"]["status"] == "down"


def test_skipped_and_degraded_never_fail_readiness() -> None:
    components = {"a": view(skipped("X not set")), "b": view(degraded("starting"))}
    assert aggregate(components, version="1", revision="r").status_code == 200


def test_component_key_sets_per_status() -> None:
    components = {
        "ok": view(ok()),
        "skipped": view(skipped("AZURE_TABLE_ENDPOINT not set")),
        "degraded": view(degraded("sidecar says: starting")),
        "down": view(down("boom", "TimeoutError")),
    }
    body = aggregate(components, version="1", revision="r").body["components"]
    assert set(body["ok"]) == COMMON
    assert set(body["skipped"]) == COMMON | {"reason"}
    assert set(body["degraded"]) == COMMON | {"reason"}
    assert set(body["down"]) == COMMON | {"error", "error_class"}
    assert body["skipped"]["reason"] == "AZURE_TABLE_ENDPOINT not set"
    assert body["down"]["error_class"] == "TimeoutError"


def test_hidden_details_keep_status_only_and_the_same_code() -> None:
    components = {"azure_storage": view(down("host x.internal refused", "ServiceRequestError"))}
    shown = aggregate(components, version="1", revision="r")
    hidden = aggregate(components, version="1", revision="r", details=False)
    assert hidden.status_code == shown.status_code == 503
    assert hidden.body["components"] == {"azure_storage": {"status": "down"}}
    assert list(hidden.body) == list(READY_KEYS)


def test_no_components_is_ready() -> None:
    assert aggregate({}, version="1", revision="r").status_code == 200


def test_liveness_body_exact_keys() -> None:
    body = liveness(version="1", revision="r")
    assert list(body) == list(LIVENESS_KEYS) == ["status", "version", "revision"]
    assert body["status"] == "ok"


def test_body_is_json_serializable() -> None:
    report = aggregate({"x": view(down("e", "E"))}, version="1", revision="r")
    assert json.loads(json.dumps(report.body)) == report.body
