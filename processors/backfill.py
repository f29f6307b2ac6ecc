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

Example::

    episodes = redis_episodes(redis, "raqib", "raqib")
    done = await backfill(values, pipeline, RedisCounts(redis), episodes, partitions=4)
    done.line()
    # -> 'backfill: 576 articles, 24,128 mentions counted, 0 duplicates, 4 partitions, ...'
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
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

BATCH = 1000
"""Mentions recorded per round trip to Redis."""


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


async def backfill(
    lines: Iterable[bytes],
    pipeline: Pipeline,
    counts: RedisCounts,
    episodes: Callable[[int], EpisodeStore],
    *,
    partitions: int,
    limits: Limits = DEFAULT_LIMITS,
) -> Backfilled:
    """Count every article of ``lines`` (raw messages, as ``raqib replay`` sends them) and
    record each partition's history with ``episodes(partition)``; evaluate no rule."""
    done = Backfilled()
    watched: dict[int, _Watched] = {}
    pending: list[Mention] = []

    async def record() -> None:
        flags = await counts.record_many(pending)
        done.counted += sum(1 for flag in flags if flag == NEW)
        done.duplicates += sum(1 for flag in flags if flag != NEW)
        pending.clear()

    for number, raw in enumerate(lines, start=1):
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
            watched.setdefault(partition, _Watched()).add(m.event_time)
            done.first = m.event_time if done.first is None else min(done.first, m.event_time)
            done.last = m.event_time if done.last is None else max(done.last, m.event_time)
        pending.extend(mentions)
        if len(pending) >= BATCH:
            await record()
    if pending:
        await record()
    for partition in sorted(watched):
        store = episodes(partition)
        for since, until in watched[partition].runs():
            await store.backfilled(since, until)
    done.partitions = set(watched)
    return done
