"""The order heavy tests are dealt to xdist workers in (fakes/schedule.py)."""

from __future__ import annotations

from fakes.schedule import spread


def weight(name: str) -> int:
    return int(name[1:]) if name.startswith("H") else 0


def slices(order: list[str], workers: int) -> list[list[str]]:
    """The contiguous slices worksteal deals first (len // workers each, the last the rest)."""
    size = len(order) // workers
    return [order[j * size : (j + 1) * size if j < workers - 1 else None] for j in range(workers)]


def test_every_test_is_kept_once_and_light_tests_keep_their_order() -> None:
    items = [f"l{i}" for i in range(40)] + ["H2", "H3", "H2", "H1"] + [f"m{i}" for i in range(20)]
    order = spread(items, 4, weight)
    assert sorted(order) == sorted(items)
    assert [i for i in order if weight(i) == 0] == [i for i in items if weight(i) == 0]


def test_heavy_tests_are_dealt_over_the_slices_heaviest_first() -> None:
    items = [f"l{i:02}" for i in range(60)] + ["H1", "H3", "H2", "H3", "H2", "H1"]
    order = spread(items, 3, weight)
    dealt = [[i for i in s if weight(i)] for s in slices(order, 3)]
    assert dealt == [["H3", "H2"], ["H3", "H1"], ["H2", "H1"]]


def test_heavy_tests_start_at_different_places_and_none_ends_a_slice() -> None:
    items = [f"l{i:02}" for i in range(60)] + [f"H{n}" for n in (1, 1, 1, 1, 1, 1)]
    order = spread(items, 3, weight)
    for part in slices(order, 3):
        assert all(weight(i) == 0 for i in part[-len(part) // 4 :]), part
    first = [next(k for k, i in enumerate(s) if weight(i)) for s in slices(order, 3)]
    assert len(set(first)) == 3, first


def test_one_worker_or_no_heavy_test_keeps_the_order() -> None:
    items = ["l1", "H1", "l2", "H2"]
    assert spread(items, 1, weight) == items
    assert spread(["l1", "l2"], 4, weight) == ["l1", "l2"]
