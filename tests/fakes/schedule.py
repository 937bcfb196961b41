"""The order the suite's tests are dealt to xdist workers in: heavy tests spread out.

pytest-xdist's worksteal scheduler gives each worker a contiguous slice of the collected
tests, and a worker keeps the last tests of its slice queued where no idle worker can
steal them. Collected in file order, the end-to-end tests against the Docker Engine (each
a first deploy of the example app, some under load for half a minute) land in one or two
slices, run one after another on those workers and finish long after the others are idle.

`spread` keeps the order of everything else and deals the heavy tests round-robin over
the slices, heaviest first, each slice's share spaced over its first 30 % and offset from
the other slices', so no two workers start first deploys at the same moment. The heavy
tests (most of their time spent waiting on the engine or on Azurite) then run while the
light ones keep both cores busy, and the tail of every slice is short tests that stealing
balances: placed over the first three quarters instead, the second heavy test of a slice
started as late as the light tests before it happened to take, and ran alone at the end
for up to 20 s. Only the order changes: every test still runs once, and none depends on
another's order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
HEAVY_SHARE = 0.3  # heavy tests sit in the first 30 % of each slice


def spread(items: Sequence[T], workers: int, weight: Callable[[T], int]) -> list[T]:
    """`items` with those of weight > 0 dealt over `workers` slices, heaviest first."""
    heavy = sorted((i for i in items if weight(i) > 0), key=weight, reverse=True)
    light = [i for i in items if weight(i) <= 0]
    if workers <= 1 or not heavy:
        return list(items)
    order: list[T] = []
    for j in range(workers):
        order += _one_slice(light[j * len(light) // workers : (j + 1) * len(light) // workers],
                            heavy[j::workers], offset=j / workers)  # fmt: skip
    return order


def _one_slice(light: list[T], heavy: list[T], offset: float) -> list[T]:
    """`light` with `heavy` inserted at even gaps over the first HEAVY_SHARE of it."""
    if not heavy:
        return light
    gap = HEAVY_SHARE * len(light) / len(heavy)
    at = [int((k + offset) * gap) for k in range(len(heavy))]
    order: list[T] = []
    pending = list(zip(at, heavy, strict=True))
    for index, item in enumerate(light):
        while pending and pending[0][0] <= index:
            order.append(pending.pop(0)[1])
        order.append(item)
    return order + [h for _, h in pending]
