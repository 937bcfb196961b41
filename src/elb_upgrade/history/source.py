"""Where the report reads history from, behind one small seam.

`open_source(environ)` is the local file today (`$ELB_UPGRADE_HISTORY`); a team backend
(shared storage) plugs in here by returning another `Source`: anything that streams
history entries once and says where it read them and how many lines it skipped.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Protocol

from elb_upgrade.errors import ElbUpgradeError
from elb_upgrade.history import read, record
from elb_upgrade.history.read import Entry


class Source(Protocol):
    """A stream of history entries, read once."""

    @property
    def where(self) -> str:
        """What was read, for the report's footer and messages (a path, a container)."""
        ...

    @property
    def skipped(self) -> int:
        """Lines that were not history lines (corrupt, torn, foreign)."""
        ...

    @property
    def found(self) -> bool:
        """Whether the history exists at all."""
        ...

    def __iter__(self) -> Iterator[Entry]: ...


class LocalSource:
    """The history file on this machine, streamed by `read.Scan`."""

    def __init__(self, scan: read.Scan) -> None:
        self.scan = scan

    @property
    def where(self) -> str:
        return str(self.scan.path)

    @property
    def skipped(self) -> int:
        return self.scan.skipped

    @property
    def found(self) -> bool:
        return self.scan.found

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.scan)


def open_source(environ: Mapping[str, str]) -> Source:
    """The history this machine's runs write to."""
    path = record.default_path(environ)
    if path is None:
        raise ElbUpgradeError(
            "no deploy history path: $HOME is not set; nothing was read",
            hint="set $ELB_UPGRADE_HISTORY to the history file",
        )
    return LocalSource(read.Scan(path))
