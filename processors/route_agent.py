"""The ``route`` agent: alerts -> the channels their rules name, each event once.

The count stage may send an alert event twice (a batch replayed after a crash re-sends
what it cannot know arrived), so routing drops an event whose ``(alert_id, status)`` it
has delivered already. The mark is written after delivery: a crash in between delivers
again rather than never.
"""

from __future__ import annotations

import logging

import faust
from redis.asyncio import Redis
from redis.exceptions import RedisError

from alerts import Router
from processors.health import Health
from processors.metrics import Metrics
from raqib.messages import Alert

log = logging.getLogger(__name__)

DELIVERED_TTL_S = 35 * 24 * 3600


class Delivered:
    """Which alert events were routed: ``P:delivered:{<alert_id>}:<status>`` in Redis."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    def key(self, alert: Alert) -> str:
        return f"{self.prefix}:delivered:{{{alert.alert_id}}}:{alert.status}"

    async def seen(self, alert: Alert) -> bool:
        try:
            return bool(await self.redis.exists(self.key(alert)))
        except (RedisError, OSError):
            return False  # deliver twice rather than never

    async def mark(self, alert: Alert) -> None:
        try:
            await self.redis.set(self.key(alert), "1", ex=DELIVERED_TTL_S)
        except (RedisError, OSError) as exc:
            log.warning("could not mark alert %s delivered: %s", alert.alert_id, exc)


def attach_route_agent(
    app: faust.App,
    router: Router,
    redis: Redis,
    prefix: str,
    topics: dict[str, faust.TopicT],
    metrics: Metrics,
    health: Health,
) -> None:
    """Register the ``route`` agent on ``app``."""
    delivered = Delivered(redis, prefix)

    @app.agent(topics["alerts"], name="route")
    @health.supervised("route")
    async def route(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            msg = event.message
            try:
                alert = Alert.model_validate_json(event.value)
            except ValueError:
                log.exception("unreadable alert at %s[%d]@%d", msg.topic, msg.partition, msg.offset)
                metrics.errors.labels("route").inc()
                continue
            if await delivered.seen(alert):
                metrics.alerts_repeated.inc()
                continue
            for channel in await router.route(alert):
                metrics.alerts_routed.labels(channel).inc()
            await delivered.mark(alert)
