"""Event-time mention counts: AsyncRedis for the live worker, memory for backtests.

Redis key schema (``P`` is ``RAQIB_REDIS_PREFIX``, default ``raqib``; the subject in
braces is a Redis Cluster hash tag, so one subject's keys share a slot)::

    P:{entity:iran}:seen:<article_id>   stamp, TTL 2 days     dedup of (subject, article)
    P:{entity:iran}:m:<minute>          hash article_id -> {"q": stamp, "n": snippet,
                                        "h": [start, end] of the name}, TTL 2 days
    P:{entity:iran}:h:<hour>            integer count, TTL 35 days
    P:article:<article_id>              {"t": title, "s": source, "u": url} as first
                                        counted, TTL 2 days

``<minute>`` and ``<hour>`` are event-time buckets, in minutes or hours since the Unix
epoch (UTC). ``redis-cli HLEN 'raqib:{entity:iran}:m:29000000'`` reads one minute.
One Lua script call per subject of a batch (dedup, minute and hour buckets), all the
batch's calls in one pipeline: one round trip, or on a Redis Cluster one per node, all
nodes at once (:func:`raqib.redis_cluster.eval_many`). An article's title, outlet and url
are written once (not once per subject that it names: ~40 per article), in the same
pipeline; a minute bucket written before that held them in each value too, and is still
read.

The *stamp* is where the count stage read the mention (``<partition>:<offset>`` of its
``mentions`` message; "1" when counted from elsewhere, e.g. a backfill). It tells a
redelivery apart from a duplicate: the same message read again after a crash is a
*replay* — counted already, but to be judged again, in order — while another message
with the same (subject, article) is a duplicate, counted never.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from pydantic_core import to_json

from processors.series import Series
from raqib.counting import HOUR, MINUTE, Recorded, hour_of, minute_of
from raqib.lru import BoundedCache
from raqib.messages import Evidence, Mention
from raqib.redis_cluster import AsyncRedis, eval_many, pipe_mget

MINUTE_TTL_S = 2 * 24 * 3600
HOUR_TTL_S = 35 * 24 * 3600

NEW, DUPLICATE, REPLAY = Recorded.NEW, Recorded.DUPLICATE, Recorded.REPLAY
UNSTAMPED = "1"

_RECORD = """
-- One subject's mentions of a batch, in order (every key shares the subject's hash tag).
-- KEYS: the distinct minute and hour buckets. ARGV[1], ARGV[2]: the minute and hour TTLs;
-- ARGV[3]: the subject's seen-key prefix; ARGV[4]: a JSON array with, per mention,
-- [article id, stamp, index of its minute bucket, index of its hour bucket (indexes into
-- KEYS), snippet, start and end of the name in it]: one argument to send, not seven per
-- mention, and the bucket's JSON value made here, not nested in it. A seen key is
-- made here, not declared: it shares the declared keys' hash slot, which is all a
-- cluster asks, and declaring one per mention cost more to send than the rest.
local minute_ttl, hour_ttl, seen = ARGV[1], ARGV[2], ARGV[3]
local out, minutes, hours = {}, {}, {}
for i, m in ipairs(cjson.decode(ARGV[4])) do
  local stamp, key = m[2], seen .. m[1]
  if redis.call('SET', key, stamp, 'NX', 'EX', minute_ttl) then
    local value = {q = stamp}
    if m[5] ~= '' then
      value.n, value.h = m[5], {m[6], m[7]}
    end
    redis.call('HSET', KEYS[m[3]], m[1], cjson.encode(value))
    minutes[m[3]] = true
    hours[m[4]] = (hours[m[4]] or 0) + 1
    out[i] = 1
  elseif stamp ~= '1' and redis.call('GET', key) == stamp then
    out[i] = 2
  else
    out[i] = 0
  end
end
for minute in pairs(minutes) do
  redis.call('EXPIRE', KEYS[minute], minute_ttl)
end
for hour, added in pairs(hours) do
  redis.call('INCRBY', KEYS[hour], added)
  redis.call('EXPIRE', KEYS[hour], hour_ttl)
