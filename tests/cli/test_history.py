"""`elb-upgrade history`: table, JSONL, filters, --since and the unhappy files."""

from __future__ import annotations

import datetime as dt
import json
import os

from elb_upgrade.history.record import KEYS
from fakes.sandbox import Env, entry

CORRUPT = ["not json at all", '{"foo": 1}', "[1, 2]", '{"ts":"2026-05-0', ""]


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _many(count: int) -> list[str]:
    start = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    return [
        entry(_iso(start + dt.timedelta(hours=i)), "full", "success", 100 + i, tag=f"t{i:03d}")
        for i in range(count)
    ]


def test_table_shows_the_last_20_runs_oldest_first(sandbox: Env) -> None:
    sandbox.write_history(_many(25))
    done = sandbox.run("history")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    header = ["WHEN", "APP", "SCOPE", "RESULT", "ELAPSED", "EXIT", "TAG", "MESSAGE"]
    assert lines[0].split() == header
    assert len(lines) == 21
    assert lines[1].split()[:7] == [
        "2026-04-01T05:00:00Z", "shop", "full", "success", "105s", "0", "t005",
    ]  # fmt: skip
    assert lines[-1].split()[6] == "t024"
    assert done.stderr == ""


def test_n_limits_and_zero_means_all(sandbox: Env) -> None:
    sandbox.write_history(_many(25))
    assert len(sandbox.run("history", "-n", "3").stdout.splitlines()) == 4
    assert len(sandbox.run("history", "-n", "0").stdout.splitlines()) == 26


def test_table_columns_stay_aligned_and_long_messages_are_cut(sandbox: Env) -> None:
    long = "x" * 200
    sandbox.write_history(
        [
            entry("2026-05-01T10:00:00Z", "api", "success", 5),
            entry("2026-05-02T10:00:00Z", "full", "upgrade_failed_rolled_back", 1234, message=long),
        ]
    )
    lines = sandbox.run("history").stdout.splitlines()
    starts = [line.index(lines[0].split()[3]) for line in lines[:1]]
    assert lines[1].index("success") == lines[2].index("upgrade_failed_rolled_back") == starts[0]
    assert "x" * 59 + "…" in lines[2] and "x" * 61 not in lines[2]
    assert lines[1].index("5s") + 2 == lines[2].index("1234s") + 5  # right-aligned


def test_json_prints_the_entries_as_jsonl_in_key_order(sandbox: Env) -> None:
    lines = _many(3)
    sandbox.write_history(lines)
    done = sandbox.run("history", "--json")
    assert done.returncode == 0
    out = done.stdout.splitlines()
    assert [json.loads(x) for x in out] == [json.loads(x) for x in lines]
    assert list(json.loads(out[0])) == list(KEYS)


def test_corrupt_and_foreign_lines_are_skipped_with_one_warning(sandbox: Env) -> None:
    good = _many(2)
    sandbox.write_history([CORRUPT[0], good[0], *CORRUPT[1:], good[1]])
    for args in (["history"], ["history", "--json"], ["history", "--stats"]):
        done = sandbox.run(*args)
        assert done.returncode == 0
        assert done.stderr.splitlines() == [
            f"warning: skipped 4 corrupt or foreign line(s) in {sandbox.history}"
        ]
    assert len(sandbox.run("history", "--json").stdout.splitlines()) == 2


def test_an_empty_file_is_a_friendly_message(sandbox: Env) -> None:
    sandbox.history.write_text("")
    for args in (["history"], ["history", "--json"], ["history", "--stats"]):
        done = sandbox.run(*args)
        assert (done.returncode, done.stdout) == (0, "")
        assert done.stderr == f"no deploy history: {sandbox.history} holds no runs yet\n"


def test_a_missing_file_is_a_friendly_message(sandbox: Env) -> None:
    done = sandbox.run("history")
    assert (done.returncode, done.stdout) == (0, "")
    assert "does not exist yet" in done.stderr and len(done.stderr.splitlines()) == 1


def test_stats_json_of_an_empty_history_is_still_an_object(sandbox: Env) -> None:
    done = sandbox.run("history", "--stats", "--json")
    data = json.loads(done.stdout)
    assert (data["runs"], data["success_rate"], data["last_success"]) == (0, None, None)


def test_a_directory_at_the_path_is_a_one_line_error(sandbox: Env) -> None:
    sandbox.history.mkdir()
    done = sandbox.run("history")
    assert done.returncode == 1
    assert done.stderr == (
        f"error: cannot read deploy history {sandbox.history}: Is a directory → "
        "point $ELB_UPGRADE_HISTORY at a file, not a directory\n"
    )


