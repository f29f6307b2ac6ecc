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
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from alerts import RedisEpisodes, RuleEngine, RulesFile, load_rules, steps_of
from alerts.last_seen import LastSeen
from processors.counts import MirroredCounts, RedisCounts, stamp_of
from raqib.lru import BoundedCache
from raqib.messages import Alert, Mention

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

T0 = datetime(2024, 12, 1, tzinfo=UTC)
INVENTED = 100_000
HOURS = 14
QUIET_FROM = T0 + timedelta(hours=10)
BATCH = 500
CHECKPOINTS = (10_000, 50_000, 100_000)
MINUTE = timedelta(minutes=1)


def _rules() -> RulesFile:
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
    """This process's resident memory now (not its peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _bounds(engine: RuleEngine) -> dict[str, int]:
    """Each cache's bound, by the name its metrics carry."""
    holders = [engine, engine.counts, engine.episodes]
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
            _rules(),
            MirroredCounts(RedisCounts(redis, prefix=unique)),
            episodes,
            lambda subject: (subject, subject),
        )
        bounds = _bounds(engine)
        alerts: list[Alert] = []
        seen: set[str] = set()
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
                most_last = max(most_last, await redis.hlen(f"{unique}:episodes:raqib:0:last"))
                seen.update(m.subject for m in batch if m.subject.startswith("source:inv"))
                for mark in CHECKPOINTS:
                    if mark not in at and len(seen) >= mark:
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
    assert late_growth < 25, "every cache is full by 50k sources: memory must stay flat"
