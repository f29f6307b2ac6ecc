"""The counting interface shared by processors (who write counts) and alerts (who read them).

Two implementations live in ``processors.counts``: Redis for the live worker and memory
for ``raqib backtest``. Both bucket by event time, so the same stream gives the same
numbers in either.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import IntEnum
from typing import Protocol

from raqib.messages import Evidence, Mention

MINUTE = 60
HOUR = 3600


def minute_of(ts: datetime) -> int:
    """Index of the minute bucket that holds ``ts`` (minutes since the epoch)."""
    return int(ts.timestamp() // MINUTE)


def hour_of(ts: datetime) -> int:
    """Index of the hour bucket that holds ``ts`` (hours since the epoch)."""
    return int(ts.timestamp() // HOUR)


class Recorded(IntEnum):
    """What recording a mention found; false only for a duplicate, so ``if await
    store.record(m)`` reads "if it counts"."""

    DUPLICATE = 0
    """Counted before, from another message (a redelivered copy of the article)."""
    NEW = 1
    """Counted now for the first time."""
    REPLAY = 2
    """Counted before from this very message, which a crash or a rebalance replays."""


class CountStore(Protocol):
    """Event-time mention counts per subject; ``record`` is idempotent per (subject, article)."""

    async def prepare(
        self,
        batch: Sequence[Mention],
        also: Iterable[str],
        minutes: Sequence[int],
        hours: Sequence[int],
    ) -> None:
        """Get ready to record ``batch`` and to read its subjects and ``also`` in these
        buckets (a store that mirrors Redis loads them here; others do nothing)."""
        ...

    async def record(self, mention: Mention) -> Recorded:
        """Count a mention once: ``DUPLICATE`` when this (subject, article) was counted
        from another message, ``REPLAY`` when from this one (see :class:`Recorded`)."""
        ...

    async def minutes(self, subject: str, first: int, last: int) -> int:
        """Mentions in minute buckets ``first..last`` inclusive."""
        ...

    async def hours(self, subject: str, first: int, last: int) -> int:
        """Mentions in hour buckets ``first..last`` inclusive."""
        ...

    async def window(
        self,
        subject: str,
        minutes: tuple[int, int],
        hours: tuple[int, int],
        gap: tuple[int, int] | None = None,
    ) -> tuple[int, int]:
        """Mentions in minute buckets ``minutes``, and in hour buckets ``hours`` plus minute
        buckets ``gap`` (the part hour between the baseline's hours and the window), all
        inclusive ranges, read together: what a rule needs, in one round trip."""
        ...

    async def evidence(self, subject: str, first: int, last: int) -> list[Evidence]:
        """The articles counted in minute buckets ``first..last``, oldest first."""
        ...

    async def sources(self, subject: str, first: int, last: int, enough: int) -> int:
        """Distinct outlets of the articles counted in minute buckets ``first..last``,
        counted up to ``enough`` at most: whether a window has a rule's ``min_sources``,
        asked at every verdict that holds, where the evidence is only read for an alert."""
        ...
