"""`.env` parsing, by example and by property."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elb_upgrade.dotenv import parse
from elb_upgrade.errors import ConfigError


def test_the_forms_operators_write() -> None:
    text = (
        '# comment\r\n\r\nexport A=1\r\nB=\'two # not a comment\'\nC="x\\ny \\"q\\""\n'
        "D=plain value # trailing comment\nE=\nF=a=b\n  G = spaced  \n"
    )
    assert parse(text) == {
        "A": "1",
        "B": "two # not a comment",
        "C": 'x\ny "q"',
        "D": "plain value",
        "E": "",
        "F": "a=b",
        "G": "spaced",
    }


@pytest.mark.parametrize(
    "line", ["1BAD=x", "NO_EQUALS", "BAD-NAME=x", "A='unterminated", 'A="x" trailing']
)
def test_invalid_lines_name_file_and_line(line: str) -> None:
    with pytest.raises(ConfigError, match=r"\.env:2: "):
        parse(f"OK=1\n{line}\n")


NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True)
VALUES = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)


@given(st.dictionaries(NAMES, VALUES, max_size=8))
def test_double_quoted_values_round_trip(values: dict[str, str]) -> None:
    text = "\n".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in values.items()
    )
    assert parse(text) == values


@given(st.text(max_size=200))
def test_any_text_parses_or_fails_cleanly(text: str) -> None:
    try:
        parse(text)
    except ConfigError as exc:
        assert ".env:" in str(exc)
