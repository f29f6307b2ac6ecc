"""Memory stays flat under 100,000 invented sources, and the outlet that goes quiet still
fires its silence.

A feed controls ``source:`` (free text): each article from a new invented outlet is a
new subject for the count mirror, the engine's caches, the episode cache and the silence
watch. The worker's engine (``MirroredCounts`` + ``RedisEpisodes`` over real Redis, the
default rules with their warm-ups at 0) is driven in batches of ~500 mentions, as the
count agent takes them, through 100,000 one-off sources and four real outlets that
publish every ten minutes; one of them stops. Every cache stays under its bound, the
Redis ``:last`` hash holds the four outlets only, and the silent one fires.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from alerts import RedisEpisodes, RuleEngine, RulesFile, load_rules, steps_of
from alerts.episodes import Episode
from alerts.last_seen import LastSeen
from processors.count_agent import CountStage
from processors.counts import MirroredCounts, RedisCounts, stamp_of
from processors.health import Health
from processors.metrics import Metrics
from processors.pipeline import Pipeline
from processors.topics import load_topics
from processors.watchlist import load_watchlist
from raqib.lru import BoundedCache, caches_of
from raqib.messages import Alert, Mention
from raqib.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

T0 = datetime(2024, 12, 1, tzinfo=UTC)
INVENTED = 100_000
HOURS = 14
QUIET_FROM = T0 + timedelta(hours=10)
BATCH = 500
CHECKPOINTS = (10_000, 50_000, 100_000)
MINUTE = timedelta(minutes=1)


def warm_default_rules() -> RulesFile:
    """The default rules, warm from the start (as after a backfill)."""
    rules = load_rules().rules
    return RulesFile(rules=tuple(r.model_copy(update={"warm_up": timedelta(0)}) for r in rules))


def _stream(outlets: Sequence[str]) -> list[Mention]:
    """Fourteen hours: each outlet every ten minutes (naming Iran; the first stops at
    10:00), and 100,000 articles from as many invented sources spread between them."""
    articles: list[tuple[datetime, str, list[str]]] = []
    for n, outlet in enumerate(outlets):
        for i in range(HOURS * 6):
            at = T0 + (10 * i + n) * MINUTE
            if not (n == 0 and at > QUIET_FROM):
                articles.append((at, f"{n}-{i}", [f"source:{outlet}", "entity:iran"]))
    step = HOURS * 3600 / INVENTED
    for i in range(INVENTED):
        at = T0 + timedelta(seconds=round(i * step, 3))
        articles.append((at, f"fake-{i:06d}", [f"source:invented-{i:06d}"]))
    articles.sort(key=lambda a: (a[0], a[1]))
    return [
        Mention(subject=subject, article_id=ident, event_time=at, source=ident, title="خبر")
        for at, ident, subjects in articles
        for subject in subjects
    ]


def _batches(mentions: Sequence[Mention]) -> list[list[Mention]]:
    """~500 mentions a batch, never splitting an article; stamped as the agent does."""
    batches: list[list[Mention]] = [[]]
    for offset, m in enumerate(mentions):
        m.seq = stamp_of(0, offset)
        last = batches[-1]
        if len(last) >= BATCH and last[-1].article_id != m.article_id:
            batches.append(last := [])
        last.append(m)
    return batches


def rss_mb() -> float:
    """This process's resident memory now (not its peak), after a collection and, on
    glibc, handing freed heap back to the system (else allocator slack reads as growth)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _bounds(engine: RuleEngine) -> dict[str, int]:
    """Each cache's bound, by the name its metrics carry."""
    holders = [engine, engine.judge, engine.counts, engine.episodes]
    found = {
        v.name: int(v.maxsize)
        for h in holders
        for v in vars(h).values()
        if isinstance(v, BoundedCache)
    }
    seen = engine._seen  # noqa: SLF001 - the test reads the bound it set
    found["silence_established"] = seen.max_established
    found["silence_provisional"] = int(seen.provisional.maxsize)
    return found