end
return out
"""


def stamp_of(partition: int, offset: int) -> str:
    return f"{partition}:{offset}"


def _parse_stamp(stamp: str) -> tuple[int, int] | None:
    partition, sep, offset = stamp.partition(":")
    if not sep or not partition.isdigit() or not offset.isdigit():
        return None
    return int(partition), int(offset)


def _article_json(mention: Mention) -> bytes:
    data = {"t": mention.title[:300], "s": mention.source}
    if mention.url:
        data["u"] = mention.url[:1000]
    return to_json(data)


def _evidence_of(article: str, data: dict[str, Any]) -> Evidence:
    highlight = data.get("h")
    return Evidence(
        id=article,
        title=data.get("t", ""),
        source=data.get("s", ""),
        url=data.get("u", ""),
        snippet=data.get("n", ""),
        highlight=tuple(highlight) if highlight else None,
    )


class RedisCounts:
    """Counts in Redis; safe to share between workers and to replay into.

    Example::

        counts = RedisCounts(redis_client(settings))
        await counts.record(mention)
        # -> True
    """

    def __init__(self, redis: AsyncRedis, prefix: str = "raqib") -> None:
        self.redis = redis
        self.prefix = prefix
        self._record = redis.register_script(_RECORD)

    def key(self, subject: str, kind: str, bucket: int | str) -> str:
        return f"{self.prefix}:{{{subject}}}:{kind}:{bucket}"

    def article_key(self, article_id: str) -> str:
        return f"{self.prefix}:article:{article_id}"

    def _script_args(
        self, subject: str, mentions: Sequence[Mention]
    ) -> tuple[list[str], list[str | int | bytes]]:
        """One subject's mentions as the record script takes them."""
        buckets: dict[str, int] = {}  # key -> its index in KEYS (1-based)
        at: dict[datetime, tuple[int, int]] = {}  # event time -> its buckets' indexes
        rows: list[tuple[str, str, int, int, str, int, int]] = []
        for m in mentions:
            indexes = at.get(m.event_time)
            if indexes is None:
                minute = self.key(subject, "m", minute_of(m.event_time))
                hour = self.key(subject, "h", hour_of(m.event_time))
                indexes = at[m.event_time] = (
                    buckets.setdefault(minute, len(buckets) + 1),
                    buckets.setdefault(hour, len(buckets) + 1),
                )
            start, end = m.highlight or (0, 0)
            rows.append((m.article_id, m.seq or UNSTAMPED, *indexes, m.snippet, start, end))
        payload = to_json(rows)  # pydantic-core's encoder: a sixth of json.dumps's time
        seen = self.key(subject, "seen", "")
        return list(buckets), [MINUTE_TTL_S, HOUR_TTL_S, seen, payload]

    async def record(self, mention: Mention) -> Recorded:
        """Count a mention unless it was counted before."""
        (flag,) = await self.record_many([mention])
        return flag

    async def record_many(self, mentions: Sequence[Mention]) -> list[Recorded]:
        """Record a batch in one round trip: one script call per subject (its mentions in
        order, all its keys in one hash slot), so a batch of 200 articles costs a few
        hundred calls, not one per mention. For each mention, in the batch's order:
        ``NEW``, ``DUPLICATE`` or ``REPLAY``."""
        if not mentions:
            return []
        by_subject: dict[str, list[int]] = {}
        by_article: dict[str, Mention] = {}
        for i, m in enumerate(mentions):
            by_subject.setdefault(m.subject, []).append(i)
            by_article.setdefault(m.article_id, m)
        # before the counts: whatever counted an article can show it
        articles = [
            ("SET", self.article_key(a), _article_json(m), "NX", "EX", MINUTE_TTL_S)
            for a, m in by_article.items()
        ]
        calls = [
            self._script_args(subject, [mentions[i] for i in indexes])
            for subject, indexes in by_subject.items()
        ]
        replies = await eval_many(self.redis, self._record, calls, before=articles)
        flags = [DUPLICATE] * len(mentions)
        for indexes, reply in zip(by_subject.values(), replies, strict=True):
            for i, flag in zip(indexes, reply, strict=True):
                flags[i] = Recorded(int(flag))
        return flags

    async def load(
        self, subjects: Sequence[str], minutes: Sequence[int], hours: Sequence[int]
    ) -> dict[str, Loaded]:
        """These subjects' minute buckets (with their articles and stamps) and hour
        counts: what a :class:`MirroredCounts` starts from.

        Up to four round trips: which subjects have hour counts, their counts, then only the
        minute buckets of hours that counted something (a minute bucket lives 2 days, its
        hour's count 35: no count, no bucket), then the articles those buckets name — so a
        subject never seen costs one read, not one per minute.
        """
        minute_range = list(minutes)
        hour_range = list(hours)
        minute_hours = sorted({m * MINUTE // HOUR for m in minute_range})
        probe = hour_range + [h for h in minute_hours if h not in set(hour_range)]
        async with self.redis.pipeline(transaction=False) as pipe:
            for subject in subjects:
                pipe.exists(*[self.key(subject, "h", hour) for hour in probe])
            known = [s for s, n in zip(subjects, await pipe.execute(), strict=True) if n]
        async with self.redis.pipeline(transaction=False) as pipe:
            for subject in known:  # one subject's keys: one slot
                pipe_mget(pipe, [self.key(subject, "h", hour) for hour in probe])
            replies = dict(zip(known, await pipe.execute(), strict=True)) if known else {}
        counted = [replies.get(s, [None] * len(probe)) for s in subjects]
        wanted: list[tuple[str, int]] = []
        loaded: dict[str, Loaded] = {}
        for subject, values in zip(subjects, counted, strict=True):
            by_hour = {h: int(v) for h, v in zip(probe, values, strict=True) if v is not None}
            found = Loaded()
            found.hours.update((h, n) for h, n in by_hour.items() if h in set(hour_range))
            loaded[subject] = found
            wanted.extend(
                (subject, m) for m in minute_range if by_hour.get(m * MINUTE // HOUR, 0) > 0
            )
        if wanted:
            async with self.redis.pipeline(transaction=False) as pipe:
                for subject, minute in wanted:
                    pipe.hgetall(self.key(subject, "m", minute))
                buckets = await pipe.execute()
            evidence = await self._evidence(
                [(s, m, bucket) for (s, m), bucket in zip(wanted, buckets, strict=True)]
            )
            for (subject, minute, article), (stamp, shown) in evidence.items():
                found = loaded[subject]
                found.minutes.setdefault(minute, {})[article] = shown
                where = _parse_stamp(stamp)
                if where is not None:
                    found.stamps[(minute, article)] = where
        return loaded

    async def _evidence(
        self, buckets: Sequence[tuple[str, int, dict[bytes, bytes]]]
    ) -> dict[tuple[str, int, str], tuple[str, Evidence]]:
        """Per (subject, minute, article) of the minute buckets read, its stamp and its
        evidence (the article's title, outlet and url and the subject's snippet, one more
        round trip; a value written by an older raqib holds them itself)."""
        values: dict[tuple[str, int, str], dict[str, Any]] = {}
        for subject, minute, bucket in buckets:
            for k, v in bucket.items():
                values[(subject, minute, _text(k))] = json.loads(v)
        articles = sorted({article for (_, _, article), data in values.items() if "t" not in data})
        facts: dict[str, dict[str, Any]] = {}
        if articles:
            async with self.redis.pipeline(transaction=False) as pipe:
                for article in articles:
                    pipe.get(self.article_key(article))
                replies = await pipe.execute()
            facts = {a: json.loads(r) for a, r in zip(articles, replies, strict=True) if r}
        return {
            where: (
                data.get("q", UNSTAMPED),
                _evidence_of(where[2], {**facts.get(where[2], {}), **data}),
            )
            for where, data in values.items()
        }

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
                pipe_mget(pipe, hour_keys)
            replies = await pipe.execute()
        count = minutes[1] - minutes[0] + 1
        in_minutes = sum(int(n) for n in replies[:count])
        in_gap = sum(int(n) for n in replies[count : count + len(gap_minutes)])
        in_hours = sum(int(v) for v in replies[-1] if v is not None) if hour_keys else 0
        return in_minutes, in_hours + in_gap

    async def evidence(self, subject: str, first: int, last: int) -> list[Evidence]:
        minutes = range(first, last + 1)
        async with self.redis.pipeline(transaction=False) as pipe:
            for minute in minutes:
                pipe.hgetall(self.key(subject, "m", minute))
            buckets = await pipe.execute()
        read = await self._evidence(
            [(subject, m, bucket) for m, bucket in zip(minutes, buckets, strict=True)]
        )
        return [shown for _, shown in (read[k] for k in sorted(read, key=lambda k: k[1:]))]

    async def sources(self, subject: str, first: int, last: int, enough: int) -> int:
        return min(len({e.source for e in await self.evidence(subject, first, last)}), enough)


@dataclass
class Loaded:
    """One subject's buckets as read from Redis: articles per minute, counts per hour,
    and where each stamped article was read from (``(partition, offset)``)."""

    minutes: dict[int, dict[str, Evidence]] = field(default_factory=dict)
    hours: dict[int, int] = field(default_factory=dict)
    stamps: dict[tuple[int, str], tuple[int, int]] = field(default_factory=dict)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass
class MemoryCounts:
    """The same counts in process memory, for ``raqib backtest`` and unit tests.

    Buckets are kept per subject (``by_minute[subject][minute]``: its articles;
    ``minute_counts[subject]`` and ``by_hour[subject]``: counts per minute and per hour,
    as :class:`Series`), so a window or a baseline is summed over the subject's own counts.
    """

    seen: set[tuple[str, str]] = field(default_factory=set)
    by_minute: dict[str, dict[int, dict[str, Evidence | Kept]]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    """A minute's articles: what was kept of the mention when counted here (put into an
    :class:`Evidence` only when an alert shows it), or the evidence read from Redis."""
    minute_counts: dict[str, Series] = field(default_factory=lambda: defaultdict(Series))
    """How many articles each of ``by_minute``'s buckets holds, summed fast."""
    by_hour: dict[str, Series] = field(default_factory=lambda: defaultdict(Series))
    subjects_at: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    """Per minute, the subjects with a bucket of it: dropping old minutes touches those
    buckets only, not every subject's."""

    async def prepare(
        self,
        batch: Sequence[Mention],
        also: Iterable[str],
        minutes: Sequence[int],
        hours: Sequence[int],
    ) -> None:
        """Nothing to load: everything is here."""

    async def record(self, mention: Mention) -> Recorded:
        key = (mention.subject, mention.article_id)
        if key in self.seen:
            return DUPLICATE
        self.seen.add(key)
        self.add(mention)
        return NEW

    def add(self, mention: Mention, *, in_hour: bool = True) -> None:
        """Count a mention already known to be new (a mirror's owner checked it); with
        ``in_hour=False`` in its minute only (its hour's count already holds it)."""
        kept = Kept(
            mention.title[:300],
            mention.source,
            mention.url[:1000],
            mention.snippet,
            mention.highlight,
        )
        at = mention.event_time
        if self.keep(mention.subject, minute_of(at), mention.article_id, kept) and in_hour:
            self.by_hour[mention.subject].add(hour_of(at))

    def keep(self, subject: str, minute: int, article_id: str, kept: Evidence | Kept) -> bool:
        """Put an article in a subject's minute bucket (made, and indexed, when first
        needed); whether it was not there yet (and so counts)."""
        minutes = self.by_minute[subject]
        bucket = minutes.get(minute)
        if bucket is None:
            bucket = minutes[minute] = {}
            self.subjects_at[minute].add(subject)
        elif article_id in bucket:
            return False
        bucket[article_id] = kept
        self.minute_counts[subject].add(minute)
        return True

    def drop_minutes_before(self, minute: int) -> None:
        """Forget minute buckets no rule can read any more (a long-running mirror)."""
        touched: set[str] = set()
        for old in [m for m in self.subjects_at if m < minute]:
            for subject in self.subjects_at.pop(old):
                buckets = self.by_minute.get(subject)
                if buckets is not None:
                    buckets.pop(old, None)
                    touched.add(subject)
        for subject in touched:
            counts = self.minute_counts.get(subject)
            if counts is not None:
                counts.drop_before(minute)

    def drop(self, subjects: Iterable[str]) -> None:
        """Forget these subjects entirely."""
        for subject in subjects:
            self.by_minute.pop(subject, None)
            self.minute_counts.pop(subject, None)
            self.by_hour.pop(subject, None)

    async def minutes(self, subject: str, first: int, last: int) -> int:
        counts = self.minute_counts.get(subject)
        return 0 if counts is None else counts.sum(first, last)

    async def hours(self, subject: str, first: int, last: int) -> int:
        counts = self.by_hour.get(subject)
        return 0 if counts is None else counts.sum(first, last)

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
        buckets = self.by_minute.get(subject, {})
        found: list[Evidence] = []
        for minute in range(first, last + 1):
            bucket = buckets.get(minute)
            if bucket:
                found.extend(_as_evidence(k, bucket[k]) for k in sorted(bucket))
        return found

    async def sources(self, subject: str, first: int, last: int, enough: int) -> int:
        buckets = self.by_minute.get(subject, {})
        seen: set[str] = set()
        for minute in range(first, last + 1):
            for kept in buckets.get(minute, {}).values():
                seen.add(kept.source)
                if len(seen) >= enough:
                    return enough
        return len(seen)


class Kept(NamedTuple):
    """What a minute bucket keeps of a mention counted here: what an alert would show of
    it. A mirror holds up to a day of mentions; the ~1 KB model each came in is not kept
    (measured: one worker's peak memory 391 -> 324 MB on the pipeline benchmark)."""

    title: str
    source: str
    url: str
    snippet: str
    highlight: tuple[int, int] | None


def _as_evidence(article_id: str, kept: Evidence | Kept) -> Evidence:
    if isinstance(kept, Evidence):
        return kept
    return Evidence(
        id=article_id,
        title=kept.title,
        source=kept.source,
        url=kept.url,
        snippet=kept.snippet,
        highlight=kept.highlight,
    )


Unjudged = Callable[[tuple[int, int], str], bool]
"""Whether an article counted from the message at (partition, offset) is not judged yet."""


@dataclass(slots=True)
class _Span:
    """What a mirror loaded of one subject: the minute and hour buckets read from Redis
    with it, and from which minute and hour on it holds everything Redis holds (what it
    loaded, and all it counted since: nothing older was read)."""

    minutes: frozenset[int]
    hours: frozenset[int]
    minutes_from: int
    hours_from: int
    older: frozenset[int] = frozenset()
    """Minutes before ``minutes_from`` loaded since for an article judged late (complete
    too, until the mirror next drops minutes)."""
    older_since: int | None = None
    """Where the mirror had dropped minutes up to when ``older`` was loaded."""


def _run_starts(buckets: Sequence[int]) -> dict[int, int]:
    """Per bucket of a sorted list, the first bucket of the run of consecutive ones it is in.

    >>> _run_starts([3, 4, 5, 9, 10])
    {3: 3, 4: 3, 5: 3, 9: 9, 10: 9}
    """
    starts: dict[int, int] = {}
    start = previous = 0
    for i, bucket in enumerate(buckets):
        if i == 0 or bucket != previous + 1:
            start = bucket
        starts[bucket] = start
        previous = bucket
    return starts


def _first_offsets(batch: Sequence[Mention]) -> dict[int, int]:
    """The first offset of each ``mentions`` partition in a stamped batch."""
    first: dict[int, int] = {}
    for m in batch:
        where = _parse_stamp(m.seq) if m.seq else None
        if where is not None and where[1] < first.get(where[0], where[1] + 1):
            first[where[0]] = where[1]
    return first


class MirroredCounts:
    """Redis counts read from a mirror in memory: exact, in stream order, no round trip.

    Every subject of a partition of ``mentions`` is counted by the one worker that owns
    the partition, so that worker can keep the subject's recent buckets in memory: loaded
    from Redis the first time it meets the subject (after a restart or a rebalance), then
    updated as it counts. A batch costs two round trips (load the subjects not yet
    mirrored, record the batch); reads during evaluation see exactly the mentions counted
    before, as if each were read from Redis one by one, so the live worker fires what a
    one-by-one run (and ``raqib backtest``) fires.

    Use: ``await prepare(batch, reach)``, then ``record`` and evaluate each mention in
    order.

    At most ``max_subjects`` subjects are mirrored (subjects come from the input: a feed
    can invent sources by the thousand); the least recently used fall out and are loaded
    again from Redis when next met, so the bound costs round trips, never exactness.
    """

    PRUNE_MINUTES = 10
    """How far (event time) the oldest minute a batch reads moves before the minutes behind
    it are dropped: a mirror holds the rules' reach and no more than this beyond, however
    fast a backlog is read."""
    MAX_SUBJECTS = 50_000

    def __init__(
        self,
        redis: RedisCounts,
        max_subjects: int = MAX_SUBJECTS,
        judged: Callable[[int, int, str], bool] | None = None,
    ) -> None:
        self.redis = redis
        self.mirror = MemoryCounts()
        self._mirrored: BoundedCache[str, _Span] = BoundedCache(
            "count_mirror", max_subjects, on_evict=lambda subject, _: self.mirror.drop([subject])
        )
        """Per subject mirrored, the minute and hour buckets loaded with it (a replayed
        mention of another minute of a loaded hour is in that hour's count, not in the
        minutes) and from where on it holds all Redis holds (an article judged late reads
        further back: :meth:`_load_older`)."""
        self._new: dict[tuple[str, str], list[Recorded]] = {}
        self._attempted: set[tuple[str, str]] = set()
        """What a recording that failed part way may have written after its subjects were
        loaded: told ``REPLAY`` on the retry, but in no count loaded."""
        self._pruned_before: int | None = None
        self.replayed = 0
        self.judged = judged
        """Whether an article's part of the ``mentions`` message at (partition, offset)
        was judged, here or before this mirror began (the count stage's acknowledgements
        say). What Redis holds stamped from a message not judged yet was counted by a
        previous owner that crashed before committing it, and is about to be replayed: a
        subject loaded now leaves it out. Unset, every message from the batch's first
        offset on is taken as not judged yet (a mirror read in offset order, as the tests
        and benchmarks read one)."""

    async def prepare(
        self,
        batch: Sequence[Mention],
        also: Iterable[str],
        minutes: Sequence[int],
        hours: Sequence[int],
    ) -> None:
        """Mirror the batch's subjects (and ``also``: subjects rules will re-read) over the
        given bucket ranges, then record the batch in Redis."""
        minutes, hours = sorted(minutes), sorted(hours)
        wanted = {m.subject for m in batch} | set(also)
        if len(wanted) > self._mirrored.maxsize:
            raise ValueError(f"{len(wanted)} subjects in one batch: mirror more than that")
        spans = {s: self._mirrored.get(s) for s in wanted}  # get: touch
        missing = sorted(s for s, span in spans.items() if span is None)
        if missing:
            loaded = await self.redis.load(missing, minutes, hours)
            left_out = self._unjudged(batch)
            spanned = frozenset(minutes), frozenset(hours)
            # from the newest run of buckets on (an older run, around a late article, is
            # loaded too, but what lies between the runs is not)
            since = max(_run_starts(minutes).values(), default=0)
            since_hour = max(_run_starts(hours).values(), default=0)
            for subject in missing:  # in the cache first: an eviction drops an old mirror
                self._mirrored[subject] = _Span(*spanned, since, since_hour)
            for subject, found in loaded.items():
                self._mirror_loaded(subject, found, left_out)
        if minutes and hours:
            low_minute, low_hour = minutes[0], hours[0]
            floor = low_minute if self._pruned_before is None else self._pruned_before
            older = {  # mirrored before this batch, and it may read older than they hold
                subject
                for subject, span in spans.items()
                if span is not None
                and (max(span.minutes_from, floor) > low_minute or span.hours_from > low_hour)
            }
            if older:
                await self._load_older(batch, older, minutes, hours, floor)
        # A failure part way leaves part of the batch recorded: the retry is told REPLAY
        # for those (same stamps) and the mirror, which adds a mention only when it is
        # judged, stays what Redis holds of everything judged so far.
        try:
            flags = await self.redis.record_many(batch)
        except BaseException:
            self._attempted.update((m.subject, m.article_id) for m in batch)
            raise
        for m, flag in zip(batch, flags, strict=True):
            self._new.setdefault((m.subject, m.article_id), []).append(flag)
        if minutes:
            self._prune(minutes[0])

    def _unjudged(self, batch: Sequence[Mention]) -> Unjudged:
        """Whether an article found in Redis, with its stamp, was counted from a message
        not judged yet (see :attr:`judged`)."""
        judged = self.judged
        if judged is not None:
            return lambda where, article: not judged(*where, article)
        first = _first_offsets(batch)
        return lambda where, _: where[0] in first and where[1] >= first[where[0]]

    async def _load_older(
        self,
        batch: Sequence[Mention],
        subjects: set[str],
        minutes: Sequence[int],
        hours: Sequence[int],
        floor: int,
    ) -> None:
        """Load what the batch's articles judged late will read of ``subjects`` from before
        what the mirror holds of them.

        An article judged late is judged at its own time (hours late, from a feed that
        publishes late): its subjects' windows reach minutes the mirror dropped since
        (:meth:`_prune`, up to ``floor``), or that were never loaded, and a baseline hours
        older than the subject was loaded with. Those buckets are read from Redis: a
        minute's articles are added to what the mirror holds of it (a dropped bucket a late
        mention made again holds only that one), an hour never loaded takes Redis's count.
        As in a first load, what messages not judged yet counted is left out of the
        minutes (:attr:`judged`); each is counted when its message is judged.
        """
        minute_starts, hour_starts = _run_starts(minutes), _run_starts(hours)
        reach: dict[str, tuple[int, int]] = {}  # subject -> the first minute and hour it reads
        for m in batch:
            if m.subject in subjects:
                first = minute_starts.get(minute_of(m.event_time))
                first_hour = hour_starts.get(hour_of(m.event_time))
                if first is None or first_hour is None:
                    continue  # judged at the watermark (older than a late article may be)
                known = reach.get(m.subject)
                if known is not None:
                    first, first_hour = min(first, known[0]), min(first_hour, known[1])
                reach[m.subject] = first, first_hour
        wanted: dict[tuple[tuple[int, ...], tuple[int, ...]], list[str]] = {}
        for subject, (first, first_hour) in reach.items():
            span = self._mirrored.get(subject)
            assert span is not None  # noqa: S101 - mirrored, and touched last: not evicted
            held_from = max(span.minutes_from, floor)
            have = span.older if span.older_since == self._pruned_before else frozenset()
            older_minutes = tuple(x for x in minutes if first <= x < held_from and x not in have)
            older_hours = tuple(range(first_hour, span.hours_from))
            if older_minutes or older_hours:
                wanted.setdefault((older_minutes, older_hours), []).append(subject)
        left_out = self._unjudged(batch)
        for (older_minutes, older_hours), group in wanted.items():
            loaded = await self.redis.load(group, older_minutes, older_hours)
            for subject, found in loaded.items():
                self._mirror_older(subject, found, older_minutes, older_hours, left_out)

    def _mirror_older(
        self,
        subject: str,
        found: Loaded,
        older_minutes: Sequence[int],
        older_hours: Sequence[int],
        left_out: Unjudged,
    ) -> None:
        """Add what Redis holds of a mirrored subject's older buckets (see
        :meth:`_load_older`), less the minutes' mentions of messages not judged yet (their
        hours, never loaded, are told apart when those are judged: :meth:`record`)."""
        span = self._mirrored.get(subject)
        assert span is not None  # noqa: S101 - only mirrored subjects are loaded older
        counts = self.mirror.by_hour[subject]
        taken = [h for h in older_hours if h not in span.hours]
        for hour in taken:  # never loaded: the mirror holds only what it counted since
            if missed := found.hours.get(hour, 0) - counts.get(hour):
                counts.add(hour, missed)
        if older_hours:
            span.hours_from = min(span.hours_from, older_hours[0])
            span.hours = span.hours | frozenset(taken)
        if span.older_since != self._pruned_before:  # dropped since: loaded again
            span.older, span.older_since = frozenset(), self._pruned_before
        span.older = span.older | frozenset(older_minutes)
        for minute, bucket in found.minutes.items():
            for article, evidence in bucket.items():
                where = found.stamps.get((minute, article))
                if where is None or not left_out(where, article):
                    self.mirror.keep(subject, minute, article, evidence)

    def _prune(self, oldest_read: int) -> None:
        """Drop the minutes before the oldest one this batch reads (rules read no further
        back than their reach from a watermark, and watermarks do not go back)."""
        if self._pruned_before is None:
            self._pruned_before = oldest_read
        elif oldest_read >= self._pruned_before + self.PRUNE_MINUTES:
            self.mirror.drop_minutes_before(oldest_read)
            self._pruned_before = oldest_read

    def _mirror_loaded(self, subject: str, found: Loaded, left_out: Unjudged) -> None:
        """Mirror what Redis holds of a subject, less what was counted from messages not
        judged yet (a crash between counting and committing): those are counted again, in
        order, as their messages are replayed, so that each is judged against exactly what
        came before it — as in the run that did not crash. A subject met again after it
        fell out of the mirror gets back all it counted."""
        mirror = self.mirror
        held = mirror.by_hour.get(subject) or Series()  # none: it was not mirrored
        hours = {hour: held.get(hour) for hour in held.times()} | found.hours  # Redis wins
        hours_of = mirror.by_hour[subject] = Series(hours.items())
        for minute, bucket in found.minutes.items():
            for article, evidence in bucket.items():
                where = found.stamps.get((minute, article))
                if where is not None and left_out(where, article):
                    hour = minute * MINUTE // HOUR
                    if hours_of.get(hour) > 0:
                        hours_of.add(hour, -1)
                    continue
                mirror.keep(subject, minute, article, evidence)

    def forget(self) -> None:
        """Drop the mirror (partitions moved: another worker may have counted since)."""
        self.mirror = MemoryCounts()
        self._mirrored.clear()
        self._new.clear()
        self._attempted.clear()
        self._pruned_before = None

    async def record(self, mention: Mention) -> Recorded:
        """What Redis said of this mention in :meth:`prepare`; counted in the mirror if new
        to it (new, or replayed after a crash: left out of the mirror until now).

        A replayed mention of a minute not loaded with its subject (counted before the
        crash, beyond the minutes the first batch after it needed) is already in the hour
        counts loaded: only its minute is mirrored, else the baseline would count it twice.
        """
        pair = (mention.subject, mention.article_id)
        flags = self._new.get(pair)
        if not flags:
            raise RuntimeError(f"{mention.subject} {mention.article_id} was not prepared")
        flag = flags.pop(0)
        if not flags:
            del self._new[pair]
        if flag == REPLAY:
            self.replayed += 1
            spanned = self._mirrored.get(mention.subject)
            in_hours = (
                spanned is not None
                and minute_of(mention.event_time) not in spanned.minutes
                and hour_of(mention.event_time) in spanned.hours
                and pair not in self._attempted
            )
            self.mirror.add(mention, in_hour=not in_hours)
        elif flag == NEW:
            self.mirror.add(mention)
        if self._attempted:  # empty but after a recording that failed part way
            self._attempted.discard(pair)
        return flag

    async def minutes(self, subject: str, first: int, last: int) -> int:
        return await self.mirror.minutes(subject, first, last)

    async def hours(self, subject: str, first: int, last: int) -> int:
        return await self.mirror.hours(subject, first, last)

    async def window(
        self,
        subject: str,
        minutes: tuple[int, int],
        hours: tuple[int, int],
        gap: tuple[int, int] | None = None,
    ) -> tuple[int, int]:
        return await self.mirror.window(subject, minutes, hours, gap)

    async def evidence(self, subject: str, first: int, last: int) -> list[Evidence]:
        """The minutes' articles: from the mirror, or from Redis where the mirror no longer
        holds them (a silence shows the last article heard, hours before what a rule reads
        from the watermark; only an alert reads evidence)."""
        if self._holds(subject, first, last):
            return await self.mirror.evidence(subject, first, last)
        return await self.redis.evidence(subject, first, last)

    def _holds(self, subject: str, first: int, last: int) -> bool:
        """Whether the mirror holds all Redis holds of a subject's minutes first..last."""
        span = self._mirrored.get(subject)
        if span is None:
            return False
        floor = self._pruned_before
        held_from = span.minutes_from if floor is None else max(span.minutes_from, floor)
        if first >= held_from:
            return True
        older = span.older if span.older_since == floor else frozenset()
        return all(m in older for m in range(first, min(last + 1, held_from)))

    async def sources(self, subject: str, first: int, last: int, enough: int) -> int:
        if self._holds(subject, first, last):
            return await self.mirror.sources(subject, first, last, enough)
        return await self.redis.sources(subject, first, last, enough)
