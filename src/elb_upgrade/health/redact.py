"""Make probe output safe for an unauthenticated endpoint: no secrets, one line, bounded.

Exception messages from SDKs quote what they were given: connection strings, SAS URLs,
`redis://:password@host` URLs, Authorization headers. One rule for every text that leaves
a probe, whatever built it (`safe_text`):

1. **bound**: keep the first `MAX_SCAN` characters, back off to the last whitespace so no
   token (and so no secret, which never contains whitespace) is cut in half, and replace
   the rest with a marker saying how much was dropped;
2. **redact** that whole bounded text;
3. **fold** it to one line and **cut** it to the caller's limit.

Redaction is linear-time by construction, so hostile input cannot stall the event loop:
every regular expression below starts with a literal keyword and ends with a single greedy
character class (an attempt either succeeds and consumes what it scanned, or fails within
the whitespace next to its keyword), and the two forms that would otherwise rescan the same
characters from many starting points (URL userinfo, JWTs) are found by plain scans that
never look at a character twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable

MAX_TEXT = 200  # what a component body shows
MAX_CLASS = 80  # an exception class name (`error_class`)
MAX_SCAN = 8192  # characters redacted; the rest is dropped before any pattern runs
MASK = "***"

# Keyword + separator + one greedy run: linear (see the module docstring).
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # SAS signature query parameter: ...&sig=abc%2Bdef&...
    (re.compile(r"(?i)\b(sig=)[^&\s\"'<>]+"), rf"\1{MASK}"),
    # Connection-string keys: AccountKey=...; SharedAccessKey=...; Password=...
    (
        re.compile(
            r"(?i)\b(AccountKey|SharedAccessKey|SharedAccessSignature|Password|Pwd)"
            r"(\s*=\s*)[^;\s\"'<>]+"
        ),
        rf"\1\2{MASK}",
    ),
    # Authorization header values and bare bearer tokens.
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9\-._~+/]+=*"), rf"\1{MASK}"),
]

_WHITESPACE = re.compile(r"\s+")
_LAST_WHITESPACE = re.compile(r"\s(?=\S*$)")
_USER_END = re.compile(r"[/:@\s]")  # userinfo's user part ends at the first of these
_PASSWORD_END = re.compile(r"[@\s]")
_JWT_RUN = re.compile(r"[\w.\-]+")  # maximal runs of base64url characters and dots


def bound(text: str, limit: int = MAX_SCAN) -> str:
    """The first `limit` characters, never ending inside a token, plus a drop marker."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    if not text[limit].isspace():  # the cut falls inside a token: drop that whole token
        last = _LAST_WHITESPACE.search(head)
        head = head[: last.start()] if last else ""
    return f"{head} [{len(text) - len(head):,} more characters not shown]"


def redact(text: str) -> str:
    """Replace every known secret form in `text` with a mask (after `bound`)."""
    return redact_unbounded(bound(text))


def redact_unbounded(text: str) -> str:
    """Redact all of `text`, in time linear in its length (no bound applied)."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return _mask_jwts(_mask_userinfo(text))


def _mask_userinfo(text: str) -> str:
    """`scheme://user:password@host` → `scheme://user:***@host`, for every `://`.

    The user part after one `://` ends at its first `/`, `:`, `@` or whitespace, and the
    next `://` cannot start before that stop, so user scans never overlap; the end of a
    password (`@` or whitespace) is searched once and reused until it is passed.
    """
    out: list[str] = []
    done = 0  # text[:done] is already in `out`
    stop_from, stop = 0, -1  # cache: first `@`/whitespace at or after stop_from is `stop`
    start = text.find("://")
    while start != -1:
        user_end = _USER_END.search(text, start + 3)
        if user_end is None:
            break
        colon = user_end.start()
        if text[colon] == ":":
            if not stop_from <= colon + 1 <= stop:
                found = _PASSWORD_END.search(text, colon + 1)
                stop_from, stop = colon + 1, found.start() if found else len(text)
            if stop < len(text) and text[stop] == "@" and stop > colon + 1:
                out += (text[done : colon + 1], MASK)
                done = stop
                start = text.find("://", stop)
                continue
        start = text.find("://", colon)
    out.append(text[done:])
    return "".join(out)


def _mask_jwts(text: str) -> str:
    """Mask from a JWT's `eyJ` to the end of its run of base64url characters and dots.

    A JWT is `eyJ<header>.<payload>.<signature>`; a run holding an `eyJ` at a word start
    with two dots after it is masked from there on (slightly more than the token when a
    dotted word follows it: safe). Each run is scanned a constant number of times.
    """
    return _JWT_RUN.sub(_jwt_in_run, text) if "eyJ" in text else text


def _jwt_in_run(match: re.Match[str]) -> str:
    run = match.group()
    index = run.find("eyJ")
    while index != -1:
        if index == 0 or run[index - 1] in ".-":
            return run[:index] + MASK if run.count(".", index) >= 2 else run
        index = run.find("eyJ", index + 3)
    return run


def fold(text: str) -> str:
    """Every run of whitespace (newlines, tabs) becomes one space; ends stripped."""
    return _WHITESPACE.sub(" ", text).strip()


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def safe_text(text: str, limit: int = MAX_TEXT) -> str:
    """Bound, redact the whole bounded text, then fold to one line and cut to `limit`."""
    return cut(fold(redact(text)), limit)


def safe_class(name: str) -> str:
    """An exception class name as `error_class`: one line, redacted, at most 80 characters."""
    return safe_text(name, MAX_CLASS)


def describe(exc: BaseException, *, text: Callable[[BaseException], str] = str) -> str:
    """`str(exc)` made safe; the class name when the message is empty or unprintable."""
    try:
        message = text(exc)
    except Exception:  # an exception whose __str__ fails must not break the endpoint
        message = ""
    if not isinstance(message, str):
        message = ""
    return safe_text(message or type(exc).__name__)
