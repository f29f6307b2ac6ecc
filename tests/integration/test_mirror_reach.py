"""The count mirror reads what the in-memory engine reads beyond the mirror's reach.

A worker's mirror holds a subject's minutes back to the rules' reach from the watermark,
and its hours back to where it first met the subject. Articles judged late (at their own
time, hours behind), a silence showing the last article heard, and streams that mix both
read further back: the live engine (the mirror over a real Redis, episodes in Redis) must
fire what the in-memory engine fires on the same stream in the same order, evidence
included.
"""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from alerts import MemoryEpisodes, RedisEpisodes, RuleEngine, RulesFile
from processors.counts import MemoryCounts, MirroredCounts, RedisCounts, stamp_of
from raqib.messages import Alert, Mention
from tests.integration.test_crash_replay import RULES, SOURCES, T0, _engine, _run, _stream
from tests.integration.test_memory_bounds import warm_default_rules

pytestmark = pytest.mark.integration


def test_a_story_a_feed_completes_hours_late_fires_live_as_in_memory(
    redis_server: Any, unique: str
) -> None:
    """Three outlets name an entity within minutes, below the rule's five; a feed that
    publishes three hours late brings three more articles of those minutes, judged at their
    own time. The live engine (its mirror dropped those minutes long before) must read the
    window as the in-memory engine does, and fire the story as it does: late."""
    story = T0 + timedelta(hours=8)
    on_time = [(story + timedelta(minutes=i), "entity:raisi", SOURCES[i]) for i in range(3)]
    late = [(story + timedelta(minutes=3 + i), "entity:raisi", "متأخرة") for i in range(3)]
    steady = [(m.event_time, m.subject, m.source) for m in _stream()]
    arrival = sorted(steady + on_time)
    at = next(i for i, row in enumerate(arrival) if row[0] > story + timedelta(hours=3))
    arrival[at:at] = late  # read when the stream is three hours further on
    stream = [
        Mention(subject=s, article_id=f"a{i}", event_time=t, source=o, title=f"خبر {i}",
                seq=stamp_of(0, i))
        for i, (t, s, o) in enumerate(arrival)
    ]  # fmt: skip

    async def go() -> tuple[list[Alert], list[Alert]]:
        redis = Redis.from_url(redis_server.url)
        try:
            live = await _run(_engine(redis, unique), stream, 4)
            memory = RuleEngine(RULES, MemoryCounts(), MemoryEpisodes(), lambda s: (s, s))
            return live, await _run(memory, stream, 4)
        finally:
            await redis.aclose()

    live, expected = asyncio.run(go())
    raisi = [a for a in expected if a.subject == "entity:raisi"]
    assert [a.status for a in raisi][:1] == ["firing"], "the late feed completes the story"
    assert raisi[0].event_time < story + timedelta(hours=1), "judged at its own time"
    assert [a.model_dump() for a in live] == [a.model_dump() for a in expected]


def test_a_silence_shows_the_last_article_heard_however_long_ago(
    redis_server: Any, unique: str
) -> None:
    """An outlet publishing every ten minutes stops: an hour and more later its silence
    fires, showing the last article it sent. The live mirror dropped that minute long
    before; the evidence is read from Redis, as the in-memory engine shows it."""
    rules = RulesFile.model_validate(
        {
            "rules": [
                {
                    "name": "source-silence",
                    "kind": "silence",
                    "subjects": ["source:*"],
                    "baseline": "24h",
                    "min_silence": "1h",
                    "max_p": 0.0001,
                    "min_baseline_count": 12,
                    "warm_up": "0s",
                    "resolve_after": "0s",
                    "cooldown": "1h",
                }
            ]
        }
    )
    rows = [(T0 + timedelta(minutes=10 * i), "source:سانا") for i in range(36)]
    rows += [(T0 + timedelta(minutes=5 * i + 2), "source:إرنا") for i in range(120)]
    stream = [
        Mention(subject=s, article_id=f"a{i}", event_time=t, source=s[7:], title=f"خبر {i}",
                seq=stamp_of(0, i))
        for i, (t, s) in enumerate(sorted(rows))
    ]  # fmt: skip

    async def go() -> tuple[list[Alert], list[Alert]]:
        redis = Redis.from_url(redis_server.url)
        try:
            episodes = RedisEpisodes(redis, prefix=unique, scope="raqib:0")
            mirror = MirroredCounts(RedisCounts(redis, prefix=unique))
            live = RuleEngine(rules, mirror, episodes, lambda s: (s, s))
            memory = RuleEngine(rules, MemoryCounts(), MemoryEpisodes(), lambda s: (s, s))
            return await _run(live, stream, 4), await _run(memory, stream, 4)
        finally:
            await redis.aclose()

    live, expected = asyncio.run(go())
    silent = [a for a in expected if a.subject == "source:سانا"]
    last = [m.article_id for m in stream if m.subject == "source:سانا"][-1]
    assert silent and [e.id for e in silent[0].articles] == [last], "the last one it sent"
    assert [a.model_dump() for a in live] == [a.model_dump() for a in expected]


