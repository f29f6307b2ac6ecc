"""The ``route`` agent: alerts -> stories -> the channels operators watch.

Each alert event from ``alerts`` (one partition: one router sees every event in order) is
handed to :class:`alerts.Router`, which records it in Redis before the event's offset is
committed. The events read together (a wave the count stage sent at once) are accepted
first, then what they made due at once (a page of a route with no ``group_wait``) is
handed to its channels; a timer delivers what falls due later (group waits and intervals,
retries), on the worker that owns the ``alerts`` partition. Redis outages are waited out
(an event is not acknowledged until it is recorded).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import cast

import faust
from faust.streams import Stream
from faust.types import TP
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

from alerts import ChannelsFile, Router, RouterMetrics, RouterStore, Silences
from alerts.channels import Context
from processors.counts import RedisCounts
from processors.health import Health
from processors.metrics import Metrics
from processors.pipeline import Pipeline
from raqib.counting import hour_of
from raqib.messages import Alert
from raqib.notifications import Notification
from raqib.redis_cluster import REDIS_ERRORS, AsyncRedis
from raqib.settings import Settings

log = logging.getLogger(__name__)
DELIVERY_TICK_S = 0.25
"""How often what falls due is handed to its channels: the most an alert waits beyond its
route's ``group_wait`` when that is not zero (an in-memory check, no round trip)."""

ROUTE_BATCH = 500
ROUTE_WITHIN_S = 0.01
"""How long the agent waits for more events of a wave before it accepts what it has."""

HOURS = 24
MAX_RETRY_DELAY_S = 30.0


def build_router(
    settings: Settings,
    channels: ChannelsFile,
    pipeline: Pipeline,
    redis: AsyncRedis,
    router_metrics: RouterMetrics,
    dlq: faust.TopicT,
) -> Router:
    """The router of this worker, with its channels, Redis state and helpers."""
    counts = RedisCounts(redis, prefix=settings.redis_prefix)

    async def hours(subject: str, at: datetime) -> list[int]:
        last = hour_of(at)
        keys = [counts.key(subject, "h", h) for h in range(last - HOURS + 1, last + 1)]
        return [int(v) if v is not None else 0 for v in await redis.mget(keys)]

    async def dead_letter(notification: Notification, error: str) -> None:
        body = json.dumps(
            {"error": error, "notification": json.loads(notification.model_dump_json())},
            ensure_ascii=False,
        )
        await dlq.send(key=notification.story_id.encode(), value=body.encode("utf-8"))

    return Router.build(
        channels,
        Context(settings=settings),
        store=RouterStore(redis, settings.redis_prefix),
        names=pipeline.names,
        dead_letter=dead_letter,
        metrics=router_metrics,
        hours=hours,
        silences=Silences(redis, settings.redis_prefix),
    )


def attach_route_agent(
    app: faust.App,
    router: Router,
    topics: dict[str, faust.TopicT],
    metrics: Metrics,
    health: Health,
) -> None:
    """Register the ``route`` agent and the delivery timer on ``app``."""
    alerts_tp = TP(topics["alerts"].get_topic_name(), 0)

    async def accept(alert: Alert) -> list[str]:
        retrying = AsyncRetrying(
            wait=wait_exponential_jitter(multiplier=0.1, max=MAX_RETRY_DELAY_S),
            retry=retry_if_exception_type(REDIS_ERRORS),
            before_sleep=lambda state: health.redis_failed(
                "router", state.outcome.exception() if state.outcome else None
            ),
        )
        groups: list[str] = []
        async for attempt in retrying:
            with attempt:
                groups = await router.accept(alert)
        if health.outage_since is not None:
            health.redis_answered()
        return groups

    @app.agent(topics["alerts"], name="route")
    @health.supervised("route")
    async def route(stream: faust.StreamT[bytes]) -> None:
        taken = cast(Stream, stream).take_events(ROUTE_BATCH, within=ROUTE_WITHIN_S)
        async for events in taken:  # acknowledged once the body has accepted them all
            touched: dict[str, None] = {}
            for event in events:
                msg = event.message
                try:
                    alert = Alert.model_validate_json(event.value)
                except ValueError:
                    log.exception(
                        "unreadable alert at %s[%d]@%d", msg.topic, msg.partition, msg.offset
                    )
                    metrics.errors.labels("route").inc()
                    continue
                touched.update(dict.fromkeys(await accept(alert)))
            router.hand_due(touched)  # a page leaves now, not at the next tick

    @app.timer(interval=DELIVERY_TICK_S)
    async def deliver() -> None:
        """Deliver what is due, on the worker that owns ``alerts`` (the others stand by)."""
        owner = alerts_tp in app.consumer.assignment()
        try:
            if owner:
                await router.start()
                await router.tick()
            elif router.started:
                await router.stop()
        except REDIS_ERRORS as exc:
            health.redis_failed("router (deliveries wait)", exc)
