"""The additive history keys `commit_ts` and `who`: after the contract's keys, only when known."""

from __future__ import annotations

import json

from elb_upgrade.history.read import parse_line
from elb_upgrade.history.record import ADDITIVE, FIELD_BYTES, KEYS, Entry, who

BASE = dict(
    ts="2026-05-03T10:00:00Z",
    scope="api",
    app="billing",
    tag="t",
    head_sha="abc1234",
    result="success",
    elapsed_seconds=5,
    message="",
    exit_code=0,
)


def test_known_additive_keys_follow_the_contract_keys() -> None:
    line = Entry(**BASE, commit_ts="2026-05-03T08:00:00Z", who="ann@ci-1").to_line()
    data = json.loads(line)
    assert list(data) == [*KEYS, *ADDITIVE]
    assert (data["commit_ts"], data["who"]) == ("2026-05-03T08:00:00Z", "ann@ci-1")
    assert parse_line(line) == data


def test_unknown_additive_keys_are_not_written() -> None:
    assert list(json.loads(Entry(**BASE).to_line())) == list(KEYS)


def test_an_additive_key_is_capped_like_the_other_fields() -> None:
    data = json.loads(Entry(**BASE, who="x" * 5000).to_line())
    assert len(data["who"]) == FIELD_BYTES


def test_who_is_user_at_host() -> None:
    user, _, host = who().partition("@")
    assert user and host