async def _clean(redis: Redis, prefix: str) -> None:
    async for keys in _scan(redis, f"{prefix}:*"):
        await redis.unlink(*keys)


async def _scan(redis: Redis, match: str) -> Any:
    cursor = 0
    while True:
        cursor, keys = await redis.scan(cursor, match=match, count=10_000)
        if keys:
            yield keys
        if cursor == 0:
            return


def test_invented_sources_leave_memory_flat_and_a_silent_outlet_fires(
    redis_server: Any, unique: str, news_ar: dict[str, Any], report: Callable[[str], None]
) -> None:
    outlets = news_ar["sources"][:4]
    stream = _stream(outlets)
    batches = _batches(stream)

    async def go() -> tuple[list[Alert], dict[int, tuple[float, dict[str, tuple[int, int]]]], int]:
        redis = Redis.from_url(redis_server.url)
        episodes = RedisEpisodes(redis, prefix=unique, scope="raqib:0")
        engine = RuleEngine(
            warm_default_rules(),
            MirroredCounts(RedisCounts(redis, prefix=unique)),
            episodes,
            lambda subject: (subject, subject),
        )
        bounds = _bounds(engine)
        alerts: list[Alert] = []
        sources = 0
        at: dict[int, tuple[float, dict[str, tuple[int, int]]]] = {}
        most_last = 0
        try:
            for batch in batches:
                steps = steps_of(batch)
                await engine.prepare(steps)
                alerts.extend((await engine.evaluate(steps)).alerts)
                await engine.flush()
                sizes = engine.cache_sizes()
                for name, (entries, _) in sizes.items():
                    assert entries <= bounds[name], f"{name}: {entries} > {bounds[name]}"
                most_last = max(most_last, await redis.hlen(f"{unique}:{{episodes:raqib:0}}:last"))
                sources += sum(m.subject.startswith("source:invented-") for m in batch)
                for mark in CHECKPOINTS:
                    if mark not in at and sources >= mark:
                        at[mark] = (rss_mb(), sizes)
            return alerts, at, most_last
        finally:
            await _clean(redis, unique)
            await redis.aclose()

    started = time.perf_counter()
    alerts, at, most_last = asyncio.run(go())
    took = time.perf_counter() - started

    silences = [a for a in alerts if a.rule == "source-silence"]
    assert [(a.subject, a.status) for a in silences] == [(f"source:{outlets[0]}", "firing")]
    assert silences[0].window.start <= QUIET_FROM
    assert most_last <= LastSeen.MAX_ESTABLISHED
    assert most_last == len(outlets), "the :last hash holds the real outlets only"
    growth = at[100_000][0] - at[10_000][0]
    late_growth = at[100_000][0] - at[50_000][0]
    for mark, (rss, sizes) in sorted(at.items()):
        caches = ", ".join(f"{k} {n:,} ({e:,} evicted)" for k, (n, e) in sorted(sizes.items()))
        report(f"memory bounds, {mark:,} invented sources: RSS {rss:.0f} MB; {caches}")
    report(
        f"memory bounds: RSS +{growth:.0f} MB from 10k to 100k sources "
        f"(+{late_growth:.0f} MB from 50k, every cache full); {len(stream):,} mentions in "
        f"{len(batches)} batches, {took:.1f} s"
    )
    # filling the caches costs ~2 KB a source (10k to 50k); once full, 50,000 more sources
    # must cost less than a fifth of that
    assert late_growth < 20, "every cache is full by 50k sources: memory must stay flat"


def _episode(subject: str) -> Episode:
    return Episode(
        rule="entity-spike",
        subject=subject,
        alert_id=f"id-{subject}",
        status="firing",
        started=T0,
        last_true=T0,
    )


