"""RangeSet against a plain set of byte offsets, on random operations."""

from __future__ import annotations

import random

import pytest

from xenonfs.vfs.ranges import RangeSet

SPAN = 200


def _model_ranges(model: set[int]) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    for b in sorted(model):
        if ranges and ranges[-1][1] == b:
            ranges[-1] = (ranges[-1][0], b + 1)
        else:
            ranges.append((b, b + 1))
    return ranges


@pytest.mark.parametrize("seed", range(20))
def test_matches_a_set_of_offsets(seed: int) -> None:
    rng = random.Random(seed)
    rs, model = RangeSet(), set()
    for _ in range(300):
        a = rng.randrange(SPAN)
        b = a + rng.randrange(0, 30)
        op = rng.choice(("add", "add", "remove", "cut"))
        if op == "add":
            rs.add(a, b)
            model |= set(range(a, b))
        elif op == "remove":
            rs.remove(a, b)
            model -= set(range(a, b))
        else:
            rs.cut(a)
            model = {x for x in model if x < a}
        assert list(rs) == _model_ranges(model)
        s = rng.randrange(SPAN)
        e = s + rng.randrange(0, 40)
        assert rs.covers(s, e) == (set(range(s, e)) <= model)
        gaps = {x for g in rs.missing(s, e) for x in range(*g)}
        assert gaps == set(range(s, e)) - model
        assert rs.total() == len(model)
    assert RangeSet.from_list(rs.to_list()) == rs


def test_touching_ranges_merge_and_bad_pairs_are_refused() -> None:
    rs = RangeSet([(0, 4), (4, 8), (10, 12)])
    assert list(rs) == [(0, 8), (10, 12)]
    assert rs.missing(0, 14) == [(8, 10), (12, 14)]
    with pytest.raises(ValueError):
        RangeSet.from_list([[5, 2]])
