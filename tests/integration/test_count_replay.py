"""The count stage killed anywhere — before its alerts are sent, after, between batches —
and replayed from its last commit fires exactly what ``raqib backtest`` fires.

The real count stage (:class:`processors.count_agent.CountStage`: alignment, the Redis
mirror, the rule engine, episodes in Redis) on a real Redis, fed the ``mentions`` log the
tag stage writes for tests/data/streams/burst.yaml on two ``articles`` partitions read in
an interleaving of their own, with the tag stage's redeliveries (it too restarts from its
last commit), into two ``mentions`` partitions. Each crash throws the stage away, as
``kill -9`` does; its successor reads the partition again from the last commit. No broker:
the log and the commits are the test's, so a thousand crash points cost seconds (one stage
owns both partitions, as a worker does, and a crash loses both), and the
e2e drills (tests/e2e/test_crash_alerts.py, test_rebalance.py) check the same on the real
broker with real processes.
"""

from __future__ import annotations

import asyncio
import functools
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from alerts import load_rules
from processors import count_agent
from processors.count_agent import CountStage
from processors.health import Health
from processors.mentions import partition_of
from processors.metrics import Metrics
from processors.pipeline import Pipeline
from processors.tag_agent import Tagged, TagStage, bundled
from processors.topics import load_topics
from processors.watchlist import load_watchlist
from producers.scenario import expand
from raqib.messages import Alert, MentionBatch, dumps
from raqib.settings import Settings
from tests.e2e.test_resilience import BURST, AlertKey, against, alert_key, expected_run

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ORIGINS = 2
"""``articles`` partitions."""
PARTITIONS = 2
"""``mentions`` partitions."""


class Crash(Exception):
    """The worker died here."""


@dataclass
class Message:
    """What the count stage reads of a Kafka message."""

    partition: int
    offset: int
    topic: str = "mentions"
    timestamp: float = 0.0

    def incref(self) -> None:
        """Faust's reference count: nothing to count here."""


@dataclass
class Token:
    """A Faust event as the count stage uses it: acknowledged once judged."""

    message: Message
    acked: list[int]

    def ack(self) -> None:
        self.acked.append(self.message.offset)


@dataclass
class Drill:
    """A seeded schedule of crashes: where the worker dies, how often it commits."""

    rng: random.Random
    crash_p: float
    most: int = 12
    """Crashes at most: each costs a restart that reads back from the commit."""
    crashes: int = 0
    sent: list[Alert] = field(default_factory=list)

    def maybe_crash(self) -> None:
        if self.crashes < self.most and self.rng.random() < self.crash_p:
            self.crashes += 1
            raise Crash


@functools.cache
def tagged_origins() -> list[list[Tagged]]:
    """The burst stream tagged as the tag stage does it, per ``articles`` partition (the
    publisher keys each article by its id)."""
    watchlist = load_watchlist()
    stage = TagStage(Pipeline(watchlist, load_topics(None, watchlist)), PARTITIONS)
    origins: list[list[bytes]] = [[] for _ in range(ORIGINS)]
    for article in expand(BURST):
        raw = json.dumps(article, ensure_ascii=False, default=str).encode()
        origins[partition_of(str(article["id"]), ORIGINS)].append(raw)
    tagged: list[list[Tagged]] = []
    for origin, lines in enumerate(origins):
        outcomes = [stage.process(line, None, origin) for line in lines]
        tagged.append([t for t in outcomes if isinstance(t, Tagged)])
    return tagged


