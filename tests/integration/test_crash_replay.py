"""A crash between counting a batch and recording its episodes replays the batch exactly.

The count agent records a batch's mentions in Redis, judges them, sends the alerts and
only then writes the episodes. A worker killed in between leaves the counts of the batch
(and perhaps of later ones) in Redis. The next owner replays from the last commit, with
other batch boundaries: every mention must be judged against exactly what came before it,
as in the run that did not crash, so that the same alerts fire, at the same watermarks,
with the same ids. Real Redis, the worker's engine, counts and episode classes.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from alerts import MemoryEpisodes, RedisEpisodes, RuleEngine, RulesFile, steps_of
from processors.counts import MemoryCounts, MirroredCounts, RedisCounts, stamp_of
from raqib.counting import minute_of
from raqib.messages import Alert, Mention

pytestmark = pytest.mark.integration
T0 = datetime(2024, 12, 1, 0, 0, tzinfo=UTC)
SOURCES = ["سانا", "إرنا", "الجزيرة", "العربية", "رويترز", "فارس"]
RULES = RulesFile.model_validate(
    {
        "rules": [
            {
                "name": "entity-spike",
                "kind": "spike",
                "subjects": ["entity:*"],
                "window": "10m",
                "baseline": "6h",
                "min_count": 5,
                "min_sources": 2,
                "resolve_after": "20m",
                "cooldown": "30m",
                "warm_up": "0s",
            }
        ]
    }
)


def _stream() -> list[Mention]:
    """Thirty hours of steady news about three entities, with two bursts; each mention
    is its own ``mentions`` message (offset = position)."""
    rng = random.Random(7)
    out: list[tuple[datetime, str, str]] = []
    for subject, per_hour in (("entity:iran", 6), ("entity:aleppo", 3), ("entity:hatami", 1)):
        for hour in range(30):
            for _ in range(per_hour):
                at = T0 + timedelta(hours=hour, seconds=rng.randrange(3600))
                out.append((at, subject, rng.choice(SOURCES)))
    for start, subject in (
        (T0 + timedelta(hours=12), "entity:hatami"),
        (T0 + timedelta(hours=25), "entity:aleppo"),
    ):
        for i in range(14):
            out.append((start + timedelta(seconds=20 * i), subject, SOURCES[i % 5]))
    out.sort()
    return [
        Mention(
            subject=subject,
            article_id=f"a{i}",
            event_time=at,
            source=source,
            title=f"خبر {i}",
            seq=stamp_of(0, i),
        )
        for i, (at, subject, source) in enumerate(out)
    ]


def _engine(redis: Redis, prefix: str) -> RuleEngine:
    def names(subject: str) -> tuple[str, str]:
        return subject, subject

    episodes = RedisEpisodes(redis, prefix=prefix, scope="raqib:0")
    return RuleEngine(RULES, MirroredCounts(RedisCounts(redis, prefix=prefix)), episodes, names)


async def _run(engine: RuleEngine, mentions: Sequence[Mention], size: int) -> list[Alert]:
    alerts: list[Alert] = []
    for i in range(0, len(mentions), size):
        steps = steps_of(mentions[i : i + size])
        await engine.prepare(steps)
        alerts.extend((await engine.evaluate(steps)).alerts)
        await engine.flush()
    return alerts


def _events(alerts: Sequence[Alert]) -> list[tuple[str, str, str, datetime]]:
    return [(a.alert_id, a.status, a.subject, a.event_time) for a in alerts]


@pytest.mark.parametrize("crash_at", [0.2, 0.45, 0.7, 0.9])
def test_a_replay_after_a_crash_fires_what_the_clean_run_fired(
    redis_server: Any, unique: str, crash_at: float
) -> None:
    stream = _stream()

    async def go() -> tuple[list[Alert], list[Alert], int]:
        redis = Redis.from_url(redis_server.url)
        try:
            clean = await _run(_engine(redis, f"{unique}c"), stream, 50)
            prefix = f"{unique}x"
            first = _engine(redis, prefix)
            cut = int(len(stream) * crash_at) // 50 * 50
            sent = await _run(first, stream[:cut], 50)
            # the crash: two more batches counted in Redis (and one judged), no episode
            # written, no offset committed
            doomed = stream[cut : cut + 100]
            await first.prepare(steps_of(doomed[:50]))
            sent.extend((await first.evaluate(steps_of(doomed[:50]))).alerts)
            await first.prepare(steps_of(doomed[50:]))
            replay_engine = _engine(redis, prefix)  # the next owner, other batch sizes
            replayed = await _run(replay_engine, stream[cut:], 37)
            assert isinstance(replay_engine.counts, MirroredCounts)
            return clean, sent + replayed, replay_engine.counts.replayed - len(doomed)
        finally:
            await redis.aclose()

    clean, crashed, replayed = asyncio.run(go())
    deduped = list(dict.fromkeys(_events(crashed)))  # consumers drop (alert_id, status) repeats
    assert {e[0] for e in _events(clean)}, "the stream must fire alerts"
    assert deduped == _events(clean)
    assert replayed == 0, "every mention counted before the crash is a replay, judged again"


def test_a_mirror_keeps_the_rules_reach_and_fires_what_the_backtest_fires(
    redis_server: Any, unique: str
) -> None:
    """Thirty hours read in batches: the mirror drops the minutes no rule reads any more as
    event time moves on (a backlog read at full speed must not hold a day of snippets),
    and the alerts, evidence included, are those of the in-memory engine `raqib backtest`
    runs."""
    stream = _stream()

    async def go() -> tuple[list[Alert], list[Alert], list[int]]:
        redis = Redis.from_url(redis_server.url)
        try:
            engine = _engine(redis, unique)
            mirror = engine.counts
            assert isinstance(mirror, MirroredCounts)
            spans: list[int] = []
            live: list[Alert] = []
            for i in range(0, len(stream), 4):
                steps = steps_of(stream[i : i + 4])
                before = engine.watermark or steps[0][0]  # the batch reads back from here
                await engine.prepare(steps)
                live.extend((await engine.evaluate(steps)).alerts)
                await engine.flush()
                held = [m for minutes in mirror.mirror.by_minute.values() for m in minutes]
                spans.append(minute_of(before) - min(held))
            backtest = RuleEngine(RULES, MemoryCounts(), MemoryEpisodes(), lambda s: (s, s))
            return live, await backtest.on_batch(stream), spans
        finally:
            await redis.aclose()

    live, expected, spans = asyncio.run(go())
    assert any(a.status == "firing" for a in expected)
    assert [a.model_dump() for a in live] == [a.model_dump() for a in expected]
    reach = 10 + 60 + MirroredCounts.PRUNE_MINUTES  # the window, its part hour, the slack
    assert max(spans[len(spans) // 2 :]) <= reach, "the mirror holds the rules' reach"
