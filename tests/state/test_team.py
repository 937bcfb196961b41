"""Team mode through the real CLI: simulated hosts share one Azure Blob container
(a private Azurite), one app, and the file-backed fake platform."""

from __future__ import annotations

import json
from collections.abc import Sequence

from fakes.app import App
from fakes.herd import Herded
from fakes.platform import load_state
from fakes.services import AzuriteService, TcpRelay, closed_port
from fakes.wait import wait_until
from reliability.relkit import release, wait_mark
from state.statekit import (
    container_url,
    entries,
    history_lines,
    hosts,
    kill9,
    use_shared_state,
)

V1 = {"api": "demo-api:v1", "worker": "demo-api:v1", "frontend": "demo-frontend:v1"}


BLOB_MODULES = ("elb_upgrade.state.azure_blob", "azure.storage.blob", "azure.identity")


def _wait_for_exits(procs: Sequence[Herded], count: int) -> None:
    """Block until `count` of `procs` have ended (the losers), without timing anything."""
    wait_until(
        lambda: sum(p.poll() is not None for p in procs) >= count,
        240,
        what="the losing runs ended",
        every=0.05,
    )


def test_four_hosts_five_runs_each_one_deploys_nineteen_lock_held_one_chained_history(
    app: App, container: tuple[str, object], storage: AzuriteService, tmp_path: object
) -> None:
    url, client = container
    use_shared_state(app, url)
    app.set(pause={"build": 240})  # the winner holds the lock at its build until released
    machines = hosts(app.root.parent, storage.blob_port, 4)
    # 20 processes forked from one interpreter that imported the Azure SDK once (fakes/herd.py)
    herd = app.herd(
        [(["api", "--yes", "--json"], m.env()) for m in machines for _ in range(5)],
        preload=BLOB_MODULES,
    )
    procs = herd.runs
    try:
        _wait_for_exits(procs, 19)
        wait_mark(app, "build")
        release(app, "build")
        outs = [p.communicate(timeout=180) for p in procs]
    finally:
        herd.kill_all()
    summaries = [json.loads(out) for out, _ in outs]
    results = [s["result"] for s in summaries]
    assert results.count("success") == 1, [err for _, err in outs]
    assert results.count("lock_held") == 19
    assert len(load_state(app.state)["deploys"]) == 1
    lines = history_lines(client, app.name)
    assert len(lines) == 20
    parsed = [json.loads(line) for line in lines]  # none torn: each a whole JSON object
    assert all(line.endswith(b"\n") and line.count(b"\n") == 1 for line in lines)
    assert len({e["run_id"] for e in parsed}) == 20
    assert {e["host"] for e in parsed} == {"host0", "host1", "host2", "host3"}
    assert sorted(e["result"] for e in parsed) == ["lock_held"] * 19 + ["success"]
    verify = machines[0].run(app, "history", "--verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "20 lines in 1 blob(s), chain intact" in verify.stdout


def test_a_killed_holder_frees_the_lock_and_another_host_rolls_back_to_its_snapshot(
    app: App, container: tuple[str, object], storage: AzuriteService
) -> None:
    url, client = container
    use_shared_state(app, url)
    app.set(pause={"deploy#1:worker": 240})  # api already has the new image, worker not
    laptop, ci = hosts(app.root.parent, storage.blob_port, 2)
    holder = laptop.popen(app, "api", "--yes")
    try:
        wait_mark(app, "deploy#1:worker")
    finally:
        if holder.poll() is not None:
            print(holder.communicate())
    assert load_state(app.state)["images"]["api"] != V1["api"]
    status = ci.run(app, "lock", "status", "--json")
    assert status.returncode == 1
    seen = json.loads(status.stdout)
    assert seen["state"] == "held" and seen["holder"]["host"] == "host0" and seen["expires"]
    kill9(holder)

    done = ci.run(app, "rollback", "--yes", "--lock-wait", "90")

    assert done.returncode == 0, done.stderr
    assert "waiting up to 90s" in done.stderr  # it found the dead run's lease, then got it
    assert load_state(app.state)["images"] == V1
    last = entries(client, app.name)[-1]
    assert (last["result"], last["host"], last["scope"]) == (
        "rollback_success",
        "host1",
        "rollback",
    )


def test_storage_unreachable_at_the_start_is_a_preflight_failure_naming_the_fix(
    app: App, container: tuple[str, object], storage: AzuriteService
) -> None:
    use_shared_state(app, container_url(closed_port(), "gone"))
    (host,) = hosts(app.root.parent, storage.blob_port, 1)

    done = host.run(app, "api", "--yes")

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "cannot be reached while taking the lock" in done.stderr
    assert "--state local" in done.stderr and "nothing was changed" in done.stderr
    assert done.stdout.startswith("preflight_failed")
    state = load_state(app.state)
    assert state["built"] == [] and state["deploys"] == []
    spooled = [json.loads(line) for line in host.spool.read_text().splitlines()]
    assert [s["entry"]["result"] for s in spooled] == ["preflight_failed"]

    local = host.run(app, "api", "--yes", "--state", "local")  # the escape hatch

    assert local.returncode == 0, local.stderr
    assert len(load_state(app.state)["deploys"]) == 1


def test_storage_gone_before_the_history_append_keeps_the_exit_code_and_appends_once(
    app: App, container: tuple[str, object], storage: AzuriteService
) -> None:
    url, client = container
    relay = TcpRelay(storage.blob_port)
    use_shared_state(app, url.replace(f":{storage.blob_port}/", f":{relay.port}/"))
    app.set(pause={"status": 240})
    (host,) = hosts(app.root.parent, storage.blob_port, 1)
    run = host.popen(app, "api", "--yes", "--json")
    try:
        wait_mark(app, "status")  # deployed; the gate is about to look
        relay.down()
        release(app, "status")
        out, err = run.communicate(timeout=180)
    finally:
        relay.up()
        if run.poll() is None:
            run.kill()

    assert run.returncode == 0 and json.loads(out)["result"] == "success", err
    assert "spooled to" in err and "history --flush" in err
    assert history_lines(client, app.name) == []
    (spooled,) = [json.loads(line) for line in host.spool.read_text().splitlines()]

    flushed = host.run(app, "history", "--flush")
    again = host.run(app, "history", "--flush")

    assert flushed.returncode == 0, flushed.stderr
    assert "1 spooled line(s) appended" in flushed.stdout
    assert "0 spooled line(s) appended" in again.stdout
    lines = entries(client, app.name)
    assert [(e["run_id"], e["result"]) for e in lines] == [(spooled["meta"]["run_id"], "success")]
    assert host.spool.read_text() == ""


def test_a_line_edited_in_the_blob_is_named_by_verify(
    app: App, container: tuple[str, object], storage: AzuriteService
) -> None:
    url, client = container
    use_shared_state(app, url)
    (host,) = hosts(app.root.parent, storage.blob_port, 1)
    for scope in ("api", "frontend", "api"):
        assert host.run(app, scope, "--yes").returncode == 0
    assert host.run(app, "history", "--verify").returncode == 0
    blob = client.get_blob_client(f"{app.name}/history.jsonl")  # type: ignore[attr-defined]
    lines = blob.download_blob().readall().splitlines(keepends=True)
    lines[1] = lines[1].replace(b'"scope":"frontend"', b'"scope":"api"')
    blob.delete_blob()  # what someone with write access to the container could do
    blob.create_append_blob()
    blob.append_block(b"".join(lines))

    verify = host.run(app, "history", "--verify")

    assert verify.returncode == 1
    assert "TAMPERED" in verify.stdout
    assert "history.jsonl line 3: its prev does not match" in verify.stdout
    assert "history.jsonl line 2 — that line was edited" in verify.stdout


def test_lock_break_stops_the_holder_before_its_next_step_and_is_recorded(
    app: App, container: tuple[str, object], storage: AzuriteService
) -> None:
    url, client = container
    use_shared_state(app, url)
    app.set(pause={"build": 240})
    laptop, ci = hosts(app.root.parent, storage.blob_port, 2)
    holder = laptop.popen(app, "api", "--yes")
    try:
        wait_mark(app, "build")
        broke = ci.run(app, "lock", "break", "--yes")
        release(app, "build")
        _, err = holder.communicate(timeout=180)
    finally:
        if holder.poll() is None:
            holder.kill()

    assert broke.returncode == 0, broke.stderr
    assert holder.returncode == 1
    assert "lost the lock" in err and "stopped before deploying" in err
    assert "nothing was deployed" in err
    assert load_state(app.state)["deploys"] == []
    results = [(e["result"], e["host"]) for e in entries(client, app.name)]
    assert results == [("lock_broken", "host1"), ("aborted", "host0")]
    free = ci.run(app, "lock", "status")
    assert free.returncode == 0 and free.stdout.startswith("free")
