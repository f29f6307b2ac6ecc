"""``raqib top``: the leading subjects of a window, read from the live counts in Redis.

"Now" is the latest event-time minute that holds a count, not the wall clock: after a
replay of last month's news, ``top`` shows last month's leaders.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from alerts import spike_stats
from processors.counts import MINUTE_TTL_S, RedisCounts
from raqib.counting import HOUR, MINUTE
from raqib.redis_cluster import AsyncRedis, pipe_mget

Order = Literal["count", "ratio"]
BASELINE_HOURS = 24
PRIOR_PER_DAY = 1.0


@dataclass(frozen=True, slots=True)
class Row:
    subject: str
    observed: int
    expected: float
    ratio: float


@dataclass(frozen=True, slots=True)
class Leaders:
    start: datetime
    end: datetime
    rows: list[Row]


async def minute_buckets(redis: AsyncRedis, prefix: str) -> dict[str, set[int]]:
    """Every subject with a minute bucket in Redis, and its minutes: one SCAN, of every
    primary on a Redis Cluster (redis-py's cluster ``scan_iter`` walks each node's
    keyspace in turn). A SCAN, not a leaderboard kept as the counts are written: ``top``
    is an operator's occasional question, while a sorted set would cost every batch a
    write to the one node holding it (a hot slot) and a second round trip (only mentions
    found new may raise it), and would be a second copy of the counts to drift."""
    found: dict[str, set[int]] = {}
    head = f"{prefix}:{{"
    async for raw in redis.scan_iter(match=f"{prefix}:{{*}}:m:*", count=1000):
        key = raw.decode() if isinstance(raw, bytes) else raw
        subject, _, minute = key[len(head) :].rpartition("}:m:")
        if subject and minute.isdigit():
            found.setdefault(subject, set()).add(int(minute))
    return found


async def leaders(
    redis: AsyncRedis,
    prefix: str,
    *,
    window: timedelta,
    by: Order = "count",
    limit: int = 20,
) -> Leaders | None:
    """The ``limit`` subjects with the most mentions (or the highest ratio to their
    previous 24 hours) in the ``window`` ending at the latest counted minute; None when
    nothing is counted."""
    if not timedelta(minutes=1) <= window <= timedelta(seconds=MINUTE_TTL_S):
        raise ValueError("window must be between 1m and 2d (minute buckets are kept 2 days)")
    buckets = await minute_buckets(redis, prefix)
    if not buckets:
        return None
    last = max(max(minutes) for minutes in buckets.values())
    first = last - int(window.total_seconds() // MINUTE) + 1
    last_hour = first * MINUTE // HOUR - 1
    gap_first = (last_hour + 1) * HOUR // MINUTE
    hours = range(last_hour - BASELINE_HOURS + 1, last_hour + 1)
    shown = {s: minutes for s, minutes in buckets.items() if max(minutes) >= first}
    windows = await _windows(RedisCounts(redis, prefix), shown, first, last, gap_first, hours)
    rows: list[Row] = []
    for subject, (observed, baseline) in sorted(windows.items()):
        if observed == 0:
            continue
        stats = spike_stats(
            observed=observed,
            baseline_count=baseline,
            baseline_minutes=BASELINE_HOURS * 60 + (first - gap_first),
            window_minutes=last - first + 1,
            prior_per_minute=PRIOR_PER_DAY / 1440,
        )
        rows.append(Row(subject, observed, stats.expected, stats.ratio))
    if by == "count":
        rows.sort(key=lambda r: (-r.observed, -r.ratio, r.subject))
    else:
        rows.sort(key=lambda r: (-r.ratio, -r.observed, r.subject))
    return Leaders(
        start=datetime.fromtimestamp(first * MINUTE, tz=UTC),
        end=datetime.fromtimestamp((last + 1) * MINUTE, tz=UTC),
        rows=rows[:limit],
    )


async def _windows(
    counts: RedisCounts,
    buckets: dict[str, set[int]],
    first: int,
    last: int,
    gap_first: int,
    hours: range,
) -> dict[str, tuple[int, int]]:
    """Per subject, its mentions in minutes ``first..last`` and in its baseline (the hours,
    then the minutes ``gap_first..first - 1`` of the part hour): only the minute buckets
    the SCAN found are read, every subject's in one pipeline (one round trip per node)."""
    asked: list[tuple[str, list[bool]]] = []  # subject, per bucket read: in the window?
    async with counts.redis.pipeline(transaction=False) as pipe:
        for subject, minutes in sorted(buckets.items()):
            in_window = []
            for minute in sorted(m for m in minutes if gap_first <= m <= last):
                pipe.hlen(counts.key(subject, "m", minute))
                in_window.append(minute >= first)
            pipe_mget(pipe, [counts.key(subject, "h", hour) for hour in hours])
            asked.append((subject, in_window))
        replies = iter(await pipe.execute())
    found: dict[str, tuple[int, int]] = {}
    for subject, in_window in asked:
        observed = before = 0
        for window in in_window:
            n = int(next(replies))
            observed, before = (observed + n, before) if window else (observed, before + n)
        before += sum(int(v) for v in next(replies) if v is not None)
        found[subject] = observed, before
    return found
