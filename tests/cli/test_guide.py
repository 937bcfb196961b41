"""docs/operate/upgrade.md: every `console` command runs, and the tables match the code."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from elb_upgrade.cli.upgrade import upgrade_command
from elb_upgrade.health.hints import hint_for, known_error_classes
from elb_upgrade.results import RECORDED as RESULTS
from fakes.git import git
from fakes.platform import load_state, readiness_answer, write_state
from fakes.readiness import ReadinessServer
from fakes.sandbox import (
    BIN,
    DEMO,
    DEMO_HISTORY,
    GUIDE,
    KNOWN,
    TESTS,
    Env,
    blocks,
    make_checkout,
)
from fakes.zygote import console_script


def commands() -> list[str]:
    """Every `$ ` line of every console block, in the order the guide shows them."""
    return [
        line[2:]
        for body in blocks("console")
        for line in body.splitlines()
        if line.startswith("$ ")
    ]


def section(title: str) -> str:
    text = GUIDE.read_text()
    start = text.index(f"\n## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


@pytest.fixture(scope="module")
def guide_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Env, Path]]:
    """The example app's checkout on the fake platform, running and ready, with history."""
    root = tmp_path_factory.mktemp("guide")
    state = root / "state.json"  # a file: the guide's commands run in bash
    ready = ReadinessServer(lambda: readiness_answer(load_state(state)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELB_UPGRADE_")}
    (root / "home").mkdir()
    env.update(
        HOME=str(root / "home"),
        NO_COLOR="1",
        # `elb-upgrade` forked by the worker's zygote: the same entry point, streams, exit
        # status; tests/packaging/test_extras.py and test_cli_on_docker.py run the installed
        # console script itself
        PATH=os.pathsep.join([str(console_script(root / "bin")), str(BIN), env.get("PATH", "")]),
        PYTHONPATH=str(TESTS),
        APP_NAME=DEMO,
        FAKE_STATE=str(state),
        READINESS_URL=ready.url,
        ELB_UPGRADE_SNAPSHOT=str(root / "snapshot.json"),
        ELB_UPGRADE_STATE_DIR=str(root),
        GIT_AUTHOR_NAME="ann",
        GIT_AUTHOR_EMAIL="ann@example.invalid",
        GIT_COMMITTER_NAME="ann",
        GIT_COMMITTER_EMAIL="ann@example.invalid",
    )
    checkout = make_checkout(root, env)
    # The guide's commands run in order and each deploy adds a release; keep them all so
    # `rollback --to <an early revision>` finds it however many commands come before.
    with (checkout / "elb-upgrade.toml").open("a") as config:
        config.write("\n[releases]\nkeep = 100\n")
    git(checkout, "commit", "-qam", "keep every release", env=env)
    (root / "home" / ".elb-upgrade-history.jsonl").write_text("\n".join(DEMO_HISTORY) + "\n")
    tag = "20260523032248-58cc179"
    images = {c: f"{DEMO}-{'api' if c == 'worker' else c}:{tag}" for c in
              ("api", "worker", "frontend", "terminal")}  # fmt: skip
    write_state(state, f"{DEMO}--9", images)  # ready: redis and azure_storage ok
    yield Env(root, env), checkout
    ready.close()


def test_every_console_command_of_the_guide_runs_in_order(guide_env: tuple[Env, Path]) -> None:
    """One test, not one per command: the guide's commands build on each other (a deploy
    adds the release a later `rollback --to` names), so they run in the guide's order in
    one process whatever worker runs the test."""
    sandbox, checkout = guide_env
    ran = 0
    for command in commands():
        done = subprocess.run(
            ["bash", "-o", "pipefail", "-c", command],
            cwd=checkout,
            env=sandbox.env,
            input="y\n",  # the operator answers the prompt
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stderr, command
        ran += 1
    assert ran == len(commands()) > 20


def test_the_guide_runs_the_commands_the_issue_asks_for() -> None:
    runs = commands()
    for needed in ("elb-upgrade history", "elb-upgrade history --stats", "elb-upgrade status"):
        assert needed in runs
    assert any(c.startswith("elb-upgrade lock status") for c in runs)
    assert sum(c.startswith("jq ") for c in runs) == 3


def _jq(command: str, history: Path) -> object:
    command = command.replace("~/.elb-upgrade-history.jsonl", str(history))
    done = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True,
                          text=True, check=True)  # fmt: skip
    try:
        return json.loads(done.stdout)  # one (pretty-printed) document
    except ValueError:
        return [json.loads(line) for line in done.stdout.splitlines()]  # JSON lines


def test_the_jq_one_liners_agree_with_the_tool(sandbox: Env) -> None:
    history = sandbox.write_history(KNOWN)
    recent, counts, elapsed = [c for c in commands() if c.startswith("jq ")]
    listed = sandbox.run("history", "--json").stdout.splitlines()
    assert _jq(recent, history) == [json.loads(line) for line in listed]
    stats = json.loads(sandbox.run("history", "--stats", "--json").stdout)
    assert _jq(counts, history) == stats["results"]
    assert _jq(elapsed, history) == {s["scope"]: s["elapsed_mean"] for s in stats["scopes"]}


def test_every_error_class_has_a_row_with_its_hint() -> None:
    table = section("Common failure modes")
    for name in known_error_classes():
        row = next(line for line in table.splitlines() if f"| readiness: `{name}` |" in line)
        assert row.rstrip().endswith(f"| {hint_for(name)} |")
    assert "another elb-upgrade run holds" in table


def test_every_flag_every_result_and_every_exit_code_is_documented() -> None:
    flags = section("Flags")
    for param in upgrade_command.params:
        for option in getattr(param, "opts", []):
            if option.startswith("--"):
                assert f"`{option}" in flags, option
    results = section("Deploy history")
    for result in RESULTS:
        assert f"| `{result}` |" in results, result
    codes = section("Exit codes")
    for code in (0, 1, 2, 3, 130, 143):
        assert f"\n| {code} |" in codes


def _rows(title: str) -> dict[str, list[str]]:
    """A section's table: first cell (backticks stripped) → the other cells."""
    rows = {}
    for line in section(title).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if line.startswith("| ") and len(cells) > 1 and not cells[0].startswith("-"):
            rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_the_result_table_states_each_results_exit_code() -> None:
    """The guide's result → exit table is the code's (elb_upgrade.results)."""
    from elb_upgrade.results import Result

    rows = _rows("Deploy history")
    interrupted = {130, 143}  # Ctrl+C and SIGTERM end any phase they land in
    for result in RESULTS:
        shown = {int(n) for n in re.findall(r"\d+", rows[result][-1])}
        expected = {result.exit_code}
        if result in (Result.ABORTED,):
            expected |= interrupted
        assert shown == expected, (result, rows[result])
    assert "2" not in rows["aborted"][-1]  # a usage or config error writes no line


def test_the_exit_code_table_matches_the_results() -> None:
    from elb_upgrade.results import USAGE_EXIT, Result

    rows = _rows("Exit codes")
    for result in RESULTS:
        if f"`{result}`" in rows[str(result.exit_code)][0]:
            continue
        assert result.exit_code == 1, result  # the rest: "the run failed" or a refusal
    assert "no history line" in rows[str(USAGE_EXIT)][0]
    assert "`aborted`" in rows["1"][0] and "refused before it changed anything" in rows["1"][0]
    assert rows["3"][0].startswith(f"`{Result.ROLLBACK_FAILED}`")


def test_the_stats_example_is_real_output(sandbox: Env) -> None:
    sandbox.write_history(DEMO_HISTORY)
    real = sandbox.run("history", "--stats").stdout.splitlines()
    shown = next(b for b in blocks("text") if "success rate:" in b).splitlines()
    ago = re.compile(r"finished .* ago$")
    assert [ago.sub("", x) for x in shown[1:]] == [ago.sub("", x) for x in real[1:]]


def test_the_azure_section_if_present_comes_last() -> None:
    titles = re.findall(r"^## (.+)$", GUIDE.read_text(), re.M)
    assert "Azure" not in titles or titles[-1] == "Azure"


def test_the_manual_lookups_read_the_snapshot_and_the_history(sandbox: Env) -> None:
    lookups = next(b for b in blocks("sh") if b.startswith("cat "))
    sandbox.write_history(DEMO_HISTORY)
    sandbox.snapshot.write_text('{"revision": "elb-dashboard--8", "images": []}\n')
    script = lookups.replace("/tmp/elb-upgrade-snapshot-elb-dashboard.json", str(sandbox.snapshot))
    script = script.replace("~/.elb-upgrade-history.jsonl", str(sandbox.history))
    done = sandbox.shell(script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith('{"revision": "elb-dashboard--8"')
    assert done.stdout.rstrip().endswith(DEMO_HISTORY[-1])


def _complete(sandbox: Env, words: str) -> list[str]:
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)  # the word being typed
    sandbox.env.update(
        _ELB_UPGRADE_COMPLETE="bash_complete", COMP_WORDS=words, COMP_CWORD=str(cword)
    )
    done = subprocess.run(["elb-upgrade"], env=sandbox.env, capture_output=True, text=True)
    return [line.split(",", 1)[1] for line in done.stdout.splitlines()]


def test_completion_offers_the_operator_commands_and_result_values(sandbox: Env) -> None:
    assert _complete(sandbox, "elb-upgrade history --result rollback_") == [
        "rollback_failed",
        "rollback_success",
    ]
    assert _complete(sandbox, "elb-upgrade lock s") == ["status"]
    assert {"history", "lock", "status"} <= set(_complete(sandbox, "elb-upgrade "))
