"""The raqib worker: a Faust app from ``articles`` to ``alerts``.

Run it with ``raqib worker`` (settings from ``RAQIB_*``). Three agents, each in a module
of its own around the pure core:

* ``tag``   (:mod:`processors.tag_agent`):   articles -> parse -> clean/tag ->
  articles.tagged + mentions (bad input -> dlq)
* ``count`` (:mod:`processors.count_agent`): mentions -> Redis counts -> rules -> alerts
* ``route`` (:mod:`processors.route_agent`): alerts -> channels (console, JSON lines)

``/metrics``, ``/healthz`` and ``/readyz`` are served by :mod:`processors.health`; an agent
that dies stops the process with a non-zero status.
"""

from __future__ import annotations

from typing import Any

import faust
from prometheus_client import CollectorRegistry

from alerts import ChannelsFile, RouterMetrics, RulesFile, load_channels, load_rules
from processors.count_agent import CountStage, attach_count_agent
from processors.health import (
    BROKER_CHECK_S,
    BrokerWatch,
    Health,
    WebService,
    quiet_kafka_client_logs,
)
from processors.lag import attach_lag_timer
from processors.metrics import Metrics
from processors.pipeline import Pipeline
from processors.route_agent import attach_route_agent, build_router
from processors.tag_agent import TagRunner, attach_tag_agent, tag_stage
from processors.topics import load_topics
from processors.transport import App
from processors.watchlist import load_watchlist
from raqib.security import faust_credentials, redis_client
from raqib.settings import Settings
from raqib.topics import partitions_of

STREAM_BUFFER = 1024
"""Messages a stream buffers ahead of its agent (Faust's default is 4,096): a ``mentions``
message bundles up to 64 KB of batches, so this bounds what the count stage's consumer
holds to ~64 MB; a stream reads far fewer messages than this per batch."""


def create_app(
    settings: Settings,
    *,
    rules: RulesFile | None = None,
    channels: ChannelsFile | None = None,
    registry: CollectorRegistry | None = None,
    health: Health | None = None,
) -> faust.App:
    """Build the worker app; tests pass their own rules, channels, registry and health."""
    watchlist = load_watchlist(settings.watchlist)
    pipeline = Pipeline(
        watchlist, load_topics(settings.topics, watchlist), pair_entities=settings.pair_entities
    )
    rules = rules or load_rules(settings.rules)
    channels = channels or load_channels(settings.channels, settings.alerts_file)
    registry = registry or CollectorRegistry()
    health = health or Health()
    metrics = Metrics.create(registry)
    redis = redis_client(settings)
    tagging = settings.stages in ("all", "tag")
    counting = settings.stages in ("all", "count")
    if counting:  # a tag process never touches Redis: its readiness does not wait for it
        health.redis_probe = redis.ping

    app = App(
        settings.group_id,
        broker=[f"kafka://{server}" for server in settings.kafka_servers],
        broker_credentials=faust_credentials(settings),
        value_serializer="raw",
        key_serializer="raw",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        broker_session_timeout=6,
        broker_heartbeat_interval=1,
        broker_rebalance_timeout=6,
        stream_wait_empty=False,
        stream_buffer_maxsize=STREAM_BUFFER,
        producer_max_request_size=settings.max_message_bytes,
        datadir=str(settings.data_dir),
        store="memory://",
    )
    app.web_server(WebService(registry, health, host=settings.web_bind, port=settings.web_port))
    names = settings.topic_names
    topics = {
        role: app.topic(
            name, key_type=bytes, value_type=bytes, partitions=partitions_of(settings, name)
        )
        for role, name in (
            ("articles", names.articles),
            ("tagged", names.tagged),
            ("dlq", names.dlq),
            ("mentions", names.mentions),
            ("alerts", names.alerts),
            ("alerts_dlq", names.alerts_dlq),
        )
    }
    runner: TagRunner | None = None
    if tagging:
        runner = TagRunner(tag_stage(settings, pipeline), settings)
        attach_tag_agent(app, runner, topics, metrics, health)
    count_stage = CountStage(settings, redis, rules, pipeline, metrics, health)
    router = build_router(
        settings, channels, pipeline, redis, RouterMetrics.create(registry), topics["alerts_dlq"]
    )
    if counting:
        attach_count_agent(app, count_stage, topics, metrics, health)
        attach_route_agent(app, router, topics, metrics, health)

    @app.on_partitions_assigned.connect
    async def _assigned(app: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        health.assigned = True

    @app.on_partitions_revoked.connect
    async def _revoked(app: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        count_stage.revoked()

    broker = BrokerWatch(settings, health)
    quiet_kafka_client_logs()  # the watch reports an outage once; aiokafka, every retry

    @app.timer(interval=BROKER_CHECK_S)
    async def _watch_broker() -> None:
        await broker.check()

    attach_lag_timer(app, metrics, health)

    @app.on_before_shutdown.connect
    async def _close(app: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        if runner is not None:
            runner.close()
        await router.close()
        await redis.aclose()

    return app
