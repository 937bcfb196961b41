"""Bad input through the real CLI: one clear error line, no traceback, the documented exit
code, and nothing changed (nothing built or deployed, the snapshot as it was)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes.app import App
from reliability.relkit import (
    V0,
    V1,
    error_lines,
    history_lines,
    lock_is_free,
    snapshot_images,
    untouched,
    write_snapshot,
)


def refused(app: App, done: subprocess.CompletedProcess[str], code: int, needle: str) -> None:
    """Exit `code`, exactly one error line and it says `needle`, no traceback, no change."""
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    [line] = error_lines(done.stderr)
    assert needle in line, done.stderr
    assert untouched(app)
    assert lock_is_free(app)


# -- the command line ------------------------------------------------------------------

USAGE = {
    "unknown flag": (["api", "--frobnicate"], "No such option '--frobnicate'"),
    "timeout not a number": (["api", "--health-timeout", "abc"], "'abc' is not a valid float"),
    "timeout negative": (["api", "--health-timeout", "-5"], "--health-timeout"),
    "timeout nan": (["api", "--health-timeout", "nan"], "must be a finite number"),
    "timeout inf": (["api", "--health-timeout", "inf"], "must be a finite number"),
    "lock wait nan": (["api", "--lock-wait", "nan"], "--lock-wait must be a finite"),
    "rollback timeout inf": (["api", "--rollback-timeout", "inf"], "--rollback-timeout"),
    "tag with a shell": (["api", "--tag", "v1;touch PWNED"], "is not a valid image tag"),
    "tag too long": (["api", "--tag", "v" * 200], "is not a valid image tag"),
    "tag like a flag": (["api", "--tag=-rf"], "is not a valid image tag"),
}


@pytest.mark.parametrize("case", list(USAGE))
def test_usage_errors_exit_2_and_record_nothing(app: App, case: str) -> None:
    args, needle = USAGE[case]
    done = app.run(*args)
    refused(app, done, 2, needle)
    assert not app.history.exists() and not app.snapshot.exists()
    assert not (app.root / "PWNED").exists()


@pytest.mark.parametrize("scope", ["nope", "api;rm -rf ~", "$(touch PWNED)", "api\n--yes"])
def test_unknown_scope_exit_1_scope_unknown(app: App, scope: str) -> None:
    done = app.run(scope, "--yes")
    refused(app, done, 1, "unknown scope")
    assert "use one of: api, frontend, full, worker, beat, rollback" in done.stderr
    [line] = history_lines(app)
    assert (line["result"], line["scope"], line["exit_code"]) == ("aborted", "unknown", 1)
    assert not (app.root / "PWNED").exists()


# -- the config --------------------------------------------------------------------------


def _config(app: App, text: str) -> None:
    (app.root / "elb-upgrade.toml").write_text(text)
    app.commit("config")


CONFIGS = {
    "empty": (lambda t: "", "images must define at least one image"),
    "malformed": (lambda t: t.replace("[images.api]", "[images.api"), "is not valid TOML"),
    "wrong type": (
        lambda t: t.replace('repository = "demo-api"', "repository = 5"),
        "images.api.repository must be a string",
    ),
    "unknown platform": (
        lambda t: t.replace("fakes.platform:FakePlatform", "kubernetes"),
        "unknown platform 'kubernetes'",
    ),
    "unloadable platform": (
        lambda t: t.replace("fakes.platform:FakePlatform", "nowhere.at_all:Platform"),
        "cannot load platform 'nowhere.at_all:Platform'",
    ),
    "app name with a path": (
        lambda t: t.replace('name = "demo"', 'name = "../../etc/demo"'),
        "app.name must be letters",
    ),
    "scope of unknown image": (
        lambda t: t.replace('api = ["api"]', 'api = ["ghost"]'),
        "scopes.api must list image keys",
    ),
    "binary garbage": (lambda t: "\x00\x01\x02 = \xff", "is not valid TOML"),
}


@pytest.mark.parametrize("case", list(CONFIGS))
def test_bad_configs_exit_2_with_the_key(app: App, case: str) -> None:
    mutate, needle = CONFIGS[case]
    _config(app, mutate((app.root / "elb-upgrade.toml").read_text()))
    done = app.run("api", "--yes")
    refused(app, done, 2, needle)
    assert not app.history.exists()  # a config error writes no history line
    if case == "unknown platform":
        assert "use one of: azure, docker" in done.stderr


def test_config_argument_that_is_a_directory_or_missing(app: App) -> None:
    refused(app, app.run("api", "--config", str(app.root)), 2, "is not a file")
    refused(app, app.run("api", "--config", "/nope/x.toml"), 2, "does not exist")
    assert not app.history.exists()


# -- .env ----------------------------------------------------------------------------------

DOTENV_GOOD = (
    "\ufeff# the forms operators write\r\n"
    "\r\n"
    'export API_REPO="demo-api-env" # a comment\r\n'
    "FRONT_REPO='demo-front-env'\r\n"
    "   UNUSED = spaced value   \r\n"
    'PASSWORD="p\'w\\"d\\u2028"\r\n'
)


def test_dotenv_forms_are_read(app: App) -> None:
    text = (app.root / "elb-upgrade.toml").read_text()
    text = text.replace('"demo-api"', '"${API_REPO}"').replace('"demo-frontend"', '"${FRONT_REPO}"')
    _config(app, text)
    (app.root / ".env").write_bytes(DOTENV_GOOD.encode())
    done = app.run("full", "--yes", "--tag", "v2", "--allow-dirty")
    assert done.returncode == 0, done.stderr
    assert app.get()["images"] == {
        "api": "demo-api-env:v2",
        "worker": "demo-api-env:v2",
        "frontend": "demo-front-env:v2",
    }


DOTENV_BAD = {
    "digit first": ("1BAD=x", "got a line starting '1BAD'"),
    "dash in name": ("BAD-NAME=x", "got a line starting 'BAD-NAME'"),
    "no equals": ("PASSWORD hunter2", "got a line starting 'PASSWORD'"),
    "unterminated": ("A='unterminated", "unterminated ' quote"),
    "after quote": ('A="x" trailing', "text after the closing quote"),
    "export only": ("export", "expected NAME=value"),
}


@pytest.mark.parametrize("case", list(DOTENV_BAD))
def test_bad_dotenv_lines_exit_2_naming_file_and_line(app: App, case: str) -> None:
    line, needle = DOTENV_BAD[case]
    (app.root / ".env").write_text(f"# first\r\nOK=1\r\n{line}\r\n")
    done = app.run("api", "--yes", "--allow-dirty")
    refused(app, done, 2, needle)
    assert f"{app.root / '.env'}:3: " in done.stderr
    assert "hunter2" not in done.stderr
    assert not app.history.exists()  # a config error writes no history line


# -- the snapshot (read by `elb-upgrade rollback`) -----------------------------------------


def _raw_snapshot(app: App, content: str) -> None:
    fd = os.open(app.snapshot, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, content.encode())
    os.close(fd)


GOOD_SNAPSHOT = json.dumps(
    {"revision": "demo--0", "images": [{"name": n, "image": i} for n, i in V0.items()]}
)
SNAPSHOTS = {
    "empty": ("", "is empty"),
    "truncated": (GOOD_SNAPSHOT[: len(GOOD_SNAPSHOT) // 2], "is corrupt (not JSON"),
    "not JSON": ("revision: demo--0\n", "is corrupt (not JSON"),
    "not an object": ("[1, 2]", "not a JSON object"),
    "another app": (
        GOOD_SNAPSHOT.replace('"revision"', '"app": "shop", "revision"'),
        "is for app 'shop', not 'demo'",
    ),
    "containers the app no longer has": (
        GOOD_SNAPSHOT.replace('{"name": "api"', '{"name": "beat", "image": "b:1"}, {"name": "api"'),
        "lists container(s) beat that elb-upgrade.toml no longer defines",
    ),
}


@pytest.mark.parametrize("case", list(SNAPSHOTS))
def test_bad_snapshots_refuse_rollback_and_change_nothing(app: App, case: str) -> None:
    content, needle = SNAPSHOTS[case]
    _raw_snapshot(app, content)
    done = app.run("rollback", "--yes")
    refused(app, done, 1, needle)  # refused before any change: aborted, exit 1
    assert "nothing was changed" in done.stderr
    assert app.snapshot.read_text() == content
    [line] = history_lines(app)
    assert (line["result"], line["exit_code"]) == ("aborted", 1) and needle in line["message"]


# -- the history file ------------------------------------------------------------------


def test_corrupt_history_lines_are_kept_and_our_line_stays_whole(app: App) -> None:
    corrupt = b'garbage\n\xff\xfe\n{"ts": 1}\n[1]\n{"ts":"2026-01-01T00:00:00Z","scope":"ap'
    app.history.write_bytes(corrupt)
    done = app.run("api", "--yes", "--tag", "v2")
    assert done.returncode == 0, done.stderr
    raw = app.history.read_bytes()
    assert raw.startswith(corrupt + b"\n")  # the torn last line was ended, not joined
    last = json.loads(raw.splitlines()[-1])
    assert last["result"] == "success" and last["tag"] == "v2"


def _unwritable_history(tmp: Path, how: str) -> Iterator[str]:
    if how == "a directory at its path":
        (tmp / "h-dir").mkdir()
        yield str(tmp / "h-dir")
    elif how == "a path under a file":
        yield "/dev/null/history.jsonl"
    elif how == "an immutable file":
        path = tmp / "h-immutable.jsonl"
        path.write_text("")
        if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
            pytest.skip("chattr +i is not supported here")
        try:
            yield str(path)
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        raise AssertionError(how)


@pytest.mark.parametrize("failing", [False, True], ids=["success", "failed-build"])
@pytest.mark.parametrize(
    "how", ["a directory at its path", "a path under a file", "an immutable file"]
)
def test_unwritable_history_warns_and_changes_neither_outcome_nor_exit(
    app: App, tmp_path: Path, how: str, failing: bool
) -> None:
    app.set(fail_build=failing)
    with contextlib.contextmanager(_unwritable_history)(tmp_path, how) as path:
        done = app.run("api", "--yes", "--tag", "v2", ELB_UPGRADE_HISTORY=path)
    assert done.returncode == (1 if failing else 0), done.stderr
    assert done.stdout.startswith("build_in_progress:" if failing else "success:")
    assert f"WARN  deploy history not written to {path}" in done.stderr
    assert "Traceback" not in done.stderr


def test_fifo_at_the_history_path_does_not_hang(app: App, tmp_path: Path) -> None:
    fifo = tmp_path / "h.fifo"
    os.mkfifo(fifo)
    done = app.run("api", "--yes", "--tag", "v2", timeout=30, ELB_UPGRADE_HISTORY=str(fifo))
    assert done.returncode == 0, done.stderr


def test_no_home_warns_and_the_run_succeeds(app: App) -> None:
    env = app.env()
    env.pop("HOME", None)
    env.pop("ELB_UPGRADE_HISTORY", None)
    done = subprocess.run(
        app.command("api", "--yes", "--tag", "v2"),
        cwd=app.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "deploy history not written: $HOME is not set" in done.stderr


# -- where the snapshot and the lock live ------------------------------------------------


@pytest.mark.parametrize("where", ["/nonexistent-dir/s.json", "/dev/null/s.json"])
def test_unusable_snapshot_location_is_a_clear_error(app: App, where: str) -> None:
    done = app.run("api", "--yes", ELB_UPGRADE_SNAPSHOT=where)
    refused(app, done, 1, f"cannot open {where}.lock")
    assert "internal error" not in done.stderr


def test_directory_at_the_snapshot_path_is_refused_before_anything_is_built(app: App) -> None:
    app.snapshot.mkdir()
    done = app.run("api", "--yes")
    refused(app, done, 1, f"{app.snapshot} is not a regular file")
    assert app.snapshot.is_dir()


def test_a_good_snapshot_survives_every_refusal(app: App) -> None:
    """After the refusals above, a valid snapshot is still restored as it was."""
    write_snapshot(app, V0, "demo--0")
    for args in (["api", "--bogus"], ["nope"], ["api", "--tag", "a b"]):
        app.run(*args)
    assert snapshot_images(app) == V0 and untouched(app, V1)
    assert app.run("rollback", "--yes").returncode == 0
    assert app.get()["images"] == V0