def mentions_logs(rng: random.Random) -> list[list[bytes]]:
    """The ``mentions`` partitions as the tag stage writes them: the two ``articles``
    partitions read in random turns (each turn's batches bundled per partition), and now
    and then a restart that sends again what was read since the last commit; at the end
    every origin's idle marker."""
    tagged = tagged_origins()
    logs: list[list[bytes]] = [[] for _ in range(PARTITIONS)]
    read, committed = [0] * ORIGINS, [0] * ORIGINS
    while any(read[o] < len(tagged[o]) for o in range(ORIGINS)):
        origin = rng.choice([o for o in range(ORIGINS) if read[o] < len(tagged[o])])
        take = rng.randint(1, 30)
        sends = [
            (partition, key, value, 0.0)
            for outcome in tagged[origin][read[origin] : read[origin] + take]
            for partition, key, value in outcome.mentions
        ]  # a tag batch: bundled per partition, now and then split by size
        for partition, _, value, _ in bundled(sends, rng.choice([3_000, 20_000, 64 * 1024])):
            logs[partition].append(value)
        read[origin] = min(len(tagged[origin]), read[origin] + take)
        if rng.random() < 0.3:
            committed[origin] = read[origin]
        if rng.random() < 0.03:  # the tag stage restarts: read again from its commits
            read = list(committed)
    for origin in range(ORIGINS):
        marker = MentionBatch(
            article_id="", origin=origin, event_time=datetime(1970, 1, 1, tzinfo=UTC), idle=True
        )
        for log in logs:
            log.append(dumps(marker))
    return logs


async def count_with_crashes(
    logs: list[list[bytes]], settings: Settings, redis: Redis, drill: Drill
) -> None:
    """Count the ``mentions`` partitions to their end with one stage that owns them all,
    a new one after each crash, each partition read again from its own last committed
    offset."""
    watchlist = load_watchlist()
    pipeline = Pipeline(watchlist, load_topics(None, watchlist))
    rules = load_rules()
    committed = [0] * len(logs)
    while any(done < len(log) for done, log in zip(committed, logs, strict=True)):
        stage = CountStage(
            settings, redis, rules, pipeline, Metrics.create(CollectorRegistry()), Health()
        )
        acked: list[list[int]] = [[] for _ in logs]

        async def send(alerts: list[Alert]) -> None:
            drill.maybe_crash()  # before the broker has them
            drill.sent.extend(alerts)
            drill.maybe_crash()  # sent, not recorded

        offsets = list(committed)
        try:
            while any(at < len(log) for at, log in zip(offsets, logs, strict=True)):
                for partition, log in enumerate(logs):
                    end = min(len(log), offsets[partition] + drill.rng.randint(0, 40))
                    for at in range(offsets[partition], end):
                        token = Token(Message(partition, at), acked[partition])
                        stage.read(token, log[at])  # type: ignore[arg-type]
                    offsets[partition] = end
                await stage.judge_released(send)
                for partition, done in enumerate(acked):
                    if done and drill.rng.random() < 0.5:  # Faust commits now and then
                        committed[partition] = max(committed[partition], max(done) + 1)
                drill.maybe_crash()  # between batches
        except Crash:
            continue
        committed = [
            max(done) + 1 if done else at for done, at in zip(acked, committed, strict=True)
        ]
        assert committed == [len(log) for log in logs], "everything judged, the origins idle"


def drilled(
    url: str, logs: list[list[bytes]], settings: Settings, drill: Drill, expected: list[AlertKey]
) -> tuple[list[AlertKey], list[AlertKey], list[AlertKey], list[AlertKey]]:
    """Run the drill on Redis at ``url``: what was sent, without repeats, and what is
    missing and extra against ``expected`` (the backtest's alert events)."""

    async def run() -> None:
        redis = Redis.from_url(url)
        try:
            await count_with_crashes(logs, settings, redis, drill)
        finally:
            await redis.aclose()

    asyncio.run(run())
    fired: list[AlertKey] = [alert_key(json.loads(a.model_dump_json())) for a in drill.sent]
    deduped, missing, extra = against(expected, fired)
    return fired, deduped, missing, extra


@pytest.mark.parametrize("seed", [1, 2])
def test_crashes_anywhere_fire_what_the_backtest_fires(
    redis_server: Any, unique: str, report: Any, seed: int
) -> None:
    expected, _ = expected_run(expand(BURST))
    rng = random.Random(seed)
    logs = mentions_logs(rng)
    settings = Settings(
        redis=redis_server.url, partitions=PARTITIONS, redis_prefix=unique, app_id=unique
    )
    drill = Drill(rng, crash_p=0.1)

    fired, deduped, missing, extra = drilled(redis_server.url, logs, settings, drill, expected)
    report(
        f"count stage, seed {seed}: {drill.crashes} crashes over {sum(map(len, logs))} "
        f"mentions messages; backtest {len(expected)} alert events, {len(fired)} sent "
        f"({len(fired) - len(deduped)} repeats), missing {len(missing)}, extra {len(extra)}"
    )
    assert (missing, extra) == ([], [])
    assert drill.crashes == drill.most, "the drill must crash"