def test_an_episode_evicted_before_its_flush_is_read_back_unchanged(
    redis_server: Any, unique: str
) -> None:
    subjects = [f"entity:e{i}" for i in range(5)]

    async def go() -> tuple[list[Episode | None], list[Episode | None], int]:
        redis = Redis.from_url(redis_server.url)
        try:
            store = RedisEpisodes(redis, prefix=unique, scope="raqib:0", max_cached=2)
            await store.preload(("entity-spike", s) for s in subjects)
            for s in subjects:
                await store.save(_episode(s))
            pending = [await store.load("entity-spike", s) for s in subjects]
            await store.flush()
            fresh = RedisEpisodes(redis, prefix=unique, scope="raqib:0", max_cached=2)
            flushed = [await fresh.load("entity-spike", s) for s in subjects]
            return pending, flushed, caches_of(store)["episodes"][1]
        finally:
            await _clean(redis, unique)
            await redis.aclose()

    pending, flushed, evicted = asyncio.run(go())
    assert pending == flushed == [_episode(s) for s in subjects]
    assert evicted >= 3


def test_subjects_no_longer_watched_leave_the_redis_last_hash(
    redis_server: Any, unique: str
) -> None:
    async def go() -> dict[bytes | str, bytes | str]:
        redis = Redis.from_url(redis_server.url)
        try:
            store = RedisEpisodes(redis, prefix=unique, scope="raqib:0")
            for name in ("a", "b", "c"):
                await store.save_last_seen(f"source:{name}", T0)
            await store.flush()
            await store.forget_last_seen(["source:a", "source:b"])
            await store.save_last_seen("source:b", T0 + MINUTE)  # watched again
            await store.flush()
            return await redis.hgetall(f"{unique}:{{episodes:raqib:0}}:last")
        finally:
            await _clean(redis, unique)
            await redis.aclose()

    assert asyncio.run(go()) == {
        b"source:b": (T0 + MINUTE).isoformat().encode(),
        b"source:c": T0.isoformat().encode(),
    }


def test_the_count_stage_exports_cache_sizes_and_evictions(redis_server: Any, unique: str) -> None:
    """/metrics shows each cache's entries and evictions after a batch."""
    settings = Settings(redis=redis_server.url, redis_prefix=unique)
    registry = CollectorRegistry()
    watchlist = load_watchlist()
    pipeline = Pipeline(watchlist, load_topics(None, watchlist))

    async def go() -> dict[str, tuple[int, int]]:
        redis = Redis.from_url(redis_server.url)
        try:
            metrics = Metrics.create(registry)
            stage = CountStage(settings, redis, warm_default_rules(), pipeline, metrics, Health())
            engine = stage.engines[0] = RuleEngine(
                warm_default_rules(),
                MirroredCounts(stage.counts),
                RedisEpisodes(redis, prefix=unique, scope="raqib:0"),
                pipeline.names,
                max_subjects=10,
            )
            for start in (0, 30):
                batch = [
                    Mention(subject=f"source:inv-{i}", article_id=f"a{i}",
                            event_time=T0 + i * MINUTE, seq=stamp_of(0, i))
                    for i in range(start, start + 30)
                ]  # fmt: skip
                await stage.judge(0, steps_of(batch))
                await stage.record(0)
            return engine.cache_sizes()
        finally:
            await _clean(redis, unique)
            await redis.aclose()

    sizes = asyncio.run(go())
    assert set(sizes) == {
        "count_mirror",
        "engine_rules",
        "engine_usual",
        "episodes",
        "silence_established",
        "silence_provisional",
    }
    for cache, (entries, evicted) in sizes.items():
        assert registry.get_sample_value("raqib_cache_entries", {"cache": cache}) == entries
        exported = registry.get_sample_value("raqib_cache_evictions_total", {"cache": cache})
        assert exported == evicted, cache
    assert sizes["engine_rules"][0] == 10 and sizes["engine_rules"][1] >= 50
    assert sizes["silence_provisional"] == (60, 0) and sizes["count_mirror"] == (60, 0)