def test_a_fifo_at_the_path_is_refused_not_waited_on(sandbox: Env) -> None:
    os.mkfifo(sandbox.history)
    done = sandbox.run("history")
    assert done.returncode == 1
    assert done.stderr.startswith(
        f"error: cannot read deploy history {sandbox.history}: not a file"
    )


def test_an_unreadable_file_is_a_one_line_error(sandbox: Env) -> None:
    sandbox.write_history(_many(1))
    sandbox.history.chmod(0)
    # root reads anything: drop the capabilities that bypass file permissions
    prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
    done = sandbox.run("history", prefix=prefix if os.geteuid() == 0 else [])
    assert done.returncode == 1
    assert "Permission denied" in done.stderr and "chmod u+r" in done.stderr
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr


def test_no_home_and_no_variable_is_a_one_line_error(sandbox: Env) -> None:
    del sandbox.env["ELB_UPGRADE_HISTORY"], sandbox.env["HOME"]
    done = sandbox.run("history")
    assert done.returncode == 1
    assert (
        done.stderr
        == "error: no deploy history path: $HOME is not set → set $ELB_UPGRADE_HISTORY\n"
    )


def test_default_path_is_in_home(sandbox: Env) -> None:
    del sandbox.env["ELB_UPGRADE_HISTORY"]
    path = sandbox.root / "home" / ".elb-upgrade-history.jsonl"
    path.write_text(_many(1)[0] + "\n")
    assert "t000" in sandbox.run("history").stdout


def _mixed(sandbox: Env) -> None:
    sandbox.write_history(
        [
            entry("2026-05-01T10:00:00Z", "full", "success", 10, app="shop"),
            entry("2026-05-02T10:00:00Z", "api", "lock_held", 0, app="shop"),
            entry("2026-05-03T10:00:00Z", "api", "success", 20, app="blog"),
            entry("2026-05-04T10:00:00Z", "web", "rollback_failed", 30, app="shop"),
        ]
    )


def _tags(sandbox: Env, *args: str) -> list[str]:
    done = sandbox.run("history", "--json", *args)
    assert done.returncode == 0, done.stderr
    return [json.loads(line)["ts"][:10] for line in done.stdout.splitlines()]


def test_filters_by_app_scope_and_result(sandbox: Env) -> None:
    _mixed(sandbox)
    assert _tags(sandbox, "--app", "shop") == ["2026-05-01", "2026-05-02", "2026-05-04"]
    assert _tags(sandbox, "--scope", "api") == ["2026-05-02", "2026-05-03"]
    assert _tags(sandbox, "--result", "success") == ["2026-05-01", "2026-05-03"]
    assert _tags(sandbox, "--scope", "api", "--scope", "web") == [
        "2026-05-02", "2026-05-03", "2026-05-04",
    ]  # fmt: skip
    assert _tags(sandbox, "--app", "shop", "--result", "success") == ["2026-05-01"]


def test_since_accepts_a_date_and_a_timestamp(sandbox: Env) -> None:
    _mixed(sandbox)
    assert _tags(sandbox, "--since", "2026-05-03") == ["2026-05-03", "2026-05-04"]
    assert _tags(sandbox, "--since", "2026-05-03T10:00:01Z") == ["2026-05-04"]


def test_since_accepts_an_age(sandbox: Env) -> None:
    now = dt.datetime.now(dt.UTC)
    ages = {"40d": 40 * 86400, "2d": 2 * 86400, "13h": 13 * 3600, "30m": 1800}
    sandbox.write_history(
        [
            entry(_iso(now - dt.timedelta(seconds=seconds + 60)), "full", "success", 1, tag=age)
            for age, seconds in ages.items()
        ]
    )

    def tags(since: str) -> list[str]:
        done = sandbox.run("history", "--json", "--since", since)
        return [json.loads(line)["tag"] for line in done.stdout.splitlines()]

    assert tags("30d") == ["2d", "13h", "30m"]
    assert tags("12h") == ["30m"]
    assert tags("1w") == ["2d", "13h", "30m"]
    assert tags("59s") == []


def test_no_match_says_how_many_runs_there_are(sandbox: Env) -> None:
    _mixed(sandbox)
    done = sandbox.run("history", "--app", "nope")
    assert (done.returncode, done.stdout) == (0, "")
    assert (
        done.stderr
        == f"no deploy history: no run matches the filters (4 runs in {sandbox.history})\n"
    )


def test_bad_since_and_unknown_result_are_usage_errors(sandbox: Env) -> None:
    _mixed(sandbox)
    bad = sandbox.run("history", "--since", "yesterday")
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: --since 'yesterday' is neither an age nor a date → ")
    unknown = sandbox.run("history", "--result", "sucess")
    assert unknown.returncode == 2
    assert "unknown result sucess → use one of: success," in unknown.stderr
    assert sandbox.run("history", "-n", "-1").returncode == 2
