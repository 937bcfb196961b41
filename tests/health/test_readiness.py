"""Readiness runs probes concurrently, each under its own timeout, and never raises."""

from __future__ import annotations

import asyncio
import threading

import pytest

from elb_upgrade.health import (
    CachePolicy,
    ComponentResult,
    Probe,
    Readiness,
    degraded,
    probe,
    skipped,
)
from fakes.clock import FakeClock


def check(readiness: Readiness) -> tuple[int, dict[str, dict[str, object]]]:
    report = asyncio.run(readiness.check())
    return report.status_code, report.body["components"]


def test_sync_probes_run_off_the_event_loop_thread_and_async_ones_on_it() -> None:
    threads: dict[str, str] = {}

    def sync_check() -> None:
        threads["sync"] = threading.current_thread().name

    async def async_check() -> None:
        threads["async"] = threading.current_thread().name

    code, _ = check(
        Readiness(version="1", probes=[Probe("s", sync_check), Probe("a", async_check)])
    )
    assert code == 200
    assert threads["sync"].startswith("elb-health-probe") and threads["async"] == "MainThread"


@pytest.mark.parametrize(
    ("returned", "status"),
    [(None, "ok"), (True, "ok"), (False, "down"), (skipped("X unset"), "skipped")],
)
def test_what_a_check_returns_maps_to_a_status(
    returned: ComponentResult | bool | None, status: str
) -> None:
    _, components = check(Readiness(version="1", probes=[Probe("x", lambda: returned)]))
    assert components["x"]["status"] == status


def test_an_exception_is_down_with_its_class_name_and_message() -> None:
    class HttpResponseError(Exception):
        pass

    def failing() -> None:
        raise HttpResponseError("This request is not authorized to perform this operation.")

    code, components = check(Readiness(version="1", probes=[Probe("azure_storage", failing)]))
    assert code == 503
    assert components["azure_storage"]["error_class"] == "HttpResponseError"
    assert components["azure_storage"]["error"] == (
        "This request is not authorized to perform this operation."
    )


def test_a_probe_past_its_timeout_is_down_with_timeout_error() -> None:
    async def hang() -> None:
        await asyncio.sleep(60)

    _, components = check(Readiness(version="1", probes=[Probe("slow", hang, timeout=0.2)]))
    assert components["slow"]["error_class"] == "TimeoutError"
    assert components["slow"]["error"] == "no answer within 0.2s"


def test_hung_dependencies_cost_one_timeout_not_the_sum() -> None:
    release = threading.Event()
    events: list[str] = []

    async def hang_async() -> None:
        events.append("start")
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            events.append("timed out")
            raise

    def hang_sync() -> None:
        events.append("sync start")
        release.wait(10)

    probes = [Probe(f"a{i}", hang_async, timeout=0.3) for i in range(3)]
    probes += [Probe(f"s{i}", hang_sync, timeout=0.3) for i in range(3)]
    readiness = Readiness(version="1", probes=probes)
    code, components = check(readiness)
    release.set()
    readiness.close()
    assert code == 503
    assert {c["error_class"] for c in components.values()} == {"TimeoutError"}
    # Concurrent, by order not by time: every async probe started before any timed out
    # (one after another, each would start only after the one before it timed out).
    asyncs = [e for e in events if e != "sync start"]
    assert asyncs == ["start"] * 3 + ["timed out"] * 3, events
    assert events.count("sync start") == 3


def test_a_hung_sync_check_holds_one_thread_at_most(clock: FakeClock) -> None:
    release, calls = threading.Event(), []

    def hang() -> None:
        calls.append(1)
        release.wait(10)

    readiness = Readiness(version="1", probes=[Probe("h", hang, timeout=0.1)], clock=clock)
    check(readiness)
    readiness.reset()
    _, components = check(readiness)  # the first call's thread is still stuck
    release.set()
    readiness.close()
    assert len(calls) == 1
    assert components["h"]["error"] == "previous check still running after 0.1s"


def test_swr_answers_at_once_while_a_dependency_hangs(clock: FakeClock) -> None:
    hang = False

    async def flaky() -> None:
        if hang:
            await asyncio.sleep(60)

    policy = CachePolicy(stale_while_revalidate=True)
    readiness = Readiness(
        version="1", probes=[Probe("dep", flaky, timeout=0.5)], cache=policy, clock=clock
    )
    check(readiness)
    clock.advance(20)
    hang = True
    code, components = check(readiness)
    # 200 with the old age: served without waiting (a waited-for refresh of the hanging
    # probe would have been a TimeoutError, 503)
    assert code == 200 and components["dep"]["age_seconds"] == 20.0


def test_decorator_names_the_probe_after_the_function() -> None:
    @probe(critical=False, timeout=1.5)
    def terminal() -> ComponentResult:
        return degraded("starting")

    assert (terminal.name, terminal.critical, terminal.timeout) == ("terminal", False, 1.5)
    code, components = check(Readiness(version="1", probes=[terminal]))
    assert code == 200 and components["terminal"]["reason"] == "starting"


def test_probe_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="repeated: redis"):
        Readiness(version="1", probes=[Probe("redis", lambda: None)] * 2)


def test_revision_comes_from_container_app_revision(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Readiness(version="1").revision == "local"
    monkeypatch.setenv("CONTAINER_APP_REVISION", "ca-elb-dashboard--0000042")
    readiness = Readiness(version="1.2")
    assert readiness.liveness() == {
        "status": "ok",
        "version": "1.2",
        "revision": "ca-elb-dashboard--0000042",
    }


def test_no_traceback_reaches_the_body() -> None:
    def crash() -> None:
        {}["missing"]

    _, components = check(Readiness(version="1", probes=[Probe("c", crash)]))
    assert components["c"]["error_class"] == "KeyError"
    assert "Traceback" not in str(components) and "File " not in str(components)
