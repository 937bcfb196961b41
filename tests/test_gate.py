"""The readiness gate's decisions, with a fake clock and scripted answers."""

from __future__ import annotations

import json
from collections.abc import Callable

from elb_upgrade.gate import GateSpec, wait_ready
from elb_upgrade.platforms.base import RevisionState, RevisionStatus
from elb_upgrade.readiness_body import Reply, parse, sanitize
from fakes.clock import FakeClock

RUNNING = RevisionStatus(RevisionState.RUNNING)


def ready(revision: str = "app--2") -> Reply:
    return Reply(200, json.dumps({"status": "ready", "revision": revision}).encode())


def scripted(clock: FakeClock, answers: Callable[[float], Reply]) -> Callable[[str, float], Reply]:
    return lambda _url, _timeout: answers(clock.monotonic() - 1000.0)


def test_passes_within_a_second_of_becoming_ready() -> None:
    clock = FakeClock()
    fetch = scripted(clock, lambda t: ready() if t >= 3.0 else Reply(503, b"{}"))
    verdict = wait_ready(GateSpec("u", "app--2", 180, 5), lambda: RUNNING, fetch, clock)
    assert verdict.passed
    assert 3.0 <= verdict.elapsed < 4.0  # cli-upgrade.sh's fixed 5 s polling would say 5


def test_backoff_starts_fast_and_caps_at_interval() -> None:
    clock = FakeClock()
    fetch = scripted(clock, lambda t: Reply(503, b"{}"))
    wait_ready(GateSpec("u", None, 300, 5), lambda: RUNNING, fetch, clock)
    assert clock.sleeps[0] == 0.5
    assert max(clock.sleeps) == 5
    assert clock.sleeps[:-1] == sorted(clock.sleeps[:-1])
    early = [s for s, t in zip(clock.sleeps, _times(clock.sleeps), strict=True) if t < 15]
    assert max(early) <= 1.0  # the first 15 s: confirmed within a second


def _times(sleeps: list[float]) -> list[float]:
    total, out = 0.0, []
    for s in sleeps:
        out.append(total)
        total += s
    return out


def test_a_200_from_the_old_revision_does_not_pass() -> None:
    clock = FakeClock()
    fetch = scripted(clock, lambda t: ready("app--1"))
    verdict = wait_ready(GateSpec("u", "app--2", 10, 1), lambda: RUNNING, fetch, clock)
    assert not verdict.passed
    assert "another revision" in verdict.reason


def test_a_200_without_revision_passes_when_no_revision_is_expected() -> None:
    clock = FakeClock()
    fetch = scripted(clock, lambda t: Reply(200, b"ok"))
    assert wait_ready(GateSpec("u", None, 10, 1), lambda: RUNNING, fetch, clock).passed


def test_waits_for_the_platform_before_asking_readiness() -> None:
    clock = FakeClock()
    calls: list[float] = []

    def status() -> RevisionStatus:
        starting = clock.monotonic() - 1000 < 2
        return RevisionStatus(RevisionState.PENDING if starting else RevisionState.RUNNING)

    def fetch(_url: str, _timeout: float) -> Reply:
        calls.append(clock.monotonic())
        return ready()

    verdict = wait_ready(GateSpec("u", "app--2", 10, 1), status, fetch, clock)
    assert verdict.passed and min(calls) >= 1002


def test_failed_for_good_stops_at_once() -> None:
    clock = FakeClock()
    failed = RevisionStatus(RevisionState.FAILED, "api exited with code 1")
    verdict = wait_ready(GateSpec("u", None, 180, 5), lambda: failed, lambda *_: ready(), clock)
    assert not verdict.passed and verdict.failed_for_good
    assert verdict.elapsed == 0 and "api exited" in verdict.reason


def test_timeout_reports_down_components() -> None:
    clock = FakeClock()
    body = {
        "components": {
            "redis": {"status": "ok"},
            "terminal": {"status": "skipped"},
            "azure_storage": {"status": "down", "error": "403", "error_class": "HttpResponseError"},
        }
    }
    fetch = scripted(clock, lambda t: Reply(503, json.dumps(body).encode()))
    verdict = wait_ready(GateSpec("u", None, 7, 5), lambda: RUNNING, fetch, clock)
    assert not verdict.passed and verdict.elapsed <= 7.0
    assert [(c.name, c.error_class) for c in verdict.down] == [
        ("azure_storage", "HttpResponseError")
    ]


def test_sanitize_strips_terminal_control_and_caps_size() -> None:
    hostile = b"\x1b[2J\x1b]0;owned\x07ok\x00\x08" + b"A" * 10_000
    text = sanitize(hostile)
    assert "\x1b" not in text and "\x07" not in text and "\x00" not in text
    assert text.startswith("0;ownedok") or text.startswith("ok")
    assert len(text.encode()) <= 5 * 1024 + 20 and text.endswith("(truncated)")


def test_components_down_tolerates_garbage() -> None:
    assert parse(b"not json").down == []
    assert parse(b'{"components": [1, 2]}').down == []
    assert parse(b'{"components": {"x": "down"}}').down == []
