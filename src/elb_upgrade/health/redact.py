"""Make probe output safe for an unauthenticated endpoint: no secrets, one line, bounded.

Exception messages from SDKs quote what they were given: connection strings, SAS URLs,
`redis://:password@host` URLs, Authorization headers. Redaction runs on the full text
*before* truncation so that a cut can never leave half a secret unmatched.
"""

from __future__ import annotations

import re

MAX_TEXT = 200
MASK = "***"

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
    # Userinfo in a URL: scheme://user:password@host, scheme://:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^/\s:@]*:)[^@\s]+@"), rf"\1{MASK}@"),
    # Authorization header values and bare bearer tokens.
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9\-._~+/]+=*"), rf"\1{MASK}"),
    # JWTs wherever they appear (access tokens quoted in an error body).
    (re.compile(r"\beyJ[\w-]+\.[\w-]+\.[\w-]*"), MASK),
]

_WHITESPACE = re.compile(r"\s+")


def redact(text: str) -> str:
    """Replace every known secret form in `text` with a mask."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def safe_text(text: str, limit: int = MAX_TEXT) -> str:
    """Redact, fold to one line and cut to `limit` characters: what a probe may report."""
    folded = _WHITESPACE.sub(" ", redact(text)).strip()
    return folded if len(folded) <= limit else folded[: limit - 1] + "…"


def describe(exc: BaseException) -> str:
    """`str(exc)` made safe; the class name when the message is empty or unprintable."""
    try:
        message = str(exc)
    except Exception:  # an exception whose __str__ fails must not break the endpoint
        message = ""
    return safe_text(message or type(exc).__name__)
