"""Sets of byte ranges: which parts of a file the cache holds, which it changed."""

from __future__ import annotations

import bisect
from typing import Iterable, Iterator


class RangeSet:
    """Disjoint, sorted half-open ranges ``[start, end)``; touching ranges merge.

    Args:
        ranges: initial ranges, in any order, overlapping or not.
    """

    def __init__(self, ranges: Iterable[tuple[int, int]] = ()) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        for start, end in ranges:
            self.add(start, end)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(zip(self._starts, self._ends))

    def __bool__(self) -> bool:
        return bool(self._starts)

    def __len__(self) -> int:
        return len(self._starts)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RangeSet) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"RangeSet({list(self)})"

    def copy(self) -> "RangeSet":
        """Returns: an independent copy."""
        new = RangeSet()
        new._starts, new._ends = list(self._starts), list(self._ends)
        return new

    def total(self) -> int:
        """Returns: bytes covered."""
        return sum(e - s for s, e in self)

    def add(self, start: int, end: int) -> None:
        """Cover ``[start, end)`` (nothing for an empty range)."""
        if end <= start:
            return
        # The first range that ends at or after `start` and the first that
        # starts after `end`: everything between them merges with the new one.
        i = bisect.bisect_left(self._ends, start)
        j = bisect.bisect_right(self._starts, end)
        if i < j:
            start = min(start, self._starts[i])
            end = max(end, self._ends[j - 1])
        self._starts[i:j] = [start]
        self._ends[i:j] = [end]

    def remove(self, start: int, end: int) -> None:
        """Uncover ``[start, end)``."""
        if end <= start:
            return
        i = bisect.bisect_right(self._ends, start)
        j = bisect.bisect_left(self._starts, end)
        keep_s: list[int] = []
        keep_e: list[int] = []
        if i < j:
            if self._starts[i] < start:
                keep_s.append(self._starts[i])
                keep_e.append(start)
            if self._ends[j - 1] > end:
                keep_s.append(end)
                keep_e.append(self._ends[j - 1])
        self._starts[i:j] = keep_s
        self._ends[i:j] = keep_e

    def cut(self, size: int) -> None:
        """Uncover everything at or past ``size`` (a truncate)."""
        if self._ends and self._ends[-1] > size:
            self.remove(size, self._ends[-1])

    def covers(self, start: int, end: int) -> bool:
        """Returns: whether all of ``[start, end)`` is covered (an empty range is)."""
        if end <= start:
            return True
        i = bisect.bisect_right(self._starts, start) - 1
        return i >= 0 and self._ends[i] >= end

    def missing(self, start: int, end: int) -> list[tuple[int, int]]:
        """Returns: the parts of ``[start, end)`` not covered, in order."""
        gaps = []
        i = max(bisect.bisect_right(self._starts, start) - 1, 0)
        pos = start
        while pos < end and i < len(self._starts):
            s, e = self._starts[i], self._ends[i]
            if e <= pos:
                i += 1
                continue
            if s >= end:
                break
            if s > pos:
                gaps.append((pos, s))
            pos = max(pos, e)
            i += 1
        if pos < end:
            gaps.append((pos, end))
        return gaps

    def to_list(self) -> list[list[int]]:
        """Returns: the ranges as JSON-able pairs."""
        return [[s, e] for s, e in self]

    @classmethod
    def from_list(cls, pairs: Iterable[Iterable[int]]) -> "RangeSet":
        """Returns: the set `to_list` gave (bad pairs raise ValueError)."""
        ranges = []
        for pair in pairs:
            start, end = (int(x) for x in pair)
            if start < 0 or end < start:
                raise ValueError(f"not a byte range: {start}, {end}")
            ranges.append((start, end))
        return cls(ranges)
