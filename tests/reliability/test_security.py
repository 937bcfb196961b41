"""Security: planted files at the predictable paths, private modes, secrets and terminal
escapes in what the tool prints or records, and no shell anywhere."""

from __future__ import annotations

import ast
import asyncio
import io
import os
import socket
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from elb_upgrade import lock
from elb_upgrade.health import Probe, Readiness, health_router
from elb_upgrade.ui import PlainReporter, RichReporter
from fakes.app import App, make_app
from fakes.wait import wait_until
from reliability.relkit import (
    HOSTILE,
    V0,
    V1,
    error_lines,
    history_lines,
    lock_is_free,
    misbehaving,
    point_readiness_at,
    untouched,
    write_snapshot,
)

SRC = Path(__file__).resolve().parents[2] / "src" / "elb_upgrade"
NOBODY = 65534

# -- planted files at the snapshot and lock paths --------------------------------------


def _victim(tmp: Path) -> Path:
    victim = tmp / "victim"
    victim.write_text("precious\n")
    return victim


def _symlink(path: Path, victim: Path) -> None:
    path.symlink_to(victim)


def _hardlink(path: Path, victim: Path) -> None:
    os.link(victim, path)


def _foreign(path: Path, victim: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("planting another user's file needs root")
    path.write_text("precious\n")
    os.chown(path, NOBODY, NOBODY)


def _fifo(path: Path, victim: Path) -> None:
    os.mkfifo(path)


PLANTS: dict[str, tuple[Callable[[Path, Path], None], str]] = {
    "symlink": (_symlink, "is a symlink"),
    "hard link": (_hardlink, "has 2 hard links"),
    "another user's file": (_foreign, f"is owned by uid {NOBODY}, not you"),
    "fifo": (_fifo, "is not a regular file"),
}


@pytest.mark.parametrize("target", ["snapshot", "lock"])
@pytest.mark.parametrize("plant", list(PLANTS))
def test_planted_file_is_refused_never_followed_or_overwritten(
    app: App, tmp_path: Path, plant: str, target: str
) -> None:
    make, needle = PLANTS[plant]
    victim = _victim(tmp_path)
    path = app.snapshot if target == "snapshot" else app.lock
    make(path, victim)
    before = path.lstat()
    done = app.run("api", "--yes", "--tag", "v2", timeout=30)
    assert done.returncode == 1, done.stderr
    [line] = error_lines(done.stderr)
    assert f"{path} {needle}" in line
    assert "Traceback" not in done.stderr
    assert victim.read_text() == "precious\n"
    after = path.lstat()
    assert (after.st_ino, after.st_uid, after.st_mtime_ns) == (
        before.st_ino,
        before.st_uid,
        before.st_mtime_ns,
    )
    assert untouched(app)
    [entry] = history_lines(app)
    assert entry["result"] == "aborted" and needle in entry["message"]


@pytest.mark.parametrize("plant", ["symlink", "another user's file"])
def test_rollback_never_reads_a_planted_snapshot(app: App, tmp_path: Path, plant: str) -> None:
    victim = tmp_path / "victim.json"
    write_snapshot(app, V0, "demo--0")
    app.snapshot.rename(victim)
    needle = PLANTS[plant][1]
    if plant == "symlink":
        app.snapshot.symlink_to(victim)
    else:
        _foreign(app.snapshot, victim)
    done = app.run("rollback", "--yes")
    assert done.returncode == 1 and needle in done.stderr
    assert untouched(app)


def test_the_default_tmp_path_refuses_a_planted_symlink(tmp_path: Path) -> None:
    """The real /tmp/elb-upgrade-snapshot-<app>.json, with no $ELB_UPGRADE_SNAPSHOT."""
    name = f"reltest-{uuid.uuid4().hex[:8]}"
    app = make_app(tmp_path, name=name)
    default = Path(f"/tmp/elb-upgrade-snapshot-{name}.json")
    victim = _victim(tmp_path)
    try:
        default.symlink_to(victim)
        env = app.env()
        env.pop("ELB_UPGRADE_SNAPSHOT")
        done = subprocess.run(
            app.command("api", "--yes"),
            cwd=app.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 1 and f"{default} is a symlink" in done.stderr
        assert victim.read_text() == "precious\n"
    finally:
        default.unlink(missing_ok=True)
        Path(f"{default}.lock").unlink(missing_ok=True)
        app.server.close()


def test_files_are_created_0600_whatever_the_umask(app: App) -> None:
    done = subprocess.run(
        app.command("api", "--yes", "--tag", "v2"),
        cwd=app.root,
        env=app.env(),
        capture_output=True,
        text=True,
        timeout=60,
        umask=0,
    )
    assert done.returncode == 0, done.stderr
    for path in (app.snapshot, app.lock, app.history):
        assert (path.stat().st_mode & 0o777) == 0o600, path
    assert not lock.is_held(app.lock)


# -- what the readiness endpoint says --------------------------------------------------

SECRETS = {
    "sas": "https://acct.blob.core.windows.net/c?sv=2022-11-02&sig=SECRETSIG%2Babc%3D&se=2030",
    "account_key": "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=SECRETKEY+abc==;"
    "EndpointSuffix=core.windows.net",
    "redis_password": "Error connecting to redis://:SECRETPASS1@cache:6379/0",
    "user_password": "amqp://app:SECRETPASS2@mq.internal/vhost refused",
    "bearer": "401 for Authorization: Bearer SECRETTOKEN.abc-def_123",
    "jwt": "token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJTRUNSRVQifQ.SECRETJWTSIG rejected",
}
NEEDLES = ["SECRET", "c2VjcmV0", "eyJzdWIi"]


def _deep(level: int, message: str) -> None:
    if level:
        _deep(level - 1, message)
    raise ConnectionError(message)


class _Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("SECRET inside __str__")


def _unprintable() -> None:
    raise _Unprintable()


def leaky_readiness() -> Readiness:
    probes = [
        Probe(name, (lambda m=message: _deep(20, m)), timeout=1)
        for name, message in SECRETS.items()
    ]
    probes.append(Probe("unprintable", _unprintable, timeout=1))
    probes.append(
        Probe(
            "multiline",
            lambda: _deep(3, "Traceback (most recent call last):\n  File x\nsig=SECRETSIG2"),
        )
    )
    return Readiness(version="1.0", revision="demo--2", probes=probes)


def _asgi_get(readiness: Readiness, path: str, details: bool) -> httpx.Response:
    from fastapi import FastAPI

    api = FastAPI()
    api.include_router(health_router(readiness, details=details))

    async def one() -> httpx.Response:
        transport = httpx.ASGITransport(app=api)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            return await client.get(path)

    return asyncio.run(one())


@pytest.mark.parametrize("details", [True, False])
def test_router_output_never_carries_secrets_or_tracebacks(details: bool) -> None:
    readiness = leaky_readiness()
    ready = _asgi_get(readiness, "/api/health/ready", details)
    live = _asgi_get(readiness, "/api/health", details)
    assert ready.status_code == 503 and live.status_code == 200
    for text in (ready.text, live.text):
        for needle in NEEDLES:
            assert needle not in text
        # No stack trace of the app: only str(exc), one line (frames would name these).
        assert "_deep" not in text and "test_security" not in text and 'File "' not in text
    components = ready.json()["components"]
    assert set(components) == {*SECRETS, "unprintable", "multiline"}
    if details:
        for component in components.values():
            assert "\n" not in component["error"] and len(component["error"]) <= 200
        assert components["unprintable"]["error"] == "_Unprintable"
        # A dependency's own message quoting a traceback passes through folded and redacted.
        assert components["multiline"]["error"] == (
            "Traceback (most recent call last): File x sig=***"
        )
        assert components["sas"]["error_class"] == "ConnectionError"


@pytest.fixture
def leaky_app_url() -> Iterator[str]:
    """The leaky readiness behind its real router, served by uvicorn on a free port."""
    import uvicorn
    from fastapi import FastAPI

    api = FastAPI()
    api.include_router(health_router(leaky_readiness()))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(api, log_level="error", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_until(lambda: server.started, what="uvicorn started")
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/api/health/ready"
    server.should_exit = True
    thread.join(10)


def test_cli_prints_and_records_no_secret_from_a_leaky_app(app: App, leaky_app_url: str) -> None:
    """End to end: the app's router → the gate's diagnosis → the terminal and the history."""
    point_readiness_at(app, leaky_app_url)
    done = app.run(
        "api", "--yes", "--tag", "v2", "--health-timeout", "1", "--rollback-timeout", "1"
    )
    assert done.returncode == 3  # the restored revision is just as unready
    assert "last readiness answer (HTTP 503" in done.stderr
    assert "sas: down (ConnectionError)" in done.stderr
    for needle in NEEDLES:
        assert needle not in done.stderr and needle not in app.history.read_text()


# -- what the gate prints --------------------------------------------------------------

CONTROLS = ["\x1b", "\x07", "\r", "\x9b", "\u202e", "\x00", "\x08", "\x7f"]


def test_gate_prints_are_capped_and_stripped_of_terminal_controls(app: App) -> None:
    with misbehaving(app.state) as server:
        server.choose = lambda: "hostile" if "v2" in app.get()["images"]["api"] else "fake"
        point_readiness_at(app, server.url)
        done = subprocess.run(
            app.command("api", "--yes", "--tag", "v2", "--health-timeout", "1"),
            cwd=app.root,
            env=app.env(),
            capture_output=True,
            timeout=60,
        )
    stderr = done.stderr.decode("utf-8")  # strict: nothing undecodable either
    assert done.returncode == 1, stderr
    for control in CONTROLS:
        assert control not in stderr, repr(control)
    printed = stderr.count("OVERWRITTEN")
    assert 0 < printed <= 5 * 1024 // (len(HOSTILE) - 30)  # ~5 KB of the 100 KB body
    assert "… (truncated)" in stderr
    assert len(done.stderr) < 30_000
    assert app.get()["images"] == V1


@pytest.mark.parametrize("rich", [False, True], ids=["plain", "rich"])
def test_every_reporter_strips_controls_from_any_message(rich: bool) -> None:
    out = io.StringIO()
    ui = RichReporter(out, None, color=False) if rich else PlainReporter(out, None)
    text = HOSTILE.decode("utf-8", "replace")
    for say in (ui.phase, ui.info, ui.warn, ui.error, ui.detail):
        say(text)
    for control in CONTROLS:
        assert control not in out.getvalue(), repr(control)
    assert "OVERWRITTEN" in out.getvalue() and "esrever" in out.getvalue()


# -- what the history records ----------------------------------------------------------

NASTY = "quote \" ' newline \n cr \r tab \t esc \x1b[31m nul \x00 bell \x07 bad \udcff bidi \u202e"


def test_build_error_with_nasty_text_stays_one_valid_json_line(app: App) -> None:
    app.set(fail_build=NASTY)
    done = subprocess.run(
        app.command("api", "--yes"), cwd=app.root, env=app.env(), capture_output=True, timeout=60
    )
    assert done.returncode == 1
    raw = app.history.read_bytes()
    raw.decode("utf-8")  # strict UTF-8
    assert raw.count(b"\n") == 1
    [line] = history_lines(app)
    assert line["message"].startswith("quote \" ' newline \n cr \r tab \t esc \x1b[31m nul \x00")
    assert "\udcff" not in line["message"]
    stderr = done.stderr.decode("utf-8", "strict")
    assert "\x1b" not in stderr and "\x00" not in stderr


def test_non_utf8_argv_stays_one_valid_json_line(app: App) -> None:
    done = subprocess.run(
        [os.fsencode(a) for a in app.command()] + [b"api\xff\xfe\n\"';x", b"--yes"],
        cwd=app.root,
        env=app.env(),
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 1 and b"Traceback" not in done.stderr
    raw = app.history.read_bytes()
    raw.decode("utf-8")
    assert raw.count(b"\n") == 1
    [line] = history_lines(app)
    assert line["scope"] == "unknown" and "unknown scope" in line["message"]


# -- no shell --------------------------------------------------------------------------

SHELL_CALLS = {
    "system",
    "popen",
    "getoutput",
    "getstatusoutput",
    "create_subprocess_shell",
    "spawnl",
    "spawnlp",
    "execl",
    "execlp",
}
PROCESS_CALLS = {"run", "Popen", "call", "check_call", "check_output"}


def _problems(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "attr", getattr(node.func, "id", ""))
        if name in SHELL_CALLS:
            yield f"line {node.lineno}: {name}()"
        for keyword in node.keywords:
            value = keyword.value
            if keyword.arg == "shell" and not (
                isinstance(value, ast.Constant) and value.value is False
            ):
                yield f"line {node.lineno}: shell={ast.unparse(value)}"
        if name in PROCESS_CALLS and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant | ast.JoinedStr | ast.BinOp):
                yield f"line {node.lineno}: {name}() with a command string"


def test_no_module_runs_anything_through_a_shell() -> None:
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        problems = list(_problems(ast.parse(path.read_text(), str(path))))
        if problems:
            found[str(path.relative_to(SRC))] = problems
    assert found == {}
    assert len(list(SRC.rglob("*.py"))) > 30  # really scanned the package


def test_the_shell_scan_catches_what_it_should() -> None:
    bad = "import os, subprocess\nos.system('x')\nsubprocess.run('ls', shell=True)\n"
    assert len(list(_problems(ast.parse(bad)))) == 3


INJECTIONS = [
    ["api;touch PWNED", "--yes"],
    ["api", "--yes", "--branch", "main;touch PWNED"],
    ["api", "--yes", "--pull", "--branch", "$(touch PWNED)"],
    ["api", "--yes", "--tag", "`touch PWNED`"],
    ["api", "--yes", "--config", "$(touch PWNED).toml"],
    ["rollback", "--yes", "--config", "x;touch PWNED"],
]


@pytest.mark.parametrize("args", INJECTIONS, ids=[" ".join(a) for a in INJECTIONS])
def test_operator_input_with_shell_syntax_is_only_ever_data(app: App, args: list[str]) -> None:
    done = app.run(*args)
    assert done.returncode in (1, 2), done.stderr
    assert "Traceback" not in done.stderr
    assert not (app.root / "PWNED").exists() and not Path("PWNED").exists()
    assert untouched(app) and lock_is_free(app)


def test_manual_commands_after_a_failed_restore_are_shell_safe() -> None:
    """Images in a snapshot are data too: the printed commands quote them."""
    from elb_upgrade.platforms.docker.manual import manual_restore_commands
    from elb_upgrade.spec import AppSpec, ContainerSpec

    spec = AppSpec("demo", (ContainerSpec("api", "api"),), (), "api")
    lines = manual_restore_commands(spec, {"api": "demo-api:v1;touch PWNED"})
    assert any(line.endswith(" 'demo-api:v1;touch PWNED'") for line in lines)
