"""Property-based tests of the three parsers operators feed by hand: `.env`, the config and
the history file. They add to the examples and properties in tests/test_*.py."""

from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from elb_upgrade import config
from elb_upgrade.dotenv import parse
from elb_upgrade.errors import ConfigError
from elb_upgrade.history import read as history_read
from elb_upgrade.history import record as history

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "elb-upgrade.example.toml"
NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
ANY_CHAR = st.characters(blacklist_categories=("Cs",))
FILES = settings(  # adds to the suite's load-independent profile (tests/conftest.py)
    max_examples=60,
    deadline=None,
    suppress_health_check=[*settings().suppress_health_check, HealthCheck.function_scoped_fixture],
)

# -- .env --------------------------------------------------------------------------------


@given(st.dictionaries(NAMES, st.text(ANY_CHAR.filter(lambda c: c not in "'\n"), max_size=30)))
def test_single_quoted_values_are_literal(values: dict[str, str]) -> None:
    """Whatever is inside single quotes comes back as is: #, =, \\, form feeds, U+2028."""
    assert parse("\n".join(f"{k}='{v}'" for k, v in values.items())) == values


UNQUOTED = st.text(ANY_CHAR.filter(lambda c: c != "\n"), max_size=30).filter(
    lambda v: v == v.strip() and not v.startswith(("'", '"')) and " #" not in v
)


@given(st.dictionaries(NAMES, UNQUOTED))
def test_unquoted_values_round_trip(values: dict[str, str]) -> None:
    assert parse("\n".join(f"{k}={v}" for k, v in values.items())) == values


def _double_quoted(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


@given(
    st.dictionaries(NAMES, st.text(ANY_CHAR, max_size=20), max_size=6),
    st.data(),
)
def test_layout_never_changes_meaning(values: dict[str, str], data: st.DataObject) -> None:
    """CRLF, `export`, comments, blank lines, indentation and a BOM change nothing."""
    lines = []
    for name, value in values.items():
        if data.draw(st.booleans()):
            lines.append(data.draw(st.sampled_from(["", "# a comment", "   ", "#NAME=x"])))
        prefix = data.draw(st.sampled_from(["", "export ", "  ", "export\t"]))
        lines.append(f"{prefix}{name}={_double_quoted(value)}")
    ending = data.draw(st.sampled_from(["\n", "\r\n"]))
    bom = data.draw(st.sampled_from(["", "\ufeff"]))
    assert parse(bom + ending.join(lines) + ending) == values


INVALID_NAMES = st.from_regex(r"[0-9-][A-Za-z0-9_-]{0,8}|[A-Za-z_]+-[A-Za-z_]+", fullmatch=True)


@given(st.lists(NAMES, min_size=1, max_size=6), st.data())
def test_an_invalid_line_is_named_by_its_number(names: list[str], data: st.DataObject) -> None:
    bad = data.draw(INVALID_NAMES)
    lines = [f"{name}=1" for name in names]
    at = data.draw(st.integers(0, len(lines)))
    lines.insert(at, f"{bad}=value")
    with pytest.raises(ConfigError, match=rf"^\.env:{at + 1}: "):
        parse("\r\n".join(lines))


SECRET = st.from_regex(r"[A-Za-z0-9+/]{12,24}", fullmatch=True)


@given(NAMES, st.sampled_from([" ", ": ", "\t", " := "]), SECRET)
def test_an_error_never_quotes_the_value_part(name: str, sep: str, secret: str) -> None:
    assume(secret not in name)
    with pytest.raises(ConfigError) as info:
        parse(f"{name}{sep}{secret}")
    assert secret not in str(info.value)


# -- the config ----------------------------------------------------------------------------

KEYS = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)


