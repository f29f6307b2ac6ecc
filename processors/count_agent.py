"""The ``count`` agent: mentions -> Redis counts -> rules -> ``alerts``.

A batch of one partition's mentions is counted and judged in order, then its alert events
are sent *and acknowledged by the broker* before the episode changes that record them
are written: a crash in between replays the batch, which judges again and re-sends what
may not have arrived (consumers drop the repeat by ``(alert_id, status)``); no alert is
ever recorded as sent without having been sent.

Redis outages are waited out with a capped, jittered back-off and one log line per
outage; a partition revoked while its batch was in flight writes nothing more (its new
owner replays the batch from the last commit).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import cast

import faust
from faust.streams import Stream
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

from alerts import RedisEpisodes, RuleEngine, RulesFile
from processors.counts import MirroredCounts, RedisCounts, stamp_of
from processors.health import Health
from processors.metrics import Metrics
from processors.pipeline import Pipeline
from raqib.messages import Alert, Mention, MentionBatch, dumps
from raqib.settings import Settings

log = logging.getLogger(__name__)

MAX_RETRY_DELAY_S = 30.0
BATCH_WITHIN_S = 0.05
"""How long the agent waits to fill a batch: the latency a quiet stream pays."""


class CountStage:
    """One rule engine per ``mentions`` partition this worker owns, over Redis."""

    def __init__(
        self,
        settings: Settings,
        redis: Redis,
        rules: RulesFile,
        pipeline: Pipeline,
        metrics: Metrics,
        health: Health,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.counts = RedisCounts(redis, prefix=settings.redis_prefix)
        self.rules = rules
        self.pipeline = pipeline
        self.metrics = metrics
        self.health = health
        self.engines: dict[int, RuleEngine] = {}
        self.generation = 0
        """Bumped when partitions are revoked: a batch begun before must not write on."""
        self._outage_since: float | None = None

    def engine(self, partition: int) -> RuleEngine:
        engine = self.engines.get(partition)
        if engine is None:
            scope = f"{self.settings.app_id}:{partition}"
            episodes = RedisEpisodes(self.redis, prefix=self.settings.redis_prefix, scope=scope)
            p = self.pipeline
            engine = RuleEngine(
                self.rules, MirroredCounts(self.counts), episodes, p.names, p.types, p.tags
            )
            self.engines[partition] = engine
        return engine

    def revoked(self) -> None:
        """Partitions may come back after another worker counted them and moved their
        episodes on: the engines (count mirrors, episode caches) are rebuilt from Redis."""
        self.generation += 1
        self.engines.clear()

    async def judge(self, partition: int, batch: list[Mention]) -> list[Alert]:
        """Count and evaluate one partition's part of a batch (nothing written of its
        episodes yet): the alert events it fires."""
        engine = self.engine(partition)
        await self.retrying(lambda: engine.prepare(batch), f"count[{partition}]")
        done = await engine.evaluate(batch)
        self.metrics.mentions_counted.labels("new").inc(done.new)
        self.metrics.mentions_counted.labels("duplicate").inc(done.duplicates)
        if engine.watermark is not None:
            self.metrics.watermark.labels(str(partition)).set(engine.watermark.timestamp())
        return done.alerts

    async def record(self, partition: int) -> None:
        """Write the episode changes of the batch just judged (after its alerts were sent)."""
        engine = self.engine(partition)
        await self.retrying(engine.flush, f"flush[{partition}]")

    async def retrying(self, step: Callable[[], Awaitable[None]], where: str) -> None:
        """Run an idempotent Redis step until it succeeds: a capped, jittered back-off,
        one warning when an outage begins and one line when it ends."""
        retrying = AsyncRetrying(
            wait=wait_exponential_jitter(initial=0.1, max=MAX_RETRY_DELAY_S),
            retry=retry_if_exception_type((RedisError, OSError)),
            before_sleep=lambda state: self._failed(where, state.outcome),
        )
        async for attempt in retrying:
            with attempt:
                await step()
        if self._outage_since is not None:
            log.warning("redis is back after %.1fs", time.monotonic() - self._outage_since)
            self._outage_since = None
            self.health.redis_ok = True

    def _failed(self, where: str, outcome: object) -> None:
        self.metrics.errors.labels("redis").inc()
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            self.health.redis_ok = False
            exc = getattr(outcome, "exception", lambda: None)()
            log.warning("redis unavailable at %s (%s); retrying until it is back", where, exc)


def attach_count_agent(
    app: faust.App,
    stage: CountStage,
    topics: dict[str, faust.TopicT],
    metrics: Metrics,
    health: Health,
) -> None:
    """Register the ``count`` agent on ``app``."""
    alerts_topic = topics["alerts"]
    size = stage.settings.batch_size

    async def send_all(alerts: list[Alert]) -> None:
        """Send and wait for the broker's acknowledgement of every alert event."""
        pending = [
            await alerts_topic.send(key=alert.subject.encode(), value=dumps(alert))
            for alert in alerts
        ]
        await asyncio.gather(*pending)
        for alert in alerts:
            metrics.alerts_fired.labels(alert.rule, alert.status).inc()

    @app.agent(topics["mentions"], name="count")
    @health.supervised("count")
    async def count(stream: faust.StreamT[bytes]) -> None:
        taken = cast(Stream, stream).take_events(size, within=BATCH_WITHIN_S)
        async for events in taken:  # StreamT does not declare take_events; Stream does
            started = time.perf_counter()
            generation = stage.generation
            by_partition: dict[int, list[Mention]] = {}
            for event in events:
                msg = event.message
                try:
                    batch = MentionBatch.model_validate_json(event.value)
                except ValidationError:  # not ours: log it, count it, go on
                    log.exception(
                        "unreadable mentions at %s[%d]@%d", msg.topic, msg.partition, msg.offset
                    )
                    metrics.errors.labels("count").inc()
                    continue
                seq = stamp_of(msg.partition, msg.offset)
                for mention in batch.mentions:
                    mention.seq = seq
                by_partition.setdefault(msg.partition, []).extend(batch.mentions)
            for partition, group in sorted(by_partition.items()):
                for chunk in (group[i : i + size] for i in range(0, len(group), size)):
                    alerts = await stage.judge(partition, chunk)
                    if stage.generation != generation:
                        log.info("partitions moved during a batch: its new owner replays it")
                        break
                    await send_all(alerts)
                    await stage.record(partition)
                    await asyncio.sleep(0)  # let the web views and heartbeats run
            metrics.batch_seconds.observe(time.perf_counter() - started)
