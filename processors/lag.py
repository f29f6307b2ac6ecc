"""Consumer lag per partition: what the broker holds that this worker has not yet committed.

Faust's own sensors do not export lag, and a worker that falls behind looks healthy on
every other metric; ``raqib_consumer_lag_messages`` is what the ``RaqibConsumerLagGrowing``
rule in ``deploy/prometheus/rules.yml`` watches.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust
from faust.types import TP

from processors.health import Health
from processors.metrics import Metrics

log = logging.getLogger(__name__)

LAG_CHECK_S = 5.0


async def next_to_process(app: faust.App, tps: list[TP]) -> dict[TP, int | None]:
    """Where this worker's stream will process each partition from: the group's committed
    offset (the consumer's fetch position is no use: it runs ahead of what was processed,
    into the prefetch buffer), or the partition's earliest offset when the group never
    committed one."""
    if not tps:
        return {}
    committed = getattr(app.consumer, "_committed_offset", {})  # faust-streaming 0.11+
    out: dict[TP, int | None] = {tp: committed.get(tp) for tp in tps}
    never = [tp for tp, offset in out.items() if offset is None]
    if never:
        earliest = await app.consumer.earliest_offsets(*never)
        out.update({tp: earliest.get(tp) for tp in never})
    return out


def lags(ends: dict[TP, int], positions: dict[TP, int | None]) -> dict[TP, int]:
    """End offset less the next offset to process, per partition both are known for.

    >>> tp = TP("articles", 0)
    >>> lags({tp: 120}, {tp: 100}), lags({tp: 5}, {tp: None})
    ({TP(topic='articles', partition=0): 20}, {})
    """
    return {
        tp: max(0, end - at)
        for tp, end in ends.items()
        if (at := positions.get(tp)) is not None and end is not None
    }


def watched(tps: list[TP], app_id: str) -> list[TP]:
    """The partitions whose lag an operator watches: the stream's topics, not the topic
    Faust elects its group's leader on (``<app id>-__assignor-__leader``, never a message).

    >>> watched([TP("articles", 0), TP("raqib-__assignor-__leader", 0)], "raqib")
    [TP(topic='articles', partition=0)]
    """
    leader = f"{app_id}-__assignor-__leader"
    return [tp for tp in tps if tp.topic != leader]


def attach_lag_timer(app: faust.App, metrics: Metrics, health: Health) -> None:
    """Every ``LAG_CHECK_S``, ask the broker for the end of each owned partition and set
    the gauge; partitions this worker no longer owns drop out of /metrics."""
    shown: set[tuple[str, str]] = set()

    @app.timer(interval=LAG_CHECK_S)
    async def consumer_lag() -> None:
        tps = watched(list(app.consumer.assignment()), app.conf.id)
        if not health.broker_ok or health.dead:
            return  # the broker watch reports the outage; stale lag is dropped below
        try:
            async with asyncio.timeout(LAG_CHECK_S):
                ends: dict[Any, int] = dict(await app.consumer.highwaters(*tps)) if tps else {}
                positions = await next_to_process(app, tps)
        except Exception as exc:  # a busy or absent broker: try again next time
            log.debug("consumer lag unknown for now: %r", exc)
            return
        now = set()
        for tp, lag in lags(ends, positions).items():
            labels = (tp.topic, str(tp.partition))
            metrics.consumer_lag.labels(*labels).set(lag)
            now.add(labels)
        for labels in shown - now:
            metrics.consumer_lag.remove(*labels)
        shown.clear()
        shown.update(now)
