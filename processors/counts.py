"""Event-time mention counts: Redis for the live worker, memory for backtests.

Redis key schema (``P`` is ``RAQIB_REDIS_PREFIX``, default ``raqib``; the subject in
braces is a Redis Cluster hash tag, so one subject's keys share a slot)::

    P:{entity:iran}:seen:<article_id>   "1", TTL 2 days       dedup of (subject, article)
    P:{entity:iran}:m:<minute>          hash article_id -> {"t": title, "s": source}, TTL 2 days
    P:{entity:iran}:h:<hour>            integer count, TTL 35 days

``<minute>`` and ``<hour>`` are event-time buckets, in minutes or hours since the Unix
epoch (UTC). ``redis-cli HLEN 'raqib:{entity:iran}:m:29000000'`` reads one minute.
One Lua script per mention: dedup, minute and hour buckets in one round trip.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field

from redis.asyncio import Redis

from raqib.counting import hour_of, minute_of
from raqib.messages import Evidence, Mention

MINUTE_TTL_S = 2 * 24 * 3600
HOUR_TTL_S = 35 * 24 * 3600

_RECORD = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[3]) then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
  redis.call('INCR', KEYS[3])
  redis.call('EXPIRE', KEYS[3], ARGV[4])
  return 1
end
return 0
"""


def _evidence_json(mention: Mention) -> str:
    return json.dumps({"t": mention.title[:300], "s": mention.source}, ensure_ascii=False)


class RedisCounts:
    """Counts in Redis; safe to share between workers and to replay into.

    Example::

        counts = RedisCounts(Redis.from_url("redis://127.0.0.1:6379/0"))
        await counts.record(mention)
        # -> True
    """

    def __init__(self, redis: Redis, prefix: str = "raqib") -> None:
        self.redis = redis
        self.prefix = prefix
        self._record = redis.register_script(_RECORD)

    def key(self, subject: str, kind: str, bucket: int | str) -> str:
        return f"{self.prefix}:{{{subject}}}:{kind}:{bucket}"

    async def record(self, mention: Mention) -> bool:
        s = mention.subject
        keys = [
            self.key(s, "seen", mention.article_id),
            self.key(s, "m", minute_of(mention.event_time)),
            self.key(s, "h", hour_of(mention.event_time)),
        ]
        args: list[str | int] = [
            mention.article_id,
            _evidence_json(mention),
            MINUTE_TTL_S,
            HOUR_TTL_S,
        ]
        return bool(await self._record(keys=keys, args=args))

    async def minutes(self, subject: str, first: int, last: int) -> int:
        async with self.redis.pipeline(transaction=False) as pipe:
            for minute in range(first, last + 1):
                pipe.hlen(self.key(subject, "m", minute))
            return sum(int(n) for n in await pipe.execute())

    async def hours(self, subject: str, first: int, last: int) -> int:
        if last < first:
            return 0
        keys = [self.key(subject, "h", hour) for hour in range(first, last + 1)]
        return sum(int(v) for v in await self.redis.mget(keys) if v is not None)

    async def window(
        self,
        subject: str,
        minutes: tuple[int, int],
        hours: tuple[int, int],
        gap: tuple[int, int] | None = None,
    ) -> tuple[int, int]:
        gap_minutes = range(gap[0], gap[1] + 1) if gap is not None else range(0)
        async with self.redis.pipeline(transaction=False) as pipe:
            for minute in [*range(minutes[0], minutes[1] + 1), *gap_minutes]:
                pipe.hlen(self.key(subject, "m", minute))
            hour_keys = [self.key(subject, "h", h) for h in range(hours[0], hours[1] + 1)]
            if hour_keys:
                pipe.mget(hour_keys)
            replies = await pipe.execute()
        count = minutes[1] - minutes[0] + 1
        in_minutes = sum(int(n) for n in replies[:count])
        in_gap = sum(int(n) for n in replies[count : count + len(gap_minutes)])
        in_hours = sum(int(v) for v in replies[-1] if v is not None) if hour_keys else 0
        return in_minutes, in_hours + in_gap

    async def evidence(self, subject: str, first: int, last: int) -> list[Evidence]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for minute in range(first, last + 1):
                pipe.hgetall(self.key(subject, "m", minute))
            buckets = await pipe.execute()
        found: list[Evidence] = []
        for bucket in buckets:
            for article_id, raw in sorted(bucket.items()):
                data = json.loads(raw)
                found.append(Evidence(id=_text(article_id), title=data["t"], source=data["s"]))
        return found


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass
class MemoryCounts:
    """The same counts in process memory, for ``raqib backtest`` and unit tests."""

    seen: set[tuple[str, str]] = field(default_factory=set)
    by_minute: dict[tuple[str, int], dict[str, Evidence]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    by_hour: dict[tuple[str, int], int] = field(default_factory=lambda: defaultdict(int))

    async def record(self, mention: Mention) -> bool:
        key = (mention.subject, mention.article_id)
        if key in self.seen:
            return False
        self.seen.add(key)
        evidence = Evidence(id=mention.article_id, title=mention.title[:300], source=mention.source)
        self.by_minute[(mention.subject, minute_of(mention.event_time))][mention.article_id] = (
            evidence
        )
        self.by_hour[(mention.subject, hour_of(mention.event_time))] += 1
        return True

    async def minutes(self, subject: str, first: int, last: int) -> int:
        return sum(len(self.by_minute.get((subject, m), {})) for m in range(first, last + 1))

    async def hours(self, subject: str, first: int, last: int) -> int:
        return sum(self.by_hour.get((subject, h), 0) for h in range(first, last + 1))

    async def window(
        self,
        subject: str,
        minutes: tuple[int, int],
        hours: tuple[int, int],
        gap: tuple[int, int] | None = None,
    ) -> tuple[int, int]:
        in_gap = await self.minutes(subject, *gap) if gap is not None else 0
        return await self.minutes(subject, *minutes), await self.hours(subject, *hours) + in_gap

    async def evidence(self, subject: str, first: int, last: int) -> list[Evidence]:
        found: list[Evidence] = []
        for minute in range(first, last + 1):
            bucket = self.by_minute.get((subject, minute), {})
            found.extend(bucket[k] for k in sorted(bucket))
        return found
