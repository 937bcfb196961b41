"""Pure parts of team mode: the history chain and the `[state]` config table."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from elb_upgrade import config
from elb_upgrade.errors import ConfigError
from elb_upgrade.state import chain


def chained(*messages: str) -> bytes:
    out, prev = b"", chain.GENESIS
    for m in messages:
        line = (
            json.dumps({"ts": "t", "scope": "api", "result": "success", "message": m, "prev": prev})
            + "\n"
        ).encode()
        out, prev = out + line, chain.digest(line)
    return out


def test_an_intact_chain_runs_across_blobs() -> None:
    data = chained("a", "b", "c", "d")
    lines = data.splitlines(keepends=True)
    blobs = [
        ("x/history.jsonl", b"".join(lines[:2])),
        ("x/history.000002.jsonl", b"".join(lines[2:])),
    ]
    assert chain.first_problem(blobs) == (4, 2, None)


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (
            lambda ls: [ls[0], ls[1].replace(b'"b"', b'"B"'), *ls[2:]],
            "line 2 — that line was edited",
        ),
        (lambda ls: [ls[0], *ls[2:]], "line 1 — that line was edited, or a line between"),
        (lambda ls: [ls[0], ls[1][:-9] + b"\n", *ls[2:]], "line 2 is not a history line"),
    ],
)
def test_an_edited_removed_or_torn_line_is_named(edit: object, named: str) -> None:
    lines = chained("a", "b", "c", "d").splitlines(keepends=True)
    _, _, problem = chain.first_problem([("x/history.jsonl", b"".join(edit(lines)))])  # type: ignore[operator]
    assert problem is not None and named in problem


def test_last_line_of_a_tail() -> None:
    assert chain.last_line(b"a\nb\n", whole=True) == b"b\n"
    assert chain.last_line(b"only\n", whole=True) == b"only\n"
    assert chain.last_line(b"partial-of-a-long-line\n", whole=False) is None
    assert chain.last_line(b"torn", whole=True) is None


def write(tmp_path: Path, state: str) -> Path:
    path = tmp_path / "elb-upgrade.toml"
    path.write_text(state)
    return path


def test_state_defaults_to_local_and_reads_urls_with_variables(tmp_path: Path) -> None:
    assert config.load_state_settings(write(tmp_path, ""), {}).backend == "local"
    path = write(
        tmp_path,
        '[state]\nbackend = "azure-blob"\ncontainer_url = "https://${ACCT}.blob.core.windows.net/s"\n',
    )
    settings = config.load_state_settings(path, {"ACCT": "acme"})
    assert settings.container_url == "https://acme.blob.core.windows.net/s"
    assert settings.lease_seconds == 30


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ('backend = "s3"', "state.backend must be one of local, azure-blob"),
        ('backend = "azure-blob"', "state.container_url must be the container's URL"),
        ('backend = "azure-blob"\ncontainer_url = "https://a/b"\nlease_seconds = 10', "15 to 60"),
        ('backend = "azure-blob"\ncontainer_url = "https://a/b"\nlease_seconds = -1', "15 to 60"),
        ('backend = "azure-blob"\ncontainer_url = "${NOPE}"', "needs ${NOPE}"),
    ],
)
def test_bad_state_tables_name_the_key(tmp_path: Path, table: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(problem)):
        config.load_state_settings(write(tmp_path, f"[state]\n{table}\n"), {})


@pytest.mark.parametrize("url", ["https://acct.blob.core.windows.net", "https://"])
def test_a_url_without_a_container_is_a_config_error(url: str) -> None:
    from elb_upgrade.state import open_backend
    from elb_upgrade.state.base import StateSettings

    env = {"AZURE_STORAGE_CONNECTION_STRING": "AccountName=a;AccountKey=a2V5"}
    with pytest.raises(ConfigError, match="is not a container URL"):
        open_backend(StateSettings("azure-blob", url), env)


def test_a_connection_string_without_credentials_names_the_fix() -> None:
    from elb_upgrade.state import open_backend
    from elb_upgrade.state.base import StateSettings

    env = {"AZURE_STORAGE_CONNECTION_STRING": "BlobEndpoint=http://127.0.0.1:1/x"}
    with pytest.raises(ConfigError, match="show-connection-string"):
        open_backend(StateSettings("azure-blob", "https://a.blob.core.windows.net/c"), env)