def test_partitions_are_judged_side_by_side(redis_server: Any, unique: str) -> None:
    """While one partition waits (for Redis to record its batch, or to write its
    episodes), the worker's other partitions are judged: here each partition's first
    judgement waits for the other's to begin, which one partition after the other
    never does. Both then fire what they fire alone."""
    settings = Settings(
        redis=redis_server.url, partitions=PARTITIONS, redis_prefix=unique, app_id=unique
    )
    watchlist = load_watchlist()
    pipeline = Pipeline(watchlist, load_topics(None, watchlist))
    logs = mentions_logs(random.Random(3))
    sent: list[Alert] = []

    async def send(alerts: list[Alert]) -> None:
        sent.extend(alerts)

    async def run() -> list[list[int]]:
        redis = Redis.from_url(redis_server.url)
        stage = CountStage(
            settings, redis, load_rules(), pipeline, Metrics.create(CollectorRegistry()), Health()
        )
        began = [asyncio.Event() for _ in range(PARTITIONS)]
        judge = stage.judge

        async def meeting(partition: int, *args: Any) -> list[Alert]:
            began[partition].set()
            async with asyncio.timeout(10):
                await asyncio.gather(*(other.wait() for other in began))
            return await judge(partition, *args)

        stage.judge = meeting  # type: ignore[method-assign]
        acked: list[list[int]] = [[] for _ in logs]
        try:
            for partition, log in enumerate(logs):
                for at, value in enumerate(log):
                    stage.read(Token(Message(partition, at), acked[partition]), value)  # type: ignore[arg-type]
            await stage.judge_released(send)
        finally:
            await redis.aclose()
        return acked

    acked = asyncio.run(run())
    assert [len(done) for done in acked] == [len(log) for log in logs]
    expected, _ = expected_run(expand(BURST))
    fired = [alert_key(json.loads(a.model_dump_json())) for a in sent]
    assert against(expected, fired)[1:] == ([], [])


def test_subjects_that_fall_out_of_a_small_mirror_come_back_whole(
    redis_server: Any, unique: str, report: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A count mirror holds a bounded number of subjects (a feed can invent outlets by the
    thousand): one that falls out is loaded again from Redis when next met, with all this
    worker counted of it, and only a crashed owner's counts it has not replayed yet left
    out. With room for 66 of a partition's 60-75 subjects, crashes too, the stage fires what the
    backtest fires."""

    class SmallMirror(count_agent.MirroredCounts):
        def __init__(self, redis: Any, judged: Any = None) -> None:
            super().__init__(redis, max_subjects=66, judged=judged)

    monkeypatch.setattr(count_agent, "MirroredCounts", SmallMirror)
    expected, _ = expected_run(expand(BURST))
    rng = random.Random(5)
    logs = mentions_logs(rng)
    settings = Settings(  # two articles a batch: a batch names at most ~65 subjects
        redis=redis_server.url,
        partitions=PARTITIONS,
        redis_prefix=unique,
        app_id=unique,
        batch_size=2,
    )
    drill = Drill(rng, crash_p=0.05, most=4)
    evicted: list[int] = []
    original = SmallMirror.prepare

    async def prepare(self: SmallMirror, *args: Any) -> None:
        await original(self, *args)
        evicted.append(self._mirrored.evictions)  # noqa: SLF001 - what the test is about

    monkeypatch.setattr(SmallMirror, "prepare", prepare)

    fired, deduped, missing, extra = drilled(redis_server.url, logs, settings, drill, expected)
    report(
        f"a mirror of 66 subjects: {max(evicted)} evictions at most, {len(evicted)} batches, "
        f"{drill.crashes} crashes; backtest {len(expected)} alert events, missing "
        f"{len(missing)}, extra {len(extra)}"
    )
    assert max(evicted) > 0, "subjects must fall out"
    assert (missing, extra) == ([], [])
