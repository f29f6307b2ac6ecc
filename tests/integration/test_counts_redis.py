"""Counts and episodes against a real Redis server: idempotent, bucketed, hash-tagged, TTL'd."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from alerts.episodes import Episode, RedisEpisodes
from processors.counts import HOUR_TTL_S, MINUTE_TTL_S, MemoryCounts, MirroredCounts, RedisCounts
from raqib.counting import hour_of, minute_of
from raqib.messages import Evidence, Mention

pytestmark = pytest.mark.integration
T = TypeVar("T")
T0 = datetime(2024, 12, 1, 9, 0, tzinfo=UTC)


def run(factory: Callable[[Redis], Awaitable[T]], url: str) -> T:
    async def main() -> T:
        client = Redis.from_url(url)
        try:
            return await factory(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


def mention(
    subject: str, article: str, at: datetime, source: str = "سانا", snippet: str = ""
) -> Mention:
    return Mention(
        subject=subject,
        article_id=article,
        event_time=at,
        source=source,
        title=f"خبر {article}",
        url=f"https://example.org/{article}",
        snippet=snippet,
        highlight=(0, 4) if snippet else None,
    )


def test_a_redelivered_mention_counts_once(redis_server: Any, unique: str) -> None:
    async def go(client: Redis) -> tuple[list[bool], int, int]:
        counts = RedisCounts(client, prefix=unique)
        m = mention("entity:iran", "a1", T0)
        results = [await counts.record(m) for _ in range(5)]
        minute, hour = minute_of(T0), hour_of(T0)
        return (
            results,
            await counts.minutes("entity:iran", minute, minute),
            await counts.hours("entity:iran", hour, hour),
        )

    results, per_minute, per_hour = run(go, redis_server.url)
    assert results == [True, False, False, False, False]
    assert per_minute == 1 and per_hour == 1


def test_keys_are_hash_tagged_per_subject_and_expire(redis_server: Any, unique: str) -> None:
    async def go(client: Redis) -> None:
        counts = RedisCounts(client, prefix=unique)
        await counts.record(mention("entity:aleppo", "a1", T0))

    run(go, redis_server.url)
    sync = SyncRedis.from_url(redis_server.url, decode_responses=True)
    keys = sorted(sync.scan_iter(f"{unique}:*", count=10_000))
    assert keys == sorted(
        [
            f"{unique}:{{entity:aleppo}}:seen:a1",
            f"{unique}:{{entity:aleppo}}:m:{minute_of(T0)}",
            f"{unique}:{{entity:aleppo}}:h:{hour_of(T0)}",
            f"{unique}:article:a1",
        ]
    )
    for key in keys:
        ttl = sync.ttl(key)
        expected = HOUR_TTL_S if ":h:" in key else MINUTE_TTL_S
        assert expected - 60 < ttl <= expected
    assert sync.hlen(f"{unique}:{{entity:aleppo}}:m:{minute_of(T0)}") == 1
    sync.close()


def test_event_time_buckets_and_evidence(redis_server: Any, unique: str) -> None:
    async def go(client: Redis) -> tuple[int, int, int, list[str]]:
        counts = RedisCounts(client, prefix=unique)
        for i in range(5):  # 09:00, 09:01, ... 09:04
            await counts.record(mention("entity:damascus", f"d{i}", T0 + timedelta(minutes=i)))
        await counts.record(mention("entity:damascus", "late", T0 - timedelta(hours=3)))
        m0 = minute_of(T0)
        evidence = await counts.evidence("entity:damascus", m0 + 1, m0 + 2)
        return (
            await counts.minutes("entity:damascus", m0, m0 + 4),
            await counts.minutes("entity:damascus", m0 + 1, m0 + 2),
            await counts.hours("entity:damascus", hour_of(T0) - 3, hour_of(T0) - 3),
            [e.id for e in evidence],
        )

    total, middle, early_hour, evidence = run(go, redis_server.url)
    assert (total, middle, early_hour) == (5, 2, 1)
    assert evidence == ["d1", "d2"]


def test_redis_and_memory_counts_agree(redis_server: Any, unique: str) -> None:
    rng = random.Random(7)
    stream = []
    for _ in range(300):
        subject = rng.choice(["iran", "syria", "aleppo"])
        n = rng.randrange(60)
        stream.append(
            mention(
                f"entity:{subject}",
                f"a{n}",
                T0 + timedelta(minutes=n * 5),  # an article has one time and one outlet
                source=["سانا", "إرنا"][n % 2],
                snippet=rng.choice(["", f"قالت {subject} في بيان"]),
            )
        )

    async def go(client: Redis) -> tuple[list[Any], list[Any]]:
        redis_counts, memory = RedisCounts(client, prefix=unique), MemoryCounts()
        out_r: list[Any] = []
        out_m: list[Any] = []
        for m in stream:
            out_r.append(await redis_counts.record(m))
            out_m.append(await memory.record(m))
        m0, h0 = minute_of(T0), hour_of(T0)
        for subject in ("entity:iran", "entity:syria", "entity:aleppo"):
            for store, out in ((redis_counts, out_r), (memory, out_m)):
                out.append(await store.minutes(subject, m0, m0 + 299))
                out.append(await store.hours(subject, h0, h0 + 5))
                out.append([e.model_dump() for e in await store.evidence(subject, m0, m0 + 60)])
                out.extend([await store.sources(subject, m0, m0 + 60, n) for n in (1, 2, 9)])
        return out_r, out_m

    from_redis, from_memory = run(go, redis_server.url)
    assert from_redis == from_memory


def test_an_article_is_stored_once_and_older_buckets_still_read(
    redis_server: Any, unique: str
) -> None:
    """The title, outlet and url of an article are written once, whatever number of
    subjects it names; a minute bucket written by an older raqib (the evidence in each
    value, as JSON) reads as before, into the mirror too."""
    m0 = minute_of(T0)

    async def go(client: Redis) -> tuple[Any, ...]:
        counts = RedisCounts(client, prefix=unique)
        names = ["iran", "syria", "aleppo"]
        await counts.record_many(
            [mention(f"entity:{n}", "a1", T0, snippet=f"قالت {n} في بيان") for n in names]
        )
        stored = await client.get(f"{unique}:article:a1")
        old = json.dumps(
            {
                "t": "خبر قديم",
                "s": "سانا",
                "u": "https://example.org/old",
                "n": "دمشق اليوم",
                "h": [0, 4],
                "q": "0:7",
            }
        )
        await client.hset(f"{unique}:{{entity:damascus}}:m:{m0}", "old", old)
        await client.incr(f"{unique}:{{entity:damascus}}:h:{hour_of(T0)}")
        shown = await counts.evidence("entity:syria", m0, m0)
        loaded = await counts.load(["entity:damascus", "entity:syria"], [m0], [hour_of(T0)])
        return stored, shown, loaded

    stored, shown, loaded = run(go, redis_server.url)
    assert json.loads(stored) == {"t": "خبر a1", "s": "سانا", "u": "https://example.org/a1"}
    assert shown == [
        Evidence(
            id="a1",
            title="خبر a1",
            source="سانا",
            url="https://example.org/a1",
            snippet="قالت syria في بيان",
            highlight=(0, 4),
        )
    ]
    assert loaded["entity:syria"].minutes[m0]["a1"] == shown[0]
    old = loaded["entity:damascus"]
    assert old.minutes[m0]["old"] == Evidence(
        id="old",
        title="خبر قديم",
        source="سانا",
        url="https://example.org/old",
        snippet="دمشق اليوم",
        highlight=(0, 4),
    )
    assert old.stamps == {(m0, "old"): (0, 7)} and old.hours == {hour_of(T0): 1}


def test_episodes_and_watermark_survive_a_new_client(redis_server: Any, unique: str) -> None:
    episode = Episode(
        rule="entity-spike",
        subject="entity:iran",
        alert_id="abc",
        status="firing",
        started=T0,
        last_true=T0,
    )

    async def write(client: Redis) -> None:
        store = RedisEpisodes(client, prefix=unique, scope="raqib:0")
        await store.save(episode)
        await store.save_watermark(T0)
        await store.flush()  # writes wait for the end of the batch

    async def read(client: Redis) -> tuple[Any, Any, Any]:
        store = RedisEpisodes(client, prefix=unique, scope="raqib:0")
        return (
            await store.load("entity-spike", "entity:iran"),
            await store.open_episodes(),
            await store.load_watermark(),
        )

    run(write, redis_server.url)
    loaded, open_now, watermark = run(read, redis_server.url)
    assert loaded == episode
    assert open_now == [("entity-spike", "entity:iran")]
    assert watermark == T0

    async def resolve(client: Redis) -> list[tuple[str, str]]:
        store = RedisEpisodes(client, prefix=unique, scope="raqib:0")
        await store.save(episode.model_copy(update={"status": "resolved", "resolved_at": T0}))
        assert await store.open_episodes() == []
        unflushed = await RedisEpisodes(client, prefix=unique, scope="raqib:0").open_episodes()
        assert unflushed == [("entity-spike", "entity:iran")]
        await store.flush()
        return await RedisEpisodes(client, prefix=unique, scope="raqib:0").open_episodes()

    assert run(resolve, redis_server.url) == []


async def read_after(store: MemoryCounts | MirroredCounts, m: Mention) -> tuple[Any, ...]:
    """Record one mention, then read what a 10-minute rule with a day's baseline reads at
    the mention's own time (as for an article judged late)."""
    new = await store.record(m)
    last, hour = minute_of(m.event_time), hour_of(m.event_time)
    window = await store.window(m.subject, (last - 9, last), (hour - 24, hour - 1))
    evidence = [e.id for e in await store.evidence(m.subject, last - 9, last)]
    return new, window, evidence


