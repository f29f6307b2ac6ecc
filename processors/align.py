"""Watermark alignment: one ``mentions`` partition judged in one order, however the
``articles`` partitions interleave.

Every article reaches every ``mentions`` partition as one message or more — its mentions
for that partition, or an empty batch (a heartbeat) — tagged with the ``articles``
partition it came from (its *origin*) and its event time. An origin is read in order, so
the latest event time it has sent is how far it has got. The aligner holds what arrives
and releases it in the canonical order ``(event time, article id)`` once every origin has
got past it: the count stage then sees the same sequence whatever the interleaving, and
the same sequence as ``raqib backtest`` (which processes a stream in that order). This is
how Flink and Beam align watermarks across input partitions.

An article dated far ahead of its origin (more than ``max_jump``) moves nothing until the
origin's next article says what it was: if that one is as far on, the stream really jumped
(it resumed after a gap, or it is sparse) and the jump is confirmed; if it is back on time
(near where the origin had got — an archive replayed far out of order proves nothing), the
lone one had a broken clock and is not counted; if the origin goes quiet, the jump stands.
The decision is made by the origin's own order of articles, which every partition sees the
same (only an origin going quiet brings in wall time, as idleness does below).

An origin that sends nothing (a quiet ``articles`` partition, a stopped producer) would
hold everything back. Its idleness is declared where it can be known — by the tag stage
that reads it, once it has read everything the partition holds and nothing new came for
``RAQIB_ALIGN_IDLE_S`` — as an *idle marker* on every ``mentions`` partition
(``MentionBatch.idle``), repeated while it stays quiet. An idle origin is left out of the
minimum until it sends again. What is then released beyond where it had got is *partial*
(it may still send older articles), and an article that arrives behind what was released
is *late* (judged at its own time, labelled). The count stage's own speed never makes an
origin look idle: a backlog being read is not silence, however long it takes on a loaded
machine, so a slow or restarted worker judges exactly what a fast one does.

>>> from datetime import UTC, datetime
>>> t = lambda m: datetime(2024, 12, 1, 10, m, tzinfo=UTC)
>>> a = Aligner(origins=2)
>>> a.add(MentionBatch(article_id="b", origin=1, event_time=t(2), mentions=[]), "B")
>>> a.add(MentionBatch(article_id="a", origin=0, event_time=t(1), mentions=[]), "A")
>>> a.release()  # both origins are at 10:01 at least, but origin 0 may send more at 10:01
[]
>>> a.add(MentionBatch(article_id="c", origin=0, event_time=t(3), mentions=[]), "C")
>>> [r.token for r in a.release()]  # every origin is past 10:01 now
['A']
>>> a.add(MentionBatch(article_id="", origin=1, event_time=t(2), idle=True), "I")
>>> [(r.token, r.partial) for r in a.release()]  # origin 1 is idle: origin 0 alone decides
[('B', False)]
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from raqib.messages import MentionBatch

MAX_JUMP = timedelta(hours=1)
"""An article further than this ahead of its origin's progress is a suspect until a second
article near it confirms the jump."""


@dataclass(frozen=True, slots=True)
class Released:
    """A batch let through, with its token (what the caller acks once it is processed)."""

    batch: MentionBatch
    token: Any
    partial: bool = False
    late: bool = False


@dataclass(order=True)
class _Held:
    key: tuple[datetime, str, int]
    batch: MentionBatch = field(compare=False)
    token: Any = field(compare=False)
    arrived: float = field(compare=False)


class Aligner:
    """Holds one ``mentions`` partition's batches until every origin has passed them."""

    def __init__(
        self,
        origins: int,
        clock: Callable[[], float] = time.monotonic,
        max_jump: timedelta = MAX_JUMP,
    ) -> None:
        self.origins = origins
        self.clock = clock
        """Only says how long a batch has been held (a metric), never what is released."""
        self.max_jump = max_jump
        self.quarantined: list[MentionBatch] = []
        """Batches of articles that jumped ahead alone (the caller reports and clears)."""
        self._suspects: dict[int, list[_Held]] = {}
        self.progress: dict[int, datetime] = {}
        self.idle: set[int] = set()
        """Origins whose tag stage said they are quiet (until they send again)."""
        self.released_up_to: datetime | None = None
        self._held: list[_Held] = []
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._held) + sum(map(len, self._suspects.values()))

    def add(self, batch: MentionBatch, token: Any) -> None:
        """Hold ``batch`` until it can be judged; an idle marker is never held (its token
        is the caller's to acknowledge at once)."""
        origin = batch.origin if batch.origin is not None else 0
        if batch.idle:
            self.idle.add(origin)
            self._confirm_suspects(origin)  # quiet since the jump: nothing says otherwise
            return
        self.idle.discard(origin)
        key = (batch.event_time, batch.article_id, next(self._order))
        held = _Held(key, batch, token, self.clock())
        known = self.progress.get(origin)
        suspects = self._suspects.setdefault(origin, [])
        if known is not None and batch.event_time > known + self.max_jump:
            # far ahead of its origin: a broken clock, or the stream resumed after a gap.
            # The origin's next article says which; until then it moves nothing.
            first = min((s.batch.event_time for s in suspects), default=batch.event_time)
            suspects.append(held)
            if (
                len(suspects) > 1
                and batch.event_time >= first - self.max_jump
                and any(s.batch.article_id != batch.article_id for s in suspects)
            ):
                self._confirm_suspects(origin)  # the origin went on from there: it moved on
            return
        if known is not None and batch.event_time >= known - self.max_jump:
            self._quarantine_suspects(origin)  # back on time: the jump was a broken clock
        if known is None or batch.event_time > known:
            self.progress[origin] = batch.event_time
        heapq.heappush(self._held, held)

    def _confirm_suspects(self, origin: int) -> None:
        """The origin really moved on (its next article did too, or it went quiet after
        the jump): the suspects are judged at their own times."""
        suspects = self._suspects.get(origin)
        if not suspects:
            return
        for s in suspects:
            heapq.heappush(self._held, s)
        self.progress[origin] = max(self.progress[origin], *(s.batch.event_time for s in suspects))
        suspects.clear()

    def _quarantine_suspects(self, origin: int) -> None:
        """Articles of ``origin`` that jumped ahead alone had a broken clock: the next
        article of their origin is back on time. They are not counted (each would add a
        mention at a time nobody can vouch for) and cannot move the watermark, restart
        warm-ups or silence every outlet; they still pass, as mention-less steps at the
        time their origin had reached, so that their offsets are committed. Their tagged
        form is on ``articles.tagged``; the worker logs and counts them."""
        suspects = self._suspects.get(origin)
        if not suspects:
            return
        at = self.progress[origin]
        for s in suspects:
            quarantined = s.batch.model_copy(update={"event_time": at, "mentions": []})
            self.quarantined.append(s.batch)
            key = (at, quarantined.article_id, s.key[2])
            heapq.heappush(self._held, _Held(key, quarantined, s.token, s.arrived))
        suspects.clear()

    @property
    def watermark(self) -> datetime | None:
        """How far every origin has got (None until each has been heard from)."""
        if len(self.progress) < self.origins:
            return None
        return min(self.progress.values())

    def _bound(self) -> tuple[datetime | None, bool]:
        """Up to where batches may go: the least progress of the origins not idle (None
        while one of them has not been heard from), and whether that bound itself may go
        (only when every origin is idle: none can send another article at it)."""
        active: list[datetime] = []
        for origin in range(self.origins):
            if origin in self.idle:
                continue
            if origin not in self.progress:
                return None, False
            active.append(self.progress[origin])
        if active:
            return min(active), False
        return max(self.progress.values(), default=None), True

    def _partial(self, at: datetime) -> bool:
        """Whether an idle origin had not got as far as ``at`` (it may still send older)."""
        return any(self.progress.get(o) is None or self.progress[o] < at for o in self.idle)

    def release(self) -> list[Released]:
        """What can be judged now, in canonical order."""
        out: list[Released] = []
        bound, inclusive = self._bound()
        while self._held and bound is not None:
            head = self._held[0]
            at = head.key[0]
            if at > bound or (at == bound and not inclusive):
                break  # an origin at `bound` may still send another article at `bound`
            heapq.heappop(self._held)
            late = self.released_up_to is not None and at < self.released_up_to
            if self.released_up_to is None or at > self.released_up_to:
                self.released_up_to = at
            out.append(Released(head.batch, head.token, partial=self._partial(at), late=late))
        # a batch behind what was released already (an idle origin came back) goes now
        while self._held and self.released_up_to and self._held[0].key[0] < self.released_up_to:
            head = heapq.heappop(self._held)
            at = head.key[0]
            out.append(Released(head.batch, head.token, partial=self._partial(at), late=True))
        return out

    def held_seconds(self) -> float:
        """How long the next batch to release has waited (0 when nothing is held)."""
        return self.clock() - self._held[0].arrived if self._held else 0.0
