"""The router's Prometheus metrics, declared in one place on an injectable registry.

>>> from prometheus_client import CollectorRegistry
>>> registry = CollectorRegistry()
>>> m = RouterMetrics.create(registry)
>>> m.notifications.labels("ops-hook", "page", "delivered").inc()
>>> registry.get_sample_value(
...     "raqib_notifications_total",
...     {"channel": "ops-hook", "kind": "page", "result": "delivered"})
1.0
"""

from __future__ import annotations

from typing import NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600)


class RouterMetrics(NamedTuple):
    notifications: Counter
    alert_events: Counter
    silenced: Counter
    latency: Histogram
    groups: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> RouterMetrics:
        return cls(
            notifications=Counter(
                "raqib_notifications",
                "Notifications per channel, by kind (page, update, resolved) and result "
                "(delivered, failed, retried, dead_lettered, repeat).",
                ["channel", "kind", "result"],
                registry=registry,
            ),
            alert_events=Counter(
                "raqib_alert_events_delivered",
                "Alert events carried by delivered notifications, per channel.",
                ["channel"],
                registry=registry,
            ),
            silenced=Counter(
                "raqib_alerts_silenced",
                "Alert events held back by a silence, by rule.",
                ["rule"],
                registry=registry,
            ),
            latency=Histogram(
                "raqib_delivery_latency_seconds",
                "From an alert event's time (event time) to its acceptance by a channel "
                "(wall time): the delay an operator sees on a live stream.",
                ["channel"],
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            groups=Gauge(
                "raqib_router_groups",
                "Stories (aggregation groups) the router holds open.",
                registry=registry,
            ),
        )
