"""How a run talks to the operator: rich progress on a terminal, plain lines elsewhere.

All progress goes to stderr so stdout stays clean for `--json`. Plain mode (no TTY,
CI logs) prints one timestamped line per event. `NO_COLOR` turns colour off; rich is
imported only when a terminal will actually show it.

Messages quote things we do not control (readiness bodies, platform errors, the lock
holder's record), so every message is stripped of terminal control sequences here, the
one place text reaches the terminal. A reporter whose stream has gone away (a closed
pipe, a dead `tee`) goes quiet instead of failing the run.
"""

from __future__ import annotations

import contextlib
import re
import sys
import time
from collections.abc import Iterator, Mapping
from typing import Any, Protocol, TextIO

# CSI and OSC sequences, other escapes, C0/C1 controls but tab and newline, and the
# bidirectional overrides that make text display in another order than it reads.
_CONTROL = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"
)


def printable(text: str) -> str:
    """`text` without terminal control sequences: what any reporter prints."""
    return _CONTROL.sub("", text)


class Reporter(Protocol):
    def phase(self, name: str) -> None: ...

    def info(self, message: str) -> None: ...

    def warn(self, message: str) -> None: ...

    def error(self, message: str) -> None: ...

    def detail(self, message: str) -> None: ...

    def waiting(self, what: str) -> contextlib.AbstractContextManager[None]: ...

    def progress(self, message: str) -> None: ...

    def ask(self, question: str) -> bool: ...


class PlainReporter:
    """Timestamped lines; what CI logs and pipes get."""

    def __init__(self, out: TextIO, answers: TextIO | None) -> None:
        self.out, self.answers = out, answers
        self.started = time.monotonic()
        self.gone = False

    def _line(self, tag: str, message: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        elapsed = time.monotonic() - self.started
        lines = []
        for i, text in enumerate(printable(message).split("\n")):
            prefix = f"{stamp} +{elapsed:5.1f}s {tag:<5} " if i == 0 else " " * 20
            lines.append(prefix + text + "\n")
        self._write("".join(lines))

    def _write(self, text: str) -> None:
        if self.gone:
            return
        try:
            self.out.write(text)
            self.out.flush()
        except (OSError, ValueError):  # closed pipe or closed file: the run goes on
            self.gone = True

    def phase(self, name: str) -> None:
        self._line("==>", name)

    def info(self, message: str) -> None:
        self._line("", message)

    def warn(self, message: str) -> None:
        self._line("WARN", message)

    def error(self, message: str) -> None:
        self._line("ERROR", message)

    def detail(self, message: str) -> None:
        self._line("", "  " + message)

    @contextlib.contextmanager
    def waiting(self, what: str) -> Iterator[None]:
        self._line("...", what)
        yield

    def progress(self, message: str) -> None:
        """How a long wait is going: one line (a CI log otherwise shows nothing for minutes)."""
        self._line("...", message)

    def ask(self, question: str) -> bool:
        self._write(f"{printable(question)} [y/N] ")
        line = self.answers.readline() if self.answers else ""
        if not line:  # end of input counts as no
            self._write("\n")
        return line.strip().lower() in ("y", "yes")


class RichReporter(PlainReporter):
    """Phases, colours and a spinner with elapsed time on a terminal."""

    def __init__(self, out: TextIO, answers: TextIO | None, color: bool) -> None:
        super().__init__(out, answers)
        from rich.console import Console

        self.console = Console(file=out, no_color=not color, highlight=False)
        self._spinner: Any = None

    def phase(self, name: str) -> None:
        elapsed = time.monotonic() - self.started
        self.console.print(f"[bold cyan]==>[/] [bold]{_esc(name)}[/] [dim]+{elapsed:.1f}s[/]")

    def info(self, message: str) -> None:
        self.console.print(_esc(message))

    def warn(self, message: str) -> None:
        self.console.print(f"[yellow]warning:[/] {_esc(message)}")

    def error(self, message: str) -> None:
        self.console.print(f"[bold red]error:[/] {_esc(message)}")

    def detail(self, message: str) -> None:
        self.console.print(f"  [dim]{_esc(message)}[/]")

    @contextlib.contextmanager
    def waiting(self, what: str) -> Iterator[None]:
        with self.console.status(_esc(what)) as spinner:
            self._spinner = spinner
            try:
                yield
            finally:
                self._spinner = None

    def progress(self, message: str) -> None:
        """On a terminal the spinner's text shows it: no extra lines."""
        if self._spinner is not None:
            self._spinner.update(_esc(message))


def _esc(text: str) -> str:
    from rich.markup import escape

    return escape(printable(text))


def make_reporter(
    environ: Mapping[str, str], out: TextIO | None = None, answers: TextIO | None = None
) -> Reporter:
    """A rich reporter on a terminal, plain timestamped lines otherwise.

    `out` and `answers` default to the process's stderr and stdin as they are at the call
    (not at import), so a caller that swapped the streams gets its own."""
    out = sys.stderr if out is None else out
    answers = sys.stdin if answers is None else answers
    if out.isatty() and environ.get("TERM") != "dumb":
        return RichReporter(out, answers, color="NO_COLOR" not in environ)
    return PlainReporter(out, answers)
