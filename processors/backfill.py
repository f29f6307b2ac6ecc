"""``raqib backfill PATH...``: count history in Redis without alerts, so rules start warm.

A new deployment (or a new Redis) knows nothing: every rule waits out its warm-up, and a
baseline is only as long as the partition has watched. Backfilling the last days of
articles counts them exactly as the worker would — the same :class:`Pipeline`, the same
Redis buckets, idempotently (running it twice counts nothing twice) — evaluates no rule,
and moves each partition's watched-since start back to the history it counted
(:meth:`alerts.episodes.EpisodeStore.backfilled`), so its rules are warm from the first
live mention.

Run it before the workers start (a running worker read its partitions' start when it
began), over history that reaches up to where the live stream starts or left off: a
partition whose history ends more than ``STREAM_GAP`` before the live stream warms up
again there, as it would after an outage.

``raqib backfill --processes N`` tags and counts in N forked processes (one per core by
default): the history's order does not matter to counts.

Example::

    done = await count(enumerate(values, start=1), pipeline, RedisCounts(redis), partitions=4)
    await mark_watched(done, redis_episodes(redis, "raqib", "raqib"))
    done.line()
    # -> 'backfill: 576 articles, 24,128 mentions counted, 0 duplicates, 4 partitions, ...'
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime

from alerts import STREAM_GAP, EpisodeStore, RedisEpisodes, partition_scope
from processors.backtest import Rejected
from processors.counts import NEW, RedisCounts
from processors.mentions import partition_of
from processors.pipeline import Pipeline
from raqib.counting import minute_of
from raqib.exceptions import InvalidArticle
from raqib.limits import DEFAULT_LIMITS, Limits
from raqib.messages import Mention, parse_article
from raqib.redis_cluster import AsyncRedis

CHUNK_LINES = 250
"""Lines a counting process takes at a time (``raqib backfill --processes``)."""
BATCH = 5000
"""Mentions recorded per round trip to Redis (~120 articles: a subject's mentions of them
go in one script call)."""


@dataclass
class Backfilled:
    """What a backfill counted, and the lines it skipped (numbered across all inputs)."""

    articles: int = 0
    counted: int = 0
    duplicates: int = 0
    partitions: set[int] = field(default_factory=set)
    first: datetime | None = None
    last: datetime | None = None
    rejected: list[Rejected] = field(default_factory=list)
    watched: dict[int, _Watched] = field(default_factory=dict, repr=False)
    """Per partition, the history it counted (see :func:`mark_watched`)."""

    def merge(self, other: Backfilled) -> None:
        """Add what another process counted (of other lines)."""
        self.articles += other.articles
        self.counted += other.counted
        self.duplicates += other.duplicates
        self.rejected.extend(other.rejected)
        for at in (other.first, other.last):
            if at is not None:
                self.first = at if self.first is None else min(self.first, at)
                self.last = at if self.last is None else max(self.last, at)
        for partition, watched in other.watched.items():
            self.watched.setdefault(partition, _Watched()).merge(watched)

    def line(self) -> str:
        span = (
            f"{self.first:%Y-%m-%dT%H:%M}Z .. {self.last:%Y-%m-%dT%H:%M}Z"
            if self.first is not None and self.last is not None
            else "no event time"
        )
        skipped = f", {len(self.rejected)} skipped" if self.rejected else ""
        return (
            f"backfill: {self.articles} articles{skipped}, {self.counted:,} mentions counted, "
            f"{self.duplicates:,} duplicates, {len(self.partitions)} partitions, {span}"
        )


class _Watched:
    """The event times one partition's history covers, as the minutes it touched (a
    bounded record however many mentions: at most one entry per minute)."""

    def __init__(self) -> None:
        self.minutes: dict[int, tuple[datetime, datetime]] = {}

    def add(self, at: datetime) -> None:
        minute = minute_of(at)
        seen = self.minutes.get(minute)
        self.minutes[minute] = (at, at) if seen is None else (min(seen[0], at), max(seen[1], at))

    def merge(self, other: _Watched) -> None:
        for first, last in other.minutes.values():
            self.add(first)
            self.add(last)

    def runs(self) -> list[tuple[datetime, datetime]]:
        """Spans of the history with no gap over ``STREAM_GAP`` inside, oldest first: what
        the engine would have watched without restarting its warm-up."""
        found: list[tuple[datetime, datetime]] = []
        for minute in sorted(self.minutes):
            first, last = self.minutes[minute]
            if found and first - found[-1][1] <= STREAM_GAP:
                found[-1] = (found[-1][0], last)
            else:
                found.append((first, last))
        return found


def redis_episodes(redis: AsyncRedis, prefix: str, app_id: str) -> Callable[[int], EpisodeStore]:
    """Each partition's episode store, under the scope the worker of ``app_id`` reads."""

    def of(partition: int) -> EpisodeStore:
        return RedisEpisodes(redis, prefix=prefix, scope=partition_scope(app_id, partition))

    return of


