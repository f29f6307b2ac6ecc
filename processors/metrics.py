"""Every Prometheus metric of the worker, declared in one place on an injectable registry.

>>> from prometheus_client import CollectorRegistry
>>> registry = CollectorRegistry()
>>> m = Metrics.create(registry)
>>> m.articles.inc()
>>> registry.get_sample_value("raqib_articles_processed_total")
1.0
"""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version
from typing import NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
PIPELINE_BUCKETS = (
    *(0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75),
    *(1, 2.5, 5, 10, 30, 60, 120, 300, 900),
)
"""End-to-end seconds: alignment may hold a batch for RAQIB_ALIGN_IDLE_S and more; fine
below a second, with a bound at each of the latency goals (counted 100 ms, alerted 250 ms),
so that the share of articles within them is read off a bucket, not interpolated."""


def raqib_version() -> str:
    """The installed package's version (``unknown`` when run from a bare source tree)."""
    try:
        return version("raqib")
    except PackageNotFoundError:
        return "unknown"


class Metrics(NamedTuple):
    articles: Counter
    dead_lettered: Counter
    mentions_by_entity: Counter
    mentions_by_topic: Counter
    mentions_published: Counter
    mentions_counted: Counter
    alerts_fired: Counter
    processing_seconds: Histogram
    batch_seconds: Histogram
    watermark: Gauge
    errors: Counter
    trimmed: Counter
    aligned_held: Gauge
    aligned_wait: Gauge
    aligned_lag: Gauge
    quarantined: Counter
    steps_replayed: Counter
    idle_markers: Counter
    aligned_idle: Gauge
    cache_entries: Gauge
    cache_evictions: Counter
    consumer_lag: Gauge
    pipeline_latency: Histogram
    build_info: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> Metrics:
        """Declare all metrics on ``registry`` (a fresh one per app keeps tests apart)."""
        return cls(
            articles=Counter(
                "raqib_articles_processed",
                "Valid articles cleaned and tagged.",
                registry=registry,
            ),
            dead_lettered=Counter(
                "raqib_dead_lettered",
                "Input messages sent to the dead-letter topic, by reason.",
                ["reason"],
                registry=registry,
            ),
            mentions_by_entity=Counter(
                "raqib_entity_mentions",
                "Articles mentioning each watchlist entity.",
                ["entity"],
                registry=registry,
            ),
            mentions_by_topic=Counter(
                "raqib_topic_mentions",
                "Articles matching each watched topic.",
                ["topic"],
                registry=registry,
            ),
            mentions_published=Counter(
                "raqib_mentions_published",
                "Mention events sent to the mentions topic.",
                registry=registry,
            ),
            mentions_counted=Counter(
                "raqib_mentions_counted",
                "Mention events counted in Redis (new) or skipped as redelivered (duplicate).",
                ["result"],
                registry=registry,
            ),
            alerts_fired=Counter(
                "raqib_alerts_fired",
                "Alert events emitted, by rule and status.",
                ["rule", "status"],
                registry=registry,
            ),
            processing_seconds=Histogram(
                "raqib_article_processing_seconds",
                "Time to clean, tag and publish one article.",
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            batch_seconds=Histogram(
                "raqib_count_batch_seconds",
                "Time to count and evaluate one batch of mentions (and send its alerts).",
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            watermark=Gauge(
                "raqib_event_time_watermark_seconds",
                "Latest event time seen per mentions partition (Unix seconds).",
                ["partition"],
                registry=registry,
            ),
            errors=Counter(
                "raqib_processing_errors",
                "Messages that raised inside a stage, by stage.",
                ["stage"],
                registry=registry,
            ),
            trimmed=Counter(
                "raqib_outputs_trimmed",
                "Outputs cut to fit the broker's message size, by what was cut "
                "(clean_body, body, entities of a tagged article; a dead letter's bytes).",
                ["what"],
                registry=registry,
            ),
            aligned_held=Gauge(
                "raqib_aligned_held_batches",
                "Mention batches held per mentions partition until every articles "
                "partition has passed them.",
                ["partition"],
                registry=registry,
            ),
            aligned_wait=Gauge(
                "raqib_aligned_wait_seconds",
                "How long the next held batch has waited (wall time), per partition.",
                ["partition"],
                registry=registry,
            ),
            aligned_lag=Gauge(
                "raqib_aligned_lag_seconds",
                "Event time between the furthest and the slowest articles partition, as "
                "one mentions partition sees them: how far behind alignment holds.",
                ["partition"],
                registry=registry,
            ),
            quarantined=Counter(
                "raqib_articles_quarantined",
                "Articles dated hours ahead of their articles partition, alone (a broken "
                "clock): not counted, per mentions partition that saw them.",
                ["partition"],
                registry=registry,
            ),
            steps_replayed=Counter(
                "raqib_steps_replayed",
                "Articles a mentions partition had judged before a crash or a rebalance, "
                "read again from the last commit: counted, not judged again.",
                registry=registry,
            ),
            idle_markers=Counter(
                "raqib_idle_markers",
                "Idle markers sent: an articles partition this worker reads was read to its "
                "end and quiet for RAQIB_ALIGN_IDLE_S (one per mentions partition told).",
                registry=registry,
            ),
            aligned_idle=Gauge(
                "raqib_aligned_idle_origins",
                "Articles partitions a mentions partition no longer waits for (their tag "
                "stage said they are idle), per mentions partition.",
                ["partition"],
                registry=registry,
            ),
            cache_entries=Gauge(
                "raqib_cache_entries",
                "Entries of each bounded per-subject cache of the count stage, over the "
                "partitions this worker owns: count_mirror, engine_rules, engine_usual, "
                "episodes, silence_established, silence_provisional.",
                ["cache"],
                registry=registry,
            ),
            cache_evictions=Counter(
                "raqib_cache_evictions",
                "Entries pushed out of each bounded cache (read again when needed); for "
                "silence_established, promotions refused because it was full, and retirements.",
                ["cache"],
                registry=registry,
            ),
            consumer_lag=Gauge(
                "raqib_consumer_lag_messages",
                "Messages on the broker not yet processed and committed by this worker, per "
                "topic and partition it owns (the partition's end offset less the group's "
                "committed offset); what alignment holds is not committed yet.",
                ["topic", "partition"],
                registry=registry,
            ),
            pipeline_latency=Histogram(
                "raqib_pipeline_latency_seconds",
                "Wall time from an article's receipt (its broker timestamp on articles, which "
                "its mentions carry) to a stage: tagged (its mentions handed to the producer), "
                "read (its mentions read by the count stage), aligned (released "
                "for judging: every articles partition got past it), counted (its mentions "
                "recorded in Redis and judged), alerted (an alert it fired acknowledged on "
                "alerts).",
                ["stage"],
                buckets=PIPELINE_BUCKETS,
                registry=registry,
            ),
            build_info=_build_info(registry),
        )


def _build_info(registry: CollectorRegistry) -> Gauge:
    """Always 1; its labels say which raqib and Python a worker runs, for dashboards."""
    gauge = Gauge(
        "raqib_build_info",
        "The raqib version and Python version of this process (always 1).",
        ["version", "python"],
        registry=registry,
    )
    gauge.labels(raqib_version(), platform.python_version()).set(1)
    return gauge
