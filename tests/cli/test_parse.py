"""The one history line parser (json's C scanner run directly) accepts exactly what a
plain `json.loads` reading of the line contract accepts."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elb_upgrade.history.read import parse_line


def reference(raw: bytes) -> dict[str, object] | None:
    """The line contract read the plain way: a JSON object with ts, scope and result."""
    if not raw.strip():
        return None
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or not all(k in data for k in ("ts", "scope", "result")):
        return None
    if not isinstance(data.get("elapsed_seconds", 0), int | float):
        return None
    return data


GOOD = '{"ts":"2026-05-01T10:00:00Z","scope":"full","result":"success","elapsed_seconds":3}'
TRICKY = [
    GOOD,
    GOOD + "\n",
    GOOD + "\r\n",
    "  " + GOOD,
    "\t" + GOOD + "  \n",
    GOOD + " trailing",
    GOOD + GOOD,
    GOOD.replace("3}", '"3"}'),
    GOOD.replace("3}", "true}"),
    GOOD.replace("3}", "null}"),
    GOOD.replace("3}", "NaN}"),
    GOOD.replace("3}", "2.5}"),
    GOOD.replace('"scope":"full",', ""),
    GOOD.replace('"full"', '"f\\ud800"'),
    '{"ts": 1, "scope": [], "result": {}}',
    "[1, 2]",
    '"a string"',
    "42",
    "",
    "\n",
    "   \n",
    '{"ts":"2026-05-0',
    "\ufeff" + GOOD,
]


@pytest.mark.parametrize("line", TRICKY)
def test_tricky_lines_agree(line: str) -> None:
    raw = line.encode()
    assert parse_line(raw) == reference(raw)


def test_invalid_utf8_agrees() -> None:
    raw = GOOD.replace("full", "f\xff").encode("latin-1")
    assert parse_line(raw) == reference(raw) is None


_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(
    st.dictionaries(
        st.sampled_from(["ts", "scope", "result", "elapsed_seconds", "app", "message"]),
        _values,
    ),
    st.sampled_from(["", "\n", " \n", " x"]),
)
def test_generated_lines_agree(fields: dict[str, object], ending: str) -> None:
    raw = (json.dumps(fields) + ending).encode()
    assert parse_line(raw) == reference(raw)
