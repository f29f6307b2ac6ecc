"""Watermark alignment: whatever the interleaving of in-order origins, one release order."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.align import Aligner
from raqib.messages import Mention, MentionBatch

T0 = datetime(2024, 12, 1, 10, tzinfo=UTC)


def _idle(origin: int) -> MentionBatch:
    """What the tag stage of ``origin`` says once it has read all and heard nothing new."""
    return MentionBatch(article_id="", origin=origin, idle=True)


def _batch(article: str, origin: int, seconds: int) -> MentionBatch:
    return MentionBatch(
        article_id=article, origin=origin, event_time=T0 + timedelta(seconds=seconds)
    )


@st.composite
def _origins(draw: st.DrawFn) -> list[list[MentionBatch]]:
    """Up to four origins, each a stream in event-time order (ties allowed)."""
    count = draw(st.integers(1, 4))
    streams = []
    for origin in range(count):
        # mostly seconds apart; now and then hours (a stream resuming, or a broken clock)
        gaps = draw(st.lists(st.one_of(st.integers(0, 90), st.just(7_200)), max_size=12))
        at, stream = 0, []
        for i, gap in enumerate(gaps):
            at += gap
            stream.append(_batch(f"o{origin}-{i}", origin, at))
        streams.append(stream)
    return streams


def _run(streams: list[list[MentionBatch]], picks: list[int]) -> tuple[list[str], int]:
    """Feed the origins interleaved as ``picks`` says; the tail goes out once idle."""
    aligner = Aligner(origins=len(streams))
    queues = [list(s) for s in streams]
    out: list[str] = []
    pick = iter(picks)
    while any(queues):
        live = [q for q in queues if q]
        queue = live[next(pick, 0) % len(live)]
        batch = queue.pop(0)
        aligner.add(batch, batch.article_id)
        out.extend(r.token for r in aligner.release())
    released_before_idle = len(out)
    for origin in range(len(streams)):
        aligner.add(_idle(origin), None)
    out.extend(r.token for r in aligner.release())
    return out, released_before_idle


@settings(max_examples=300, deadline=None)
@given(
    _origins(), st.lists(st.integers(0, 3), max_size=60), st.lists(st.integers(0, 3), max_size=60)
)
def test_any_interleaving_releases_the_canonical_order(
    streams: list[list[MentionBatch]], one: list[int], other: list[int]
) -> None:
    first, _ = _run(streams, one)
    second, _ = _run(streams, other)
    canonical = sorted((b for s in streams for b in s), key=lambda b: (b.event_time, b.article_id))
    if not any(g >= 3_600 for s in streams for g in _gaps(s)):
        assert first == second == [b.article_id for b in canonical]
    assert first == second  # jumps are confirmed or clamped the same whatever the order


def _gaps(stream: list[MentionBatch]) -> list[float]:
    return [(b.event_time - a.event_time).total_seconds() for a, b in itertools.pairwise(stream)]


def test_nothing_is_released_before_every_origin_has_passed_it() -> None:
    aligner = Aligner(origins=2)
    aligner.add(_batch("a", 0, 0), "a")
    aligner.add(_batch("b", 0, 60), "b")
    assert aligner.release() == [] and aligner.watermark is None  # origin 1 not heard yet
    aligner.add(_batch("c", 1, 30), "c")
    assert [r.token for r in aligner.release()] == ["a"]
    assert aligner.watermark == T0 + timedelta(seconds=30)


def test_an_idle_origin_is_given_up_on_and_its_late_articles_are_labelled() -> None:
    aligner = Aligner(origins=2)
    aligner.add(_batch("quiet-0", 1, 0), "quiet-0")
    aligner.add(_batch("quiet-1", 1, 30), "quiet-1")
    aligner.add(_batch("a", 0, 60), "a")
    assert [r.token for r in aligner.release()] == ["quiet-0"]
    aligner.add(_batch("b", 0, 120), "b")
    assert [r.token for r in aligner.release()] == []  # origin 1 is still at 10:00:30
    aligner.add(_idle(1), "marker")  # its tag stage: read to its end and quiet
    aligner.add(_batch("c", 0, 180), "c")
    released = aligner.release()
    assert [(r.token, r.partial) for r in released] == [
        ("quiet-1", False),  # origin 1 had got that far: nothing is missing there
        ("a", True),
        ("b", True),
    ]  # and "c" waits: origin 0 may send more at 10:03
    assert aligner.idle == {1}
    aligner.add(_batch("old", 1, 90), "old")  # origin 1 is back, behind what was judged
    (late,) = aligner.release()
    assert (late.token, late.late) == ("old", True)
    assert aligner.idle == set() and len(aligner) == 1  # "c" waits for origin 1 again


def test_slowness_is_not_idleness() -> None:
    """However long a backlog takes to arrive, no origin is given up on without its
    marker: a loaded or restarted worker releases what a fast one does."""
    ticks = [0.0]
    aligner = Aligner(origins=2, clock=lambda: ticks[0])
    aligner.add(_batch("a", 0, 0), "a")
    aligner.add(_batch("b", 0, 60), "b")
    ticks[0] = 3_600.0  # an hour of wall time: origin 1 is merely behind
    assert aligner.release() == [] and aligner.held_seconds() == 3_600.0
    aligner.add(_batch("x", 1, 30), "x")
    assert [(r.token, r.partial) for r in aligner.release()] == [("a", False)]


def test_origins_never_heard_of_but_idle_hold_nothing_back() -> None:
    aligner = Aligner(origins=3)
    aligner.add(_batch("a", 0, 0), "a")
    aligner.add(_idle(1), None)
    assert aligner.release() == []  # origin 2: not heard of, not idle
    aligner.add(_idle(2), None)
    aligner.add(_idle(0), None)
    assert [(r.token, r.partial) for r in aligner.release()] == [("a", True)]


def test_one_article_dated_hours_ahead_moves_nothing_and_counts_nothing() -> None:
    aligner = Aligner(origins=1)
    aligner.add(_batch("a", 0, 0), "a")
    later = T0 + timedelta(hours=20)
    mention = Mention(subject="source:x", article_id="p", event_time=later)
    aligner.add(MentionBatch(article_id="p", origin=0, event_time=later, mentions=[mention]), "p")
    assert aligner.progress[0] == T0  # it moved nothing
    aligner.add(_batch("b", 0, 60), "b")  # the partition goes on: the clock was broken
    aligner.add(_batch("c", 0, 120), "c")
    released = aligner.release()
    assert [r.token for r in released] == ["a", "p", "b"]
    quarantined = next(r.batch for r in released if r.token == "p")
    assert quarantined.mentions == [] and quarantined.event_time == T0
    assert [b.article_id for b in aligner.quarantined] == ["p"]


def test_a_stream_that_really_jumped_is_confirmed_by_its_next_article() -> None:
    aligner = Aligner(origins=1)
    aligner.add(_batch("a", 0, 0), "a")
    aligner.add(_batch("b", 0, 6 * 3600), "b")
    assert aligner.progress[0] == T0
    aligner.add(_batch("c", 0, 6 * 3600 + 60), "c")
    assert aligner.progress[0] == T0 + timedelta(seconds=6 * 3600 + 60)
    assert [r.token for r in aligner.release()] == ["a", "b"] and aligner.quarantined == []


def test_an_archive_out_of_order_quarantines_nothing() -> None:
    """The seeds: 2021, 2024, 2016, 2018, 2021, then a drill in 2024 — years apart and out
    of order; an article far behind proves nothing about one far ahead."""
    aligner = Aligner(origins=1)
    day = 86_400
    for name, days in (("000", 0), ("001", 1327), ("002", -1620), ("003", -960), ("004", 251)):
        aligner.add(_batch(name, 0, days * day), name)
    aligner.add(_batch("drill-0", 0, 1334 * day), "drill-0")
    aligner.add(_batch("drill-1", 0, 1334 * day + 1800), "drill-1")
    aligner.add(_idle(0), None)
    released = aligner.release()
    assert aligner.quarantined == []
    assert sorted(r.token for r in released) == sorted(
        ["000", "001", "002", "003", "004", "drill-0", "drill-1"]
    )
    assert all(r.batch.event_time.year >= 2016 for r in released)


def test_a_sparse_partition_confirms_its_own_jumps() -> None:
    """A quiet night: an article every two hours on a partition is not a broken clock."""
    aligner = Aligner(origins=1)
    for i in range(5):
        aligner.add(_batch(f"n{i}", 0, i * 7200), f"n{i}")
    released = aligner.release()
    assert [r.token for r in released] == ["n0", "n1", "n2", "n3"] and aligner.quarantined == []
    aligner.add(_idle(0), None)  # and the last one stands once the partition is quiet
    assert [r.token for r in aligner.release()] == ["n4"]
