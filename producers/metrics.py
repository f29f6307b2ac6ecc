"""Every Prometheus metric of the producers, declared in one place on an injectable registry.

Labels stay bounded: ``producer`` is a command name, ``result`` one of a few words,
``feed`` a configured feed name (never an article id or free text).

>>> from prometheus_client import CollectorRegistry
>>> registry = CollectorRegistry()
>>> m = ProducerMetrics.create(registry)
>>> m.articles.labels(producer="produce", result="sent").inc()
>>> registry.get_sample_value(
...     "raqib_producer_articles_total", {"producer": "produce", "result": "sent"})
1.0
"""

from __future__ import annotations

from typing import NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server


class ProducerMetrics(NamedTuple):
    articles: Counter
    feed_last_success: Gauge
    feed_errors: Gauge
    feed_items: Counter
    ingest_requests: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> ProducerMetrics:
        """Declare all metrics on ``registry`` (a fresh one per command keeps tests apart)."""
        return cls(
            articles=Counter(
                "raqib_producer_articles",
                "Articles offered by a producer: sent, duplicate (suppressed) or invalid.",
                ["producer", "result"],
                registry=registry,
            ),
            feed_last_success=Gauge(
                "raqib_feed_last_success_timestamp_seconds",
                "When each feed was last read successfully (Unix time; 0: never).",
                ["feed"],
                registry=registry,
            ),
            feed_errors=Gauge(
                "raqib_feed_consecutive_errors",
                "Polls of each feed that failed in a row (0 after a success).",
                ["feed"],
                registry=registry,
            ),
            feed_items=Counter(
                "raqib_feed_items_published",
                "Feed entries published to the articles topic (duplicates not counted).",
                ["feed"],
                registry=registry,
            ),
            ingest_requests=Counter(
                "raqib_ingest_requests",
                "POST /articles requests answered, by HTTP status.",
                ["status"],
                registry=registry,
            ),
        )


def serve_metrics(registry: CollectorRegistry, port: int, bind: str) -> None:
    """Serve ``/metrics`` on a port of its own (in a daemon thread); 0 serves nothing."""
    if port:
        start_http_server(port, addr=bind, registry=registry)
