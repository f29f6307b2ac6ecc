"""Alert episodes: one ``alert_id`` from firing to resolved, kept where a restart finds it.

An episode opens when a rule's condition first holds, stays open while it holds,
resolves once it has been false for ``resolve_after``, and a new one may open only a
``cooldown`` after that. Repeats update the open episode; they never page again.

>>> from datetime import datetime, timedelta, UTC
>>> t0 = datetime(2024, 12, 1, tzinfo=UTC)
>>> ep, event = step(None, True, t0, rule="r", subject="entity:iran",
...                  resolve_after=timedelta(minutes=30), cooldown=timedelta(hours=1))
>>> event, ep.status
('firing', 'firing')
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, Protocol

from pydantic import BaseModel
from redis.asyncio.cluster import RedisCluster

from raqib.lru import BoundedCache
from raqib.redis_cluster import AsyncPipeline, AsyncRedis, adopt_renamed, mget

log = logging.getLogger(__name__)
Status = Literal["firing", "resolved"]

Position = tuple[datetime, str, int]
"""Where a step stands in its partition's canonical order: event time, article id and the
offset of its ``mentions`` message (copies of one article go in offset order). A worker
that replays a partition after a crash or a rebalance knows by it which steps were judged
(their alerts sent, their episode changes written) and must not be judged again against
the state they led to."""

STREAM_GAP = timedelta(hours=6)
"""A partition whose event time jumps further than this resumed after an outage (or a
backfill of another period): its warm-up starts again, else every subject of the
resumed stream would look "new" against the empty days before it."""


class Episode(BaseModel):
    """The state of one (rule, subject) episode."""

    rule: str
    subject: str
    alert_id: str
    status: Status
    started: datetime
    last_true: datetime
    resolved_at: datetime | None = None


def alert_id_for(rule: str, subject: str, started: datetime) -> str:
    """Stable per episode, so live and backtest name the same episode the same way."""
    digest = hashlib.sha256(f"{rule}|{subject}|{started.isoformat()}".encode()).hexdigest()
    return digest[:20]


def watched_with(
    started: datetime | None,
    watermark: datetime | None,
    since: datetime,
    until: datetime,
) -> tuple[datetime | None, datetime | None]:
    """A partition's (started, watermark) once the counts of ``since..until`` are added by
    a backfill: what the engine would have if it had watched them.

    History that joins what was watched (within ``STREAM_GAP``) extends it both ways; a
    later period after a gap is where the stream resumed (the engine restarts its warm-up
    there); an earlier period with a gap after it is history the partition never watched
    up to now, and changes nothing.

    >>> from datetime import datetime, UTC
    >>> day = [datetime(2024, 12, d, tzinfo=UTC) for d in range(1, 9)]
    >>> watched_with(None, None, day[0], day[2]) == (day[0], day[2])
    True
    >>> watched_with(day[2], day[3], day[0], day[2]) == (day[0], day[3])
    True
    >>> watched_with(day[5], day[6], day[0], day[2]) == (day[5], day[6])
    True
    >>> watched_with(day[0], day[1], day[4], day[6]) == (day[4], day[6])
    True
    """
    if started is None:
        return since, until if watermark is None else max(watermark, until)
    end = started if watermark is None else max(watermark, started)
    if until < started - STREAM_GAP:
        return started, watermark
    if since > end + STREAM_GAP:
        return since, until
    return min(started, since), max(end, until)


def step(
    episode: Episode | None,
    condition: bool,
    watermark: datetime,
    *,
    rule: str,
    subject: str,
    resolve_after: timedelta,
    cooldown: timedelta,
) -> tuple[Episode | None, Status | None]:
    """Advance an episode by one evaluation; return it and the alert to emit, if any."""
    if episode is None or episode.status == "resolved":
        if not condition:
            return episode, None
        if episode is not None and episode.resolved_at is not None:
            if watermark < episode.resolved_at + cooldown:
                return episode, None
        opened = Episode(
            rule=rule,
            subject=subject,
            alert_id=alert_id_for(rule, subject, watermark),
            status="firing",
            started=watermark,
            last_true=watermark,
        )
        return opened, "firing"
    if condition:
        return episode.model_copy(update={"last_true": max(episode.last_true, watermark)}), None
    if watermark - episode.last_true >= resolve_after:
        return episode.model_copy(update={"status": "resolved", "resolved_at": watermark}), (
            "resolved"
        )
    return episode, None


class EpisodeStore(Protocol):
    """Where episodes live; the open ones are re-checked as the watermark advances."""

    async def load(self, rule: str, subject: str) -> Episode | None: ...

    async def save(self, episode: Episode) -> None: ...

    async def open_episodes(self) -> list[tuple[str, str]]: ...

    async def load_watermark(self) -> datetime | None: ...

    async def save_watermark(self, watermark: datetime) -> None: ...

    async def load_position(self) -> Position | None:
        """The last step judged (see :data:`Position`), as of the last flush."""
        ...

    async def save_position(self, position: Position) -> None:
        """Written with the episode changes it led to, after them (one flush)."""
        ...

    async def started(self, at: datetime, *, restart: bool = False) -> datetime:
        """When this partition began watching: ``at`` on the first call ever, or when
        ``restart`` says the stream resumed after a gap."""
        ...

    async def backfilled(self, since: datetime, until: datetime) -> None:
        """Counts of ``since..until`` were added without evaluating rules (``raqib
        backfill``): move the partition's start and watermark as :func:`watched_with` says,
        so that the warm-up counts the history. Run it before the partition's worker starts
        (a running engine read them when it started)."""
        ...

    async def load_last_seen(self) -> dict[str, datetime]:
        """The last event time of each subject that silence rules watch."""
        ...

    async def save_last_seen(self, subject: str, at: datetime) -> None: ...

    async def forget_last_seen(self, subjects: Iterable[str]) -> None:
        """Silence rules no longer watch these subjects (:mod:`alerts.last_seen`)."""
        ...

    async def preload(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Read these (rule, subject) episodes ahead, in one round trip."""
        ...

    async def flush(self) -> None:
        """Persist what changed (a store may keep writes until here)."""
        ...


