"""The proxy's config file, its runtime answers, `port` in the config and drain_seconds.

Pure functions; no engine needed (the end-to-end proof is test_docker_bluegreen.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from elb_upgrade import config
from elb_upgrade.errors import ConfigError
from elb_upgrade.platforms.docker.bluegreen import drain_seconds
from elb_upgrade.platforms.docker.proxy import Listen, Slot, bound_ports, parse_stat, render

CONFIG = """\
[app]
name = "shop"
readiness_url = "http://127.0.0.1:8000/api/health/ready"
[images.api]
repository = "shop-api"
[containers.api]
image = "api"
{port}
[containers.worker]
image = "api"
{worker_port}
[scopes]
api = ["api"]
"""

STAT = """\
# pxname,svname,qcur,qmax,scur,smax,status,addr
api,FRONTEND,,,3,5,OPEN,
api,blue,0,0,2,4,DRAIN,127.0.0.1:41001
api,green,0,0,1,1,no check,127.0.0.1:41002
api,BACKEND,0,0,3,5,UP,
"""


def load(tmp_path: Path, port: str, worker_port: str = "", **env: str) -> config.Config:
    path = tmp_path / "elb-upgrade.toml"
    path.write_text(CONFIG.format(port=port, worker_port=worker_port))
    return config.load(path, env)


def test_port_is_read_as_a_number_or_an_interpolated_string(tmp_path: Path) -> None:
    assert load(tmp_path, "port = 8000").app.containers[0].port == 8000
    cfg = load(tmp_path, 'port = "${API_PORT:-8000}"', API_PORT="9001")
    assert [c.port for c in cfg.app.containers] == [9001, None]
    assert cfg.app.readiness_url == "http://127.0.0.1:8000/api/health/ready"


@pytest.mark.parametrize("value", ["port = 0", "port = 70000", 'port = "http"', "port = true"])
def test_a_port_that_is_no_tcp_port_names_the_key(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match=r"containers\.api\.port must be a TCP port"):
        load(tmp_path, value)


def test_two_containers_on_one_port_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="give each container its own port"):
        load(tmp_path, "port = 8000", "port = 8000")


def test_the_config_file_routes_ready_slots_and_disables_the_rest() -> None:
    listens = [
        Listen("api", 8000, (Slot("green", "127.0.0.1:41002", "no check", 0),)),
        Listen("frontend", 8080),
    ]
    text = render("shop", listens)
    assert "listen api\n    bind 127.0.0.1:8000\n" in text
    assert "    server blue 127.0.0.1:1 disabled\n    server green 127.0.0.1:41002\n" in text
    assert (
        "listen frontend\n    bind 127.0.0.1:8080\n    server blue 127.0.0.1:1 disabled\n" in text
    )
    assert "stats socket /etc/elb-proxy/admin.sock mode 600 level admin" in text
    assert bound_ports(text) == {"api": 8000, "frontend": 8080}


def test_runtime_stats_give_each_slot_state_address_and_sessions() -> None:
    slots = parse_stat(STAT)["api"]
    listen = Listen("api", 8000, tuple(slots))
    assert listen.active == Slot("green", "127.0.0.1:41002", "no check", 1)
    drained = listen.slot("blue")
    assert drained is not None and (drained.ready, drained.sessions) == (False, 2)
    assert parse_stat("") == {}


def test_drain_seconds_defaults_to_10_and_refuses_nonsense() -> None:
    assert drain_seconds({}) == 10
    assert drain_seconds({"drain_seconds": "0"}) == 0
    assert drain_seconds({"ELB_DRAIN_SECONDS": "2.5"}) == 2.5
    for bad in ("-1", "soon", "99999"):
        with pytest.raises(ConfigError, match="drain_seconds must be a number"):
            drain_seconds({"drain_seconds": bad})
