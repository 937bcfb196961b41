"""`platforms/docker/containers.py` without an engine: the crash monitor and its setting,
and the choice of a revision's private port."""

from __future__ import annotations

import random
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from elb_upgrade.errors import ConfigError
from elb_upgrade.platforms.docker import containers as ct
from elb_upgrade.platforms.docker.containers import (
    DEFAULT_MONITOR_SECONDS,
    Uptime,
    monitor_seconds,
    started_at,
)
from fakes.clock import FakeClock


@dataclass
class Container:
    """The fields of a docker SDK container that the monitor reads."""

    id: str = "c1"
    status: str = "running"
    attrs: dict[str, Any] = field(default_factory=lambda: {"RestartCount": 0, "State": {}})

    def restart(self) -> None:
        self.attrs["RestartCount"] += 1


NOW = 1_800_000_000.0  # the host's wall clock in these tests (2027-01-15T08:00:00Z)


def watch(clock: FakeClock) -> Uptime:
    return Uptime(clock.monotonic, wall=lambda: NOW + clock.now)


def test_a_container_is_settled_only_after_running_the_monitor_time() -> None:
    clock = FakeClock()
    uptime, box = watch(clock), Container()
    assert not uptime.settled(box, 3)
    clock.sleep(2.9)
    assert not uptime.settled(box, 3)
    clock.sleep(0.1)
    assert uptime.settled(box, 3)


def test_a_restart_or_a_stop_starts_the_watch_again() -> None:
    clock = FakeClock()
    uptime, box = watch(clock), Container()
    uptime.settled(box, 3)
    clock.sleep(2)
    box.restart()
    assert not uptime.settled(box, 3)
    clock.sleep(2)
    assert not uptime.settled(box, 3)  # 2 s since the restart
    box.status = "restarting"
    assert not uptime.settled(box, 0)
    box.status = "running"
    clock.sleep(5)
    assert not uptime.settled(box, 3)  # the watch began again when it ran again
    clock.sleep(3)
    assert uptime.settled(box, 3)


def test_zero_trusts_running_at_once() -> None:
    uptime = watch(FakeClock())
    assert uptime.settled(Container(), 0)
    assert not uptime.settled(Container(id="c2", status="created"), 0)


def test_a_container_the_engine_started_long_ago_is_settled_at_first_sight() -> None:
    """A second rollback finds the release serving since before this run began."""
    clock = FakeClock(0.0)
    old = Container(attrs={"RestartCount": 0, "State": {"StartedAt": "2027-01-15T07:59:00.5Z"}})
    fresh = Container(
        id="c2", attrs={"RestartCount": 0, "State": {"StartedAt": "2027-01-15T07:59:59Z"}}
    )
    uptime = watch(clock)
    assert uptime.settled(old, 3)
    assert not uptime.settled(fresh, 3)
    clock.sleep(2)
    assert uptime.settled(fresh, 3)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("2027-01-15T08:00:00Z", NOW), ("2027-01-15T08:00:00.123456789Z", NOW + 0.123456),
     ("2027-01-15T09:00:00+01:00", NOW), ("0001-01-01T00:00:00Z", None), ("", None),
     ("yesterday", None)],
)  # fmt: skip
def test_started_at_reads_the_engine_timestamp(raw: str, expected: float | None) -> None:
    found = started_at(Container(attrs={"State": {"StartedAt": raw}}))
    assert found == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize(
    ("settings", "expected"),
    [({}, DEFAULT_MONITOR_SECONDS), ({"monitor_seconds": "0"}, 0.0),
     ({"ELB_MONITOR_SECONDS": "7.5"}, 7.5)],
)  # fmt: skip
def test_monitor_seconds_setting(settings: dict[str, str], expected: float) -> None:
    assert monitor_seconds(settings) == expected


@pytest.mark.parametrize("raw", ["soon", "-1", "601", "nan", "inf"])
def test_a_bad_monitor_seconds_is_a_config_error_naming_the_fix(raw: str) -> None:
    with pytest.raises(ConfigError) as caught:
        monitor_seconds({"monitor_seconds": raw})
    assert "nothing was changed" in caught.value.message
    assert "monitor_seconds" in (caught.value.hint or "")


def test_a_private_port_lies_below_the_ephemeral_range_and_is_not_taken() -> None:
    """Client sockets take their local port from the ephemeral range: a private port chosen
    there could be taken before the new container binds it."""
    low, _ = ct.ephemeral_range()
    assert low > ct.LOWEST_PRIVATE_PORT  # this machine's kernel says where the range starts
    seen = {ct.free_port(set(), random.Random(seed)) for seed in range(20)}
    assert all(ct.LOWEST_PRIVATE_PORT <= port < low for port in seen), seen
    first = ct.free_port(set(), random.Random(7))
    assert ct.free_port({first}, random.Random(7)) != first  # a given port is never reused


def test_a_port_in_use_is_never_chosen() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", ct.free_port(set(), random.Random(3))))
        busy.listen()
        assert ct.free_port(set(), random.Random(3)) != busy.getsockname()[1]


def test_an_unknown_ephemeral_range_leaves_the_choice_to_the_kernel(tmp_path: Path) -> None:
    assert ct.ephemeral_range(tmp_path / "missing") == (0, 0)
    (tmp_path / "range").write_text("not numbers\n")
    assert ct.ephemeral_range(tmp_path / "range") == (0, 0)
    (tmp_path / "range").write_text("32768\t60999\n")
    assert ct.ephemeral_range(tmp_path / "range") == (32768, 60999)
