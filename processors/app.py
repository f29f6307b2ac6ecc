"""The raqib worker: a Faust app from ``articles`` to ``alerts``.

Run it with ``raqib worker`` (settings from ``RAQIB_*``). Three agents, each a few lines
around the pure core:

* ``tag``:   articles -> parse -> clean/tag -> articles.tagged + mentions (bad input -> dlq)
* ``count``: mentions (one message per article and partition of subjects) -> Redis counts
  -> rules -> alerts
* ``route``: alerts -> channels (console, JSON lines)

Metrics are served on the Faust web port at ``/metrics``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, cast

import faust
from faust.streams import Stream
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from alerts import RedisEpisodes, Router, RuleEngine, RulesFile, build_router, load_rules
from processors.counts import MirroredCounts, RedisCounts
from processors.mentions import batches
from processors.metrics import Metrics
from processors.pipeline import Pipeline
from processors.topics import load_topics
from processors.watchlist import load_watchlist
from raqib.exceptions import InvalidArticle
from raqib.messages import Alert, Mention, MentionBatch, dumps, parse_article
from raqib.settings import Settings

log = logging.getLogger(__name__)

REASON_HEADER = "raqib-reason"
MAX_RETRY_DELAY_S = 30.0
BATCH_WITHIN_S = 0.05
"""How long the count agent waits to fill a batch: the latency a quiet stream pays."""


def _headers(event: faust.EventT, reason: str) -> dict[str, bytes]:
    """Where a dead letter came from and why, in Kafka headers beside the raw bytes."""
    msg = event.message
    return {
        REASON_HEADER: reason.encode("utf-8"),
        "raqib-topic": str(msg.topic).encode(),
        "raqib-partition": str(msg.partition).encode(),
        "raqib-offset": str(msg.offset).encode(),
    }


def create_app(
    settings: Settings,
    *,
    rules: RulesFile | None = None,
    router: Router | None = None,
    registry: CollectorRegistry | None = None,
) -> faust.App:
    """Build the worker app; tests pass their own rules, router and registry."""
    watchlist = load_watchlist(settings.watchlist)
    pipeline = Pipeline(
        watchlist, load_topics(settings.topics, watchlist), pair_entities=settings.pair_entities
    )
    rules = rules or load_rules(settings.rules)
    router = router or build_router(settings.alerts_file)
    registry = registry or CollectorRegistry()
    metrics = Metrics.create(registry)
    redis = Redis.from_url(settings.redis)
    counts = RedisCounts(redis, prefix=settings.redis_prefix)
    engines: dict[int, RuleEngine] = {}

    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{server}" for server in settings.kafka_servers],
        value_serializer="raw",
        key_serializer="raw",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        broker_session_timeout=6,
        broker_heartbeat_interval=1,
        broker_rebalance_timeout=6,
        stream_wait_empty=False,
        web_port=settings.web_port,
        web_bind=settings.web_bind,
        web_host=settings.web_bind,
        datadir=str(settings.data_dir),
        store="memory://",
    )
    topics = settings.topic_names

    def topic(name: str) -> faust.TopicT:
        return app.topic(name, key_type=bytes, value_type=bytes, partitions=settings.partitions)

    articles, tagged, dlq = topic(topics.articles), topic(topics.tagged), topic(topics.dlq)
    mentions_topic, alerts_topic = topic(topics.mentions), topic(topics.alerts)

    @app.agent(articles, name="tag")
    async def tag(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            started = time.perf_counter()
            raw = event.value if isinstance(event.value, bytes) else bytes(event.value or b"")
            try:
                ts = datetime.fromtimestamp(event.message.timestamp, tz=UTC)
                article = parse_article(raw, fallback_time=ts)
                result, events = pipeline.process(article)
            except InvalidArticle as exc:
                await _dead_letter(event, raw, exc.reason, exc.kind)
                continue
            except Exception as exc:  # a tagger bug must not stop the stream
                log.exception("tag failed at %s", _where(event))
                metrics.errors.labels("tag").inc()
                await _dead_letter(event, raw, f"processing error: {exc!r}", "processing_error")
                continue
            # Buffered sends: the producer is flushed before offsets are committed, so a
            # crash re-reads the article rather than losing its mentions.
            tagged.send_soon(key=result.id.encode(), value=dumps(result))
            for partition, batch in batches(events, settings.partitions).items():
                key = batch.mentions[0].subject.encode()
                mentions_topic.send_soon(key=key, value=dumps(batch), partition=partition)
            metrics.articles.inc()
            metrics.mentions_published.inc(len(events))
            for entity_id in {e.id for e in result.entities}:
                metrics.mentions_by_entity.labels(entity_id).inc()
            metrics.processing_seconds.observe(time.perf_counter() - started)

    async def _dead_letter(event: faust.EventT, raw: bytes, reason: str, kind: str) -> None:
        log.warning("dead-lettered %s: %s", _where(event), reason)
        metrics.dead_lettered.labels(kind).inc()
        await dlq.send(key=event.key, value=raw, headers=_headers(event, reason))

    @app.agent(mentions_topic, name="count")
    async def count(stream: faust.StreamT[bytes]) -> None:
        taken = cast(Stream, stream).take_events(settings.batch_size, within=BATCH_WITHIN_S)
        async for events in taken:  # StreamT does not declare take_events; Stream does
            started = time.perf_counter()
            by_partition: dict[int, list[Mention]] = {}
            for event in events:
                try:
                    message = MentionBatch.model_validate_json(event.value)
                except ValidationError:  # not ours: log it, count it, go on
                    log.exception("unreadable mentions at %s", _where(event))
                    metrics.errors.labels("count").inc()
                    continue
                by_partition.setdefault(event.message.partition, []).extend(message.mentions)
            for partition, group in sorted(by_partition.items()):
                size = settings.batch_size
                for chunk in (group[i : i + size] for i in range(0, len(group), size)):
                    fired = await _count_batch(partition, chunk)
                    for alert in fired:
                        await alerts_topic.send(key=alert.subject.encode(), value=dumps(alert))
                        metrics.alerts_fired.labels(alert.rule, alert.status).inc()
                    await asyncio.sleep(0)  # let the web page and heartbeats run between chunks
            metrics.batch_seconds.observe(time.perf_counter() - started)

    def _engine(partition: int) -> RuleEngine:
        engine = engines.get(partition)
        if engine is None:
            scope = f"{settings.app_id}:{partition}"
            episodes = RedisEpisodes(redis, prefix=settings.redis_prefix, scope=scope)
            store = MirroredCounts(counts)
            engine = RuleEngine(
                rules, store, episodes, pipeline.names, pipeline.types, pipeline.tags
            )
            engines[partition] = engine
        return engine

    async def _count_batch(partition: int, batch: list[Mention]) -> list[Alert]:
        """Count and evaluate one partition's part of a batch: two round trips to Redis
        before (read ahead, record), one after (episode changes); retried while Redis is
        down, never dropped."""
        engine = _engine(partition)
        await _retrying(lambda: engine.prepare(batch), f"count[{partition}]")
        done = await engine.evaluate(batch)
        await _retrying(engine.flush, f"flush[{partition}]")
        metrics.mentions_counted.labels("new").inc(done.new)
        metrics.mentions_counted.labels("duplicate").inc(done.duplicates)
        if engine.watermark is not None:
            metrics.watermark.labels(str(partition)).set(engine.watermark.timestamp())
        return done.alerts

    async def _retrying(step: Callable[[], Awaitable[None]], where: str) -> None:
        """Run an idempotent Redis step until it succeeds."""
        attempt = 0
        while True:
            try:
                await step()
                return
            except (RedisError, OSError) as exc:
                attempt += 1
                delay = min(MAX_RETRY_DELAY_S, 0.1 * 2**attempt)
                log.warning("redis error at %s (%s); retry %d in %.1fs", where, exc, attempt, delay)
                metrics.errors.labels("redis").inc()
                await asyncio.sleep(delay)

    @app.agent(alerts_topic, name="route")
    async def route(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            try:
                alert = Alert.model_validate_json(event.value)
                delivered = await router.route(alert)
            except Exception:
                log.exception("route failed at %s", _where(event))
                metrics.errors.labels("route").inc()
                continue
            for channel in delivered:
                metrics.alerts_routed.labels(channel).inc()

    @app.on_partitions_revoked.connect
    async def _forget(app: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        """Partitions may come back after another worker counted them and moved their
        episodes on: the engines (with their count mirrors and episode caches) are rebuilt
        from Redis on next use."""
        engines.clear()

    @app.page("/metrics")
    async def metrics_page(web: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        return web.bytes(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    @app.on_before_shutdown.connect
    async def _close(app: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        await router.close()
        await redis.aclose()

    return app


def _where(event: faust.EventT) -> str:
    msg = event.message
    return f"{msg.topic}[{msg.partition}]@{msg.offset}"
