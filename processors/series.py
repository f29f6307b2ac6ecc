"""One subject's counts per minute (or per hour), summed over any range in two bisections.

The rule engine sums a subject's window (10 minutes to an hour of minute buckets) and its
baseline (a day or a week of hour buckets) for each of ~60 (subject, rule) judgements an
article: summed bucket by bucket, those ranges were a fifth of the count stage's CPU.
A :class:`Series` keeps its times sorted beside running totals, so a range's sum is the
difference of two totals. Counts arrive in event-time order almost always (the count
stage aligns its partitions): a count at or after the last time is O(1); a late one
updates the totals after it (a few minutes' worth, as late as it is).

>>> s = Series()
>>> for minute, n in ((100, 2), (103, 1), (103, 1), (107, 5)):
...     s.add(minute, n)
>>> s.sum(100, 103), s.sum(101, 106), s.sum(0, 10**9), s.get(103)
(4, 2, 9, 2)
>>> s.add(101, 3)  # late
>>> s.sum(101, 103), s.times()
(5, [100, 101, 103, 107])
>>> s.drop_before(103)
>>> s.sum(0, 10**9), s.times()
(7, [103, 107])
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable


class Series:
    """Counts at integer times, with running totals: ``_totals[i]`` is the sum of the
    counts of ``_times[:i]`` plus what was dropped before them (only differences of two
    totals are ever read)."""

    __slots__ = ("_counts", "_times", "_totals")

    def __init__(self, counts: Iterable[tuple[int, int]] = ()) -> None:
        self._counts: dict[int, int] = {}
        for time, n in counts:
            self._counts[time] = self._counts.get(time, 0) + n
        self._times = sorted(self._counts)
        self._totals = [0]
        for time in self._times:
            self._totals.append(self._totals[-1] + self._counts[time])

    def add(self, time: int, n: int = 1) -> None:
        """Count ``n`` more (or fewer: a negative ``n``) at ``time``."""
        counts, times, totals = self._counts, self._times, self._totals
        known = counts.get(time)
        counts[time] = n if known is None else known + n
        last = times[-1] if times else None
        if time == last:  # the common case: another mention of the latest minute or hour
            totals[-1] += n
        elif last is None or time > last:
            times.append(time)
            totals.append(totals[-1] + n)
        else:  # late: the totals after it move
            at = bisect_left(times, time)
            if known is None:
                times.insert(at, time)
                totals.insert(at + 1, totals[at])
            for i in range(at + 1, len(totals)):
                totals[i] += n

    def get(self, time: int) -> int:
        return self._counts.get(time, 0)

    def sum(self, first: int, last: int) -> int:
        """The counts at ``first..last`` (both included)."""
        times, totals = self._times, self._totals
        return totals[bisect_right(times, last)] - totals[bisect_left(times, first)]

    def drop_before(self, time: int) -> None:
        """Forget the counts before ``time`` (sums from it on are unchanged)."""
        cut = bisect_left(self._times, time)
        for old in self._times[:cut]:
            del self._counts[old]
        del self._times[:cut]
        del self._totals[:cut]

    def times(self) -> list[int]:
        """The times counted, in order."""
        return list(self._times)

    def __len__(self) -> int:
        return len(self._times)