def partition_scope(app_id: str, partition: int) -> str:
    """The scope of one ``mentions`` partition's episodes, as the worker names it: each
    app (``RAQIB_APP_ID``) keeps its own watermarks and starts."""
    return f"{app_id}:{partition}"


class RedisEpisodes:
    """Episodes in Redis, so a restarted worker continues them.

    ``scope`` names the partition whose subjects this store serves (one per partition of
    ``mentions``). Keys: ``P:{<subject>}:ep:<rule>`` (episode JSON, TTL 35 days), and the
    partition's own, hash-tagged per partition (one Redis Cluster slot):
    ``P:{episodes:<scope>}:open`` (a set of ``rule|subject``), ``…:wm`` (the partition's
    event-time watermark, ISO 8601), ``…:start`` (the event time it began watching),
    ``…:pos`` (the last position judged) and ``…:last`` (a hash subject -> last event time,
    for the subjects that silence rules watch: bounded, see :mod:`alerts.last_seen`). What
    an older version wrote under ``P:episodes:<scope>:…`` is taken over on first use.

    One worker owns a partition, so what it wrote it reads back from memory, and writes
    are kept until :meth:`flush` (once per batch, before the batch's offsets are
    committed): a batch costs one round trip of episode writes, not one per change.

    The episodes read are cached in an LRU of ``max_cached`` (rule, subject) pairs: one
    that falls out is what Redis holds, and is read again. A change not yet flushed is
    read from the pending writes, never from Redis, so an eviction cannot lose it; and
    :meth:`preload` touches every pair a batch needs before reading the missing ones, so
    a batch of fewer pairs than the bound evicts none of its own.
    """

    TTL_S = 35 * 24 * 3600
    MAX_CACHED = 50_000

    def __init__(
        self,
        redis: AsyncRedis,
        prefix: str = "raqib",
        scope: str = "0",
        max_cached: int = MAX_CACHED,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.scope = scope
        partition = f"{prefix}:{{episodes:{scope}}}"
        self._open_key = f"{partition}:open"
        self._wm_key = f"{partition}:wm"
        self._start_key = f"{partition}:start"
        self._last_key = f"{partition}:last"
        self._pos_key = f"{partition}:pos"
        self._renamed: list[tuple[str, str]] | None = [
            (f"{prefix}:episodes:{scope}:{name}", f"{partition}:{name}")
            for name in ("open", "wm", "start", "last", "pos")
        ]
        """The names these keys had before they were hash-tagged, until taken over."""
        self._cache: BoundedCache[tuple[str, str], Episode | None] = BoundedCache(
            "episodes", max_cached
        )
        self._open: set[tuple[str, str]] | None = None
        self._dirty: dict[tuple[str, str], Episode] = {}
        self._dirty_last: dict[str, datetime] = {}
        self._forgotten_last: set[str] = set()
        self._watermark: datetime | None = None
        self._flushed_watermark: datetime | None = None
        self._position: Position | None = None

    async def _take_over_old_keys(self) -> None:
        """Before this store first touches its partition's keys: move what an older version
        wrote under their untagged names (a single-node deployment upgraded), once."""
        if self._renamed is not None:
            moved = await adopt_renamed(self.redis, self._renamed)
            if moved:
                log.info("episodes %s: took over %d untagged keys", self.scope, moved)
            self._renamed = None

    async def load_watermark(self) -> datetime | None:
        await self._take_over_old_keys()
        raw = await self.redis.get(self._wm_key)
        if raw is None:
            return None
        self._flushed_watermark = datetime.fromisoformat(_text(raw))
        return self._flushed_watermark

    async def save_watermark(self, watermark: datetime) -> None:
        self._watermark = watermark

    async def load_position(self) -> Position | None:
        await self._take_over_old_keys()
        raw = await self.redis.get(self._pos_key)
        if raw is None:
            return None
        at, article, offset = json.loads(raw)
        return datetime.fromisoformat(at), article, int(offset)

    async def save_position(self, position: Position) -> None:
        self._position = position

    async def started(self, at: datetime, *, restart: bool = False) -> datetime:
        await self._take_over_old_keys()
        await self.redis.set(self._start_key, at.isoformat(), nx=not restart, ex=self.TTL_S)
        raw = await self.redis.get(self._start_key)
        return datetime.fromisoformat(_text(raw)) if raw is not None else at

    async def backfilled(self, since: datetime, until: datetime) -> None:
        # read, then write (a backfill runs before the partition's worker, so nothing else
        # writes them meanwhile)
        await self._take_over_old_keys()
        raw_start = await self.redis.get(self._start_key)
        raw_wm = await self.redis.get(self._wm_key)
        started = datetime.fromisoformat(_text(raw_start)) if raw_start is not None else None
        watermark = datetime.fromisoformat(_text(raw_wm)) if raw_wm is not None else None
        new_start, new_wm = watched_with(started, watermark, since, until)
        if new_start is not None and new_start != started:
            await self.redis.set(self._start_key, new_start.isoformat(), ex=self.TTL_S)
        if new_wm is not None and new_wm != watermark:
            await self.redis.set(self._wm_key, new_wm.isoformat(), ex=self.TTL_S)

    async def load_last_seen(self) -> dict[str, datetime]:
        await self._take_over_old_keys()
        raw = await self.redis.hgetall(self._last_key)
        return {_text(k): datetime.fromisoformat(_text(v)) for k, v in raw.items()}

    async def save_last_seen(self, subject: str, at: datetime) -> None:
        self._forgotten_last.discard(subject)
        self._dirty_last[subject] = at

    async def forget_last_seen(self, subjects: Iterable[str]) -> None:
        for subject in subjects:
            self._dirty_last.pop(subject, None)
            self._forgotten_last.add(subject)

    def key(self, rule: str, subject: str) -> str:
        return f"{self.prefix}:{{{subject}}}:ep:{rule}"

    async def preload(self, pairs: Iterable[tuple[str, str]]) -> None:
        missing: list[tuple[str, str]] = []
        for pair in sorted(set(pairs)):
            if pair in self._dirty:
                continue  # read from the pending writes
            if pair in self._cache:
                self._cache.get(pair)  # touch: needed now, so among the last to go
            else:
                missing.append(pair)
        if not missing:
            return
        raws = await mget(self.redis, [self.key(rule, subject) for rule, subject in missing])
        for pair, raw in zip(missing, raws, strict=True):
            self._cache[pair] = None if raw is None else Episode.model_validate_json(raw)

    async def load(self, rule: str, subject: str) -> Episode | None:
        pair = (rule, subject)
        if pair in self._dirty:
            return self._dirty[pair]
        if pair not in self._cache:
            await self.preload([pair])
        return self._cache.get(pair)

    async def save(self, episode: Episode) -> None:
        pair = (episode.rule, episode.subject)
        self._cache[pair] = episode
        self._dirty[pair] = episode
        await self.open_episodes()  # read the open set before changing it
        assert self._open is not None  # noqa: S101 - loaded just above
        if episode.status == "firing":
            self._open.add(pair)
        else:
            self._open.discard(pair)

    async def flush(self) -> None:
        """Write what changed since the last flush, in one round trip.

        On a Redis Cluster the episodes live in their subjects' slots, on other nodes than
        the partition's keys, and a cluster pipeline writes every node at once: the episodes
        go first, then the partition's keys (two round trips), so that a flush cut short
        never leaves the position ahead of the episode changes it stands for.
        """
        watermark = self._watermark
        wm_changed = watermark is not None and watermark != self._flushed_watermark
        position = self._position
        if not (self._dirty or self._dirty_last or self._forgotten_last or wm_changed or position):
            return
        await self._take_over_old_keys()
        if self._dirty and isinstance(self.redis, RedisCluster):
            async with self.redis.pipeline(transaction=False) as pipe:
                self._queue_episodes(pipe)
                await pipe.execute()
            async with self.redis.pipeline(transaction=False) as pipe:
                self._queue_partition(pipe, watermark if wm_changed else None, position)
                await pipe.execute()
        else:
            async with self.redis.pipeline(transaction=False) as pipe:
                self._queue_episodes(pipe)
                self._queue_partition(pipe, watermark if wm_changed else None, position)
                await pipe.execute()
        self._dirty.clear()
        self._dirty_last.clear()
        self._forgotten_last.clear()
        self._flushed_watermark = watermark
        self._position = None

    def _queue_episodes(self, pipe: AsyncPipeline) -> None:
        for (rule, subject), episode in self._dirty.items():
            pipe.set(self.key(rule, subject), episode.model_dump_json(), ex=self.TTL_S)

    def _queue_partition(
        self, pipe: AsyncPipeline, watermark: datetime | None, position: Position | None
    ) -> None:
        """The partition's keys (one slot), the position last: a flush cut short leaves
        the older position."""
        for (rule, subject), episode in self._dirty.items():
            member = f"{rule}|{subject}"
            if episode.status == "firing":
                pipe.sadd(self._open_key, member)
            else:
                pipe.srem(self._open_key, member)
        if self._forgotten_last:
            pipe.hdel(self._last_key, *sorted(self._forgotten_last))
        if self._dirty_last:
            pipe.hset(
                self._last_key,
                mapping={k: v.isoformat() for k, v in self._dirty_last.items()},
            )
            pipe.expire(self._last_key, self.TTL_S)
        if watermark is not None:
            pipe.set(self._wm_key, watermark.isoformat(), ex=self.TTL_S)
            # a partition watched for longer than the TTL keeps its start
            pipe.expire(self._start_key, self.TTL_S)
        if position is not None:
            at, article, offset = position
            value = json.dumps([at.isoformat(), article, offset])
            pipe.set(self._pos_key, value, ex=self.TTL_S)

    async def open_episodes(self) -> list[tuple[str, str]]:
        if self._open is None:
            await self._take_over_old_keys()
            members = await self.redis.smembers(self._open_key)
            pairs = set()
            for m in members:
                rule, _, subject = _text(m).partition("|")
                pairs.add((rule, subject))
            self._open = pairs
        return sorted(self._open)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass
class MemoryEpisodes:
    """Episodes in memory, for backtests."""

    episodes: dict[tuple[str, str], Episode] = field(default_factory=dict)
    watermark: datetime | None = None
    start: datetime | None = None
    last_seen: dict[str, datetime] = field(default_factory=dict)
    position: Position | None = None

    async def started(self, at: datetime, *, restart: bool = False) -> datetime:
        if self.start is None or restart:
            self.start = at
        return self.start

    async def backfilled(self, since: datetime, until: datetime) -> None:
        self.start, self.watermark = watched_with(self.start, self.watermark, since, until)

    async def load_last_seen(self) -> dict[str, datetime]:
        return dict(self.last_seen)

    async def save_last_seen(self, subject: str, at: datetime) -> None:
        self.last_seen[subject] = at

    async def forget_last_seen(self, subjects: Iterable[str]) -> None:
        for subject in subjects:
            self.last_seen.pop(subject, None)

    async def preload(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Everything is here already."""

    async def flush(self) -> None:
        """Nothing to write."""

    async def load_watermark(self) -> datetime | None:
        return self.watermark

    async def save_watermark(self, watermark: datetime) -> None:
        self.watermark = watermark

    async def load_position(self) -> Position | None:
        return self.position

    async def save_position(self, position: Position) -> None:
        self.position = position

    async def load(self, rule: str, subject: str) -> Episode | None:
        return self.episodes.get((rule, subject))

    async def save(self, episode: Episode) -> None:
        self.episodes[(episode.rule, episode.subject)] = episode

    async def open_episodes(self) -> list[tuple[str, str]]:
        return sorted(k for k, e in self.episodes.items() if e.status == "firing")