def toml_str(text: str) -> str:
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value > 0 else "-inf")
            if math.isinf(value)
            else repr(value)
        )
    if isinstance(value, str):
        return toml_str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{toml_str(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


@st.composite
def valid_configs(draw: st.DrawFn) -> dict[str, Any]:
    images = draw(st.lists(KEYS, min_size=1, max_size=4, unique=True))
    containers = draw(st.dictionaries(KEYS, st.sampled_from(images), min_size=1, max_size=5))
    scopes = draw(
        st.dictionaries(
            KEYS.filter(lambda k: k != "rollback"),
            st.lists(st.sampled_from(images), min_size=1, unique=True),
            min_size=1,
            max_size=4,
        )
    )
    aliases = draw(
        st.dictionaries(
            KEYS.filter(lambda k: k not in scopes and k != "rollback"),
            st.sampled_from(sorted(scopes)),
            max_size=3,
        )
    )
    return {
        "app": {
            "name": draw(st.from_regex(r"[a-z0-9][a-z0-9.-]{0,20}", fullmatch=True)),
            "platform": "docker",
            "readiness_url": draw(st.text(ANY_CHAR, max_size=40)),
            "main_container": draw(st.sampled_from(sorted(containers))),
        },
        "images": {k: {"repository": f"repo-{k}", "context": k} for k in images},
        "containers": {name: {"image": key} for name, key in containers.items()},
        "scopes": scopes,
        "aliases": aliases,
    }


def render(document: dict[str, Any]) -> str:
    return "\n".join(f"{toml_str(k)} = {toml_value(v)}" for k, v in document.items()) + "\n"


@FILES
@given(valid_configs())
def test_generated_configs_load_with_their_invariants(
    tmp_path: Path, document: dict[str, Any]
) -> None:
    path = tmp_path / "elb-upgrade.toml"
    readiness = document["app"]["readiness_url"]
    assume("${" not in readiness)
    path.write_text(render(document), encoding="utf-8")
    cfg = config.load(path, {})
    assert cfg.app.name == document["app"]["name"] and cfg.readiness_url == readiness
    assert cfg.scope_names() == [*document["scopes"], *document["aliases"], "rollback"]
    for alias, target in document["aliases"].items():
        assert cfg.resolve_scope(alias) == target
    for scope, members in document["scopes"].items():
        deployed = cfg.containers_for(scope)
        assert deployed == {
            n: c["image"] for n, c in document["containers"].items() if c["image"] in members
        }


TOML_SCALARS = st.one_of(
    st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(), st.text(ANY_CHAR, max_size=12)
)
TOML_VALUES = st.recursive(
    TOML_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=12,
)
TOP_KEYS = st.sampled_from(
    ["app", "images", "containers", "scopes", "aliases", "platform", "other"]
)


@FILES
@given(st.dictionaries(TOP_KEYS, TOML_VALUES, max_size=6), valid_configs(), st.booleans())
def test_any_toml_document_loads_or_fails_with_a_config_error(
    tmp_path: Path, noise: dict[str, Any], base: dict[str, Any], merge: bool
) -> None:
    """Whatever types sit under whatever keys: a Config or a ConfigError, never a crash."""
    document = {**base, **noise} if merge else noise
    path = tmp_path / "elb-upgrade.toml"
    path.write_text(render(document), encoding="utf-8")
    try:
        config.load(path, {})
    except ConfigError as exc:
        assert str(path) in exc.message or "needs ${" in exc.message


@FILES
@given(st.sets(st.integers(0, 80), max_size=12))
def test_dropping_lines_of_the_example_never_crashes(tmp_path: Path, dropped: set[int]) -> None:
    lines = EXAMPLE.read_text().splitlines()
    path = tmp_path / "elb-upgrade.toml"
    path.write_text("\n".join(line for i, line in enumerate(lines) if i not in dropped))
    with contextlib.suppress(ConfigError):
        config.load(path, {})


@FILES
@given(st.text(ANY_CHAR, max_size=40), st.text(ANY_CHAR.filter(lambda c: c != "}"), max_size=10))
def test_interpolation_is_exact_and_never_recursive(
    tmp_path: Path, value: str, default: str
) -> None:
    text = (
        EXAMPLE.read_text()
        .replace('repository = "elb-dashboard-api"', f"repository = {toml_str('${X}')}")
        .replace(
            'dockerfile = "Dockerfile"', f"dockerfile = {toml_str('${MISSING:-' + default + '}')}"
        )
    )
    path = tmp_path / "elb-upgrade.toml"
    path.write_text(text, encoding="utf-8")
    api = next(i for i in config.load(path, {"X": value}).app.images if i.key == "api")
    assert api.repository == value and api.dockerfile == default


# -- the history file ------------------------------------------------------------------

SHORT = st.text(st.characters(blacklist_categories=()), max_size=40)
LONG = st.text(st.characters(blacklist_categories=()), max_size=6000)
INTS = st.integers(-(2**63), 2**63)


def clean(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8")


@settings(max_examples=150, deadline=None)
@given(SHORT, SHORT, SHORT, LONG, SHORT, SHORT, INTS, LONG, INTS)
def test_any_entry_is_one_short_valid_line(
    ts: str,
    scope: str,
    app: str,
    tag: str,
    sha: str,
    result: str,
    elapsed: int,
    message: str,
    code: int,
) -> None:
    entry = history.Entry(ts, scope, app, tag, sha, result, elapsed, message, code)
    line = entry.to_line()
    assert len(line) < history.MAX_LINE and line.count(b"\n") == 1 and line.endswith(b"\n")
    data = json.loads(line)
    assert list(data) == list(history.KEYS)
    assert (data["ts"], data["scope"], data["app"]) == (clean(ts), clean(scope), clean(app))
    assert clean(tag).startswith(data["tag"])
    assert (data["elapsed_seconds"], data["exit_code"]) == (elapsed, code)
    kept = data["message"]
    assert kept == clean(message) or (
        kept.endswith("…") and clean(message).startswith(kept[:-1].rstrip())
    )
    assert history_read.parse_line(line) == data


@given(st.binary(max_size=300))
def test_parse_line_takes_any_bytes(raw: bytes) -> None:
    found = history_read.parse_line(raw)
    assert found is None or {"ts", "scope", "result"} <= set(found)


VALID = st.builds(history.Entry, SHORT, SHORT, SHORT, SHORT, SHORT, SHORT, INTS, SHORT, INTS).map(
    lambda e: e.to_line().rstrip(b"\n")
)
JUNK = st.binary(max_size=80).map(lambda b: b.replace(b"\n", b" "))


@FILES
@given(st.lists(st.tuples(st.booleans(), VALID, JUNK), max_size=30))
def test_load_keeps_every_valid_line_and_counts_the_rest(
    tmp_path: Path, rows: list[tuple[bool, bytes, bytes]]
) -> None:
    lines = [valid if good else junk for good, valid, junk in rows]
    path = tmp_path / "h.jsonl"
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    scan = history_read.Scan(path)
    entries = list(scan)
    expected = [json.loads(line) for line in lines if history_read.parse_line(line) is not None]
    assert entries == expected
    assert len(entries) + scan.skipped == len([line for line in lines if line.strip()])
    assert all(history_read.parse_line(v) is not None for good, v, _ in rows if good)