def _late_stream(seed: int) -> list[Mention]:
    """Thirty hours of 1,500 articles naming one to three of six entities (their pairs
    and outlets counted too) and six bursts; one article in twelve arrives half an hour to
    five hours late. Each article is its own ``mentions`` message, in arrival order."""
    rng = random.Random(seed)
    names = ["iran", "syria", "aleppo", "hatami", "raisi", "damascus"]
    articles = [
        (T0 + timedelta(seconds=rng.randrange(30 * 3600)), f"a{i}", rng.sample(names, k))
        for i, k in enumerate(rng.choices([1, 2, 3], k=1500))
    ]
    for k in range(6):
        start, name = T0 + timedelta(hours=rng.randrange(4, 28)), rng.choice(names)
        articles += [
            (start + timedelta(seconds=rng.randrange(600)), f"b{k}-{j}", [name])
            for j in range(rng.randint(5, 15))
        ]
    arrival = []
    for at, ident, named in sorted(articles):
        late = rng.random() < 1 / 12
        delay = timedelta(hours=rng.uniform(0.5, 5)) if late else timedelta(0)
        arrival.append((at + delay, ident, at, named, rng.choice(SOURCES)))
    arrival.sort(key=lambda row: row[:2])
    out: list[Mention] = []
    for offset, (_, ident, at, named, source) in enumerate(arrival):
        subjects = [f"entity:{n}" for n in named] + [f"source:{source}"]
        if len(named) > 1:
            subjects.append("pair:" + "+".join(sorted(named[:2])))
        out += [
            Mention(subject=s, article_id=ident, event_time=at, source=source, title=ident,
                    seq=stamp_of(0, offset))
            for s in subjects
        ]  # fmt: skip
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_stream_with_late_articles_fires_live_what_it_fires_in_memory(
    redis_server: Any, unique: str, seed: int
) -> None:
    """The default rules (warm from the start) over a stream with late articles: the same
    alert events, at the same times, with the same evidence."""
    rules = warm_default_rules()
    stream = _late_stream(seed)

    async def go() -> tuple[list[Alert], list[Alert]]:
        redis = Redis.from_url(redis_server.url)
        try:
            mirror = MirroredCounts(RedisCounts(redis, prefix=unique))
            episodes = RedisEpisodes(redis, prefix=unique, scope="raqib:0")
            live = RuleEngine(rules, mirror, episodes, lambda s: (s, s))
            memory = RuleEngine(rules, MemoryCounts(), MemoryEpisodes(), lambda s: (s, s))
            return await _run(live, stream, 20), await _run(memory, stream, 20)
        finally:
            await redis.aclose()

    latest, behind = T0, 0
    for m in stream:
        behind += latest - m.event_time > timedelta(minutes=80)  # beyond the mirror's reach
        latest = max(latest, m.event_time)
    live, expected = asyncio.run(go())
    assert behind > 100 and len(expected) > 20, "late articles, and alerts"
    assert [a.model_dump() for a in live] == [a.model_dump() for a in expected]