def test_a_mirror_reads_what_one_by_one_redis_reads_would(redis_server: Any, unique: str) -> None:
    """MirroredCounts, prepared a batch at a time, answers every read exactly as Redis read
    right after each mention would (and as MemoryCounts does): order kept, duplicates
    and late mentions included, and a fresh mirror starts from what Redis holds."""
    rng = random.Random(11)
    subjects = ["entity:iran", "entity:syria", "pair:iran+syria"]
    stream = [
        mention(
            rng.choice(subjects),
            f"a{rng.randrange(300)}",  # some articles come back: duplicates
            T0 + timedelta(seconds=rng.randrange(-1800, 4 * 3600)),  # some late
            source=rng.choice(["سانا", "عكاظ"]),
        )
        for _ in range(400)
    ]

    async def go(client: Redis) -> tuple[list[Any], list[Any]]:
        memory = MemoryCounts()
        expected = [await read_after(memory, m) for m in stream]
        redis_counts = RedisCounts(client, prefix=unique)
        mirror = MirroredCounts(redis_counts)
        ranges = (
            list(range(minute_of(T0) - 200, minute_of(T0) + 300)),
            list(range(hour_of(T0) - 30, hour_of(T0) + 6)),
        )
        got = []
        for start in range(0, len(stream), 37):
            if start == 185:  # a restart: the new mirror starts from Redis
                mirror = MirroredCounts(redis_counts)
            batch = stream[start : start + 37]
            await mirror.prepare(batch, [], *ranges)
            got.extend([await read_after(mirror, m) for m in batch])
        return expected, got

    expected, got = run(go, redis_server.url)
    assert got == expected