async def count(
    numbered: Iterable[tuple[int, bytes]],
    pipeline: Pipeline,
    counts: RedisCounts,
    *,
    partitions: int,
    limits: Limits = DEFAULT_LIMITS,
) -> Backfilled:
    """Count every article of ``numbered`` (line number, raw message) in Redis."""
    done = Backfilled()
    pending: list[Mention] = []
    recording: asyncio.Task[None] | None = None

    async def record(batch: list[Mention]) -> None:
        flags = await counts.record_many(batch)
        done.counted += sum(1 for flag in flags if flag == NEW)
        done.duplicates += sum(1 for flag in flags if flag != NEW)

    async def hand_over() -> None:
        """Record what is pending while the next articles are tagged: Redis works on its
        own core meanwhile (one batch in flight; a failure stops the backfill)."""
        nonlocal recording, pending
        if recording is not None:
            await recording
        recording = asyncio.create_task(record(pending))
        pending = []
        await asyncio.sleep(0)  # the batch is sent before tagging goes on

    for number, raw in numbered:
        if not raw.strip():
            continue
        try:
            article = parse_article(raw.rstrip(b"\r\n"), fallback_time=None, limits=limits)
            _, mentions = pipeline.process(article)
        except InvalidArticle as exc:
            done.rejected.append(Rejected(number, exc.reason))
            continue
        done.articles += 1
        for m in mentions:
            partition = partition_of(m.subject, partitions)
            done.watched.setdefault(partition, _Watched()).add(m.event_time)
            done.first = m.event_time if done.first is None else min(done.first, m.event_time)
            done.last = m.event_time if done.last is None else max(done.last, m.event_time)
        pending.extend(mentions)
        if len(pending) >= BATCH:
            await hand_over()
    await hand_over()
    if recording is not None:
        await recording
    return done


async def mark_watched(done: Backfilled, episodes: Callable[[int], EpisodeStore]) -> None:
    """Record each partition's history with ``episodes(partition)``: its rules start warm."""
    for partition in sorted(done.watched):
        store = episodes(partition)
        for since, until in done.watched[partition].runs():
            await store.backfilled(since, until)
    done.partitions = set(done.watched)


@dataclass
class _Shared:
    """What every counting process needs, inherited through ``fork`` (nothing pickled)."""

    pipeline: Pipeline
    connect: Callable[[], AsyncRedis]
    prefix: str
    partitions: int
    limits: Limits


_shared: _Shared | None = None
_child: tuple[asyncio.AbstractEventLoop, RedisCounts] | None = None


def _start_child() -> None:
    global _child  # noqa: PLW0603 - one event loop and one Redis client per process
    assert _shared is not None  # noqa: S101 - set by the parent before it forks
    loop = asyncio.new_event_loop()
    _child = loop, RedisCounts(_shared.connect(), prefix=_shared.prefix)


def _count_chunk(chunk: list[tuple[int, bytes]]) -> Backfilled:
    assert _shared is not None and _child is not None  # noqa: S101 - see _start_child
    loop, counts = _child
    shared = _shared
    return loop.run_until_complete(
        count(chunk, shared.pipeline, counts, partitions=shared.partitions, limits=shared.limits)
    )


def count_in_processes(
    lines: Iterable[bytes],
    pipeline: Pipeline,
    connect: Callable[[], AsyncRedis],
    *,
    prefix: str,
    partitions: int,
    processes: int,
    limits: Limits = DEFAULT_LIMITS,
) -> Backfilled:
    """:func:`count` in ``processes`` forked processes, each tagging and recording chunks
    of ``CHUNK_LINES`` lines (Redis's scripts make every count idempotent and atomic per
    subject, so the chunks' order does not matter); at most two chunks per process are
    read ahead, so a year of history is never all in memory."""
    global _shared  # noqa: PLW0603 - inherited by the forked processes
    _shared = _Shared(pipeline, connect, prefix, partitions, limits)
    done = Backfilled()
    context = multiprocessing.get_context("fork")
    try:
        with ProcessPoolExecutor(processes, mp_context=context, initializer=_start_child) as pool:
            in_flight: set[Future[Backfilled]] = set()
            for chunk in _chunks(enumerate(lines, start=1), CHUNK_LINES):
                if len(in_flight) >= 2 * processes:
                    finished, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                    for future in finished:
                        done.merge(future.result())
                in_flight.add(pool.submit(_count_chunk, chunk))
            for future in in_flight:
                done.merge(future.result())
    finally:
        _shared = None
    done.rejected.sort(key=lambda r: r.line)
    return done


def _chunks(numbered: Iterable[tuple[int, bytes]], size: int) -> Iterator[list[tuple[int, bytes]]]:
    chunk: list[tuple[int, bytes]] = []
    for item in numbered:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
