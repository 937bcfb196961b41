"""Small test doubles for the health tests (a module name no other test folder uses)."""

from __future__ import annotations


class FakeClock:
    """A monotonic clock that moves only when told to: TTL tests never sleep."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