async def judged_live(
    mirror: MirroredCounts, stream: list[list[Mention]], watermark: datetime | None = None
) -> list[Any]:
    """Each batch prepared over the ranges the rule engine asks for (what a 10-minute rule
    with a day's baseline reads back from the watermark and from each mention's own time:
    70 minutes and 26 hours), then read mention by mention."""
    got = []
    for batch in stream:
        marks = {m.event_time for m in batch} | ({watermark} if watermark else set())
        minutes = sorted({x for t in marks for x in range(minute_of(t) - 70, minute_of(t) + 1)})
        hours = sorted({x for t in marks for x in range(hour_of(t) - 26, hour_of(t) + 1)})
        await mirror.prepare(batch, [], minutes, hours)
        got.extend([await read_after(mirror, m) for m in batch])
        latest = max(m.event_time for m in batch)
        watermark = latest if watermark is None else max(watermark, latest)
    return got


def test_a_mirror_reads_the_minutes_it_dropped_for_an_article_judged_late(
    redis_server: Any, unique: str
) -> None:
    """A mirror drops the minutes its batches no longer read, but an article hours late (a
    feed that publishes late) is judged at its own time: the minutes before it are read
    again, and must hold what Redis holds — the story the feed is late with, counted on
    time from the other outlets — not the nothing a dropped bucket reads."""
    iran, quiet = "entity:iran", "entity:syria"
    on_time = [mention(iran, f"on{i}", T0 + timedelta(minutes=i // 2)) for i in range(12)]
    later = [mention(quiet, f"q{i}", T0 + timedelta(minutes=10 * i)) for i in range(1, 20)]
    late = [
        mention(iran, f"late{i}", T0 + timedelta(minutes=6 + i), source="وكالة متأخرة")
        for i in range(2)
    ]
    stream = [[m] for m in on_time] + [[m] for m in later] + [[m] for m in late]

    async def go(client: Redis) -> tuple[list[Any], list[Any], list[int]]:
        memory = MemoryCounts()
        expected = [await read_after(memory, m) for batch in stream for m in batch]
        counts = RedisCounts(client, prefix=unique)
        mirror = MirroredCounts(counts)
        loads: list[int] = []
        load = counts.load

        async def counted(subjects: Any, minutes: Any, hours: Any) -> Any:
            loads.extend(minutes)
            return await load(subjects, minutes, hours)

        counts.load = counted  # type: ignore[method-assign]
        got = await judged_live(mirror, stream[:-1])
        before = len(loads)
        got += await judged_live(mirror, stream[-1:], watermark=later[-1].event_time)
        return expected, got, loads[before:]

    expected, got, second = run(go, redis_server.url)
    assert expected[-2][1][0] == 13  # the late one and the 12 on time before it
    assert got == expected
    # the next late article of the story reads what the first loaded, and its own minute
    assert second == [minute_of(late[1].event_time)]


def test_a_mirror_reads_the_older_hours_a_late_article_s_baseline_needs(
    redis_server: Any, unique: str
) -> None:
    """A subject is mirrored with the hours its first batch reads (a day back from the
    watermark); an article 20 hours late reads its baseline a day back from its own time:
    the hours before what was loaded must hold what an earlier worker counted there."""
    iran = "entity:iran"
    history = [mention(iran, f"h{i}", T0 - timedelta(hours=30, minutes=i)) for i in range(5)]
    now = mention(iran, "now", T0)
    late = mention(iran, "late", T0 - timedelta(hours=20), source="وكالة متأخرة")

    async def go(client: Redis) -> tuple[list[Any], list[Any]]:
        memory = MemoryCounts()
        for m in history:
            await memory.record(m)
        expected = [await read_after(memory, m) for m in (now, late)]
        counts = RedisCounts(client, prefix=unique)
        await counts.record_many(history)  # a worker before this one
        return expected, await judged_live(MirroredCounts(counts), [[now], [late]])

    expected, got = run(go, redis_server.url)
    assert expected[-1][1] == (1, 5)  # the five of 30 hours ago in the late one's baseline
    assert got == expected
