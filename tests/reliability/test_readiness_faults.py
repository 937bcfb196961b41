"""A readiness endpoint that misbehaves: the gate answers in bounded time with the right
verdict. Driven in-process (`gate.wait_ready` + the real `gate.http_fetch` against a raw
socket server, sleeps skipped) and through the CLI."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from elb_upgrade.gate import GateSpec, Verdict, wait_ready
from elb_upgrade.platforms.base import RevisionState, RevisionStatus
from elb_upgrade.readiness_body import READ_CAP
from elb_upgrade.readiness_fetch import http_fetch
from fakes.app import App
from fakes.clock import FakeClock
from reliability.relkit import (
    V1,
    Misbehaving,
    history_lines,
    misbehaving,
    point_readiness_at,
)

RUNNING = RevisionStatus(RevisionState.RUNNING)
TIMEOUT = 2.0


@pytest.fixture
def server() -> Iterator[Misbehaving]:
    with misbehaving() as found:
        yield found


def gate(
    server: Misbehaving, mode: str, expected: str | None = "app--2", real: bool = True
) -> Verdict:
    server.mode = mode
    fetch, close = http_fetch()
    try:
        verdict = wait_ready(
            GateSpec(server.url, expected, TIMEOUT, 5),
            lambda: RUNNING,
            fetch,
            FakeClock(0.0, real=real),
        )
    finally:
        close()
    return verdict


# mode → (passes?, words in the reason)
CASES = {
    "hang": (False, "no answer"),
    "hang_body": (False, "no answer"),
    "trickle_headers": (False, "no complete answer within"),
    "trickle_body": (True, "ready"),  # cut at its deadline: names no revision, said 200
    "reset": (False, "no answer"),
    "garbage503": (False, "HTTP 503"),
    "garbage200": (True, "ready"),  # a 200 naming no revision is the app saying ready
    "redirect": (False, "HTTP 302"),
    "ready:app--1": (False, "200 came from another revision than app--2"),
    "ready:app--2": (True, "ready"),
    "huge:app--2": (True, "ready"),
    "huge:app--1": (False, "200 came from another revision than app--2"),
}


@pytest.mark.parametrize("mode", list(CASES))
@pytest.mark.usefixtures("soak")
def test_misbehaving_endpoint_bounded_time_correct_verdict(server: Misbehaving, mode: str) -> None:
    passes, words = CASES[mode]
    # A mode that passes runs on the gate's own sleeps only (its verdict cannot depend on
    # load); one that fails lets real time count too, so a hang costs seconds, not minutes.
    verdict = gate(server, mode, real=not passes)
    assert verdict.passed is passes, verdict.reason
    assert words in verdict.reason  # "no answer" / "within": said by a deadline only
    if mode.startswith("huge"):
        assert server.sent < 10_000_000  # stopped reading early
        assert verdict.reply is not None and len(verdict.reply.body) <= READ_CAP


def test_a_200_from_the_old_revision_passes_once_the_new_one_answers(
    server: Misbehaving,
) -> None:
    """Mid-rollout the old revision still answers; the gate waits for the new one."""
    answers = iter(["ready:app--1"] * 3)
    server.choose = lambda: next(answers, "ready:app--2")
    verdict = gate(server, "", real=False)  # only the gate's own sleeps count: no load
    assert verdict.passed and server.hits == 4


def test_a_stuck_request_is_given_up_and_the_next_poll_uses_a_fresh_connection(
    server: Misbehaving,
) -> None:
    """httpx's timeout bounds each read, so bytes every 50 ms would never time out: the
    request is abandoned at its deadline and the next poll is answered normally."""
    answers = iter(["trickle_headers"])
    server.choose = lambda: next(answers, "ready:app--2")
    fetch, close = http_fetch()
    try:
        stuck = fetch(server.url, 0.5)
        fresh = fetch(server.url, 0.5)
    finally:
        close()
    assert stuck.status is None and stuck.error == "no complete answer within 0.5s"
    assert fresh.status == 200 and server.hits == 2


def test_bad_url_is_a_failed_poll_not_a_crash() -> None:
    fetch, close = http_fetch()
    try:
        reply = fetch("http://[::1/api", 1.0)
    finally:
        close()
    assert reply.status is None and reply.error


def test_cli_with_hanging_readiness_fails_in_bounded_time(app: App) -> None:
    """Through the CLI: a hung endpoint costs the gate budget and the rollback budget, no
    more; the rollback restores the old images, which then cannot be confirmed either."""
    with misbehaving(app.state) as server:
        server.mode = "hang"
        point_readiness_at(app, server.url)
        done = app.run(
            "api", "--yes", "--tag", "v2", "--health-timeout", "1.5", "--rollback-timeout", "1.5"
        )
    assert done.returncode == 3, done.stderr
    assert app.get()["images"] == V1
    [line] = history_lines(app)
    assert line["result"] == "rollback_failed" and "no answer" in line["message"]


def test_cli_gate_rejects_old_revision_then_rolls_back(app: App) -> None:
    """The new revision's endpoint keeps answering as the old revision: not ready, rolled
    back; after the restore the real answer (the fake's) passes."""
    with misbehaving(app.state) as server:
        server.choose = lambda: "ready:demo--1" if "v2" in app.get()["images"]["api"] else "fake"
        point_readiness_at(app, server.url)
        done = app.run("api", "--yes", "--tag", "v2", "--health-timeout", "1")
    assert done.returncode == 1, done.stderr
    assert "200 came from another revision than demo--2" in done.stderr
    [line] = history_lines(app)
    assert line["result"] == "upgrade_failed_rolled_back"
    assert app.get()["images"] == V1
