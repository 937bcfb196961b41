"""Parse `.env` files the way operators write them.

Accepted: `KEY=value`, `export KEY=value`, `# comments`, blank lines, CRLF endings, a
leading byte-order mark, single-quoted values (literal), double-quoted values (`\\n`,
`\\"`, `\\\\` escapes), and unquoted values with a trailing ` # comment`. Lines end at
`\\n` only: a form feed or U+2028 inside a value is part of the value. Anything else is a
ConfigError naming the file and line, so a typo never silently drops a setting.
"""

from __future__ import annotations

import re
from pathlib import Path

from elb_upgrade.errors import ConfigError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "$": "$"}


def parse(text: str, source: str = ".env") -> dict[str, str]:
    """Return the variables `text` defines, later lines overriding earlier ones."""
    values: dict[str, str] = {}
    # Not splitlines(): it also breaks at \f, \x1c-\x1e, \x85 and U+2028/9, which may sit
    # inside a value (a password); a Windows editor's BOM is not part of the first name.
    for number, raw in enumerate(text.removeprefix("\ufeff").split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export ") or line.startswith("export\t"):
            line = line[len("export") :].lstrip()
        name, sep, rest = line.partition("=")
        name = name.strip()
        if not sep or not _NAME.match(name):
            # Quote the name part only: the rest of a malformed line may be a secret.
            raise ConfigError(
                f"{source}:{number}: expected NAME=value, got a line starting {_head(line)!r}",
                hint="fix or delete that line (names are letters, digits and _; "
                "not starting with a digit)",
            )
        values[name] = _value(rest.strip(), f"{source}:{number}")
    return values


def _head(line: str) -> str:
    words = line.partition("=")[0].split()
    return (words[0] if words else "")[:40]


def load(path: Path) -> dict[str, str]:
    """Parse the file at `path`; a missing file is empty."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read {path}: {exc}", hint="fix its permissions or encoding"
        ) from exc
    return parse(text, str(path))


def _value(rest: str, where: str) -> str:
    if rest[:1] in ("'", '"'):
        quote = rest[0]
        end = _closing(rest, quote)
        if end < 0:
            raise ConfigError(f"{where}: unterminated {quote} quote", hint="close the quote")
        tail = rest[end + 1 :].strip()
        if tail and not tail.startswith("#"):
            raise ConfigError(f"{where}: text after the closing quote", hint="remove it")
        body = rest[1:end]
        return body if quote == "'" else _unescape(body)
    value, _, _ = rest.partition(" #")
    return value.strip()


def _closing(rest: str, quote: str) -> int:
    i = 1
    while i < len(rest):
        if quote == '"' and rest[i] == "\\":
            i += 2
            continue
        if rest[i] == quote:
            return i
        i += 1
    return -1


def _unescape(body: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), body)
