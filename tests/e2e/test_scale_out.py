"""Scaling out: four partitions, two workers. Every (subject, article) is counted exactly
once, whichever worker owns it, and the drill's surge fires once — late mentions from the
other partitions of ``articles`` are judged at their own time."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer
from redis import Redis

from alerts import load_rules
from processors.backtest import backtest
from processors.pipeline import Pipeline
from processors.topics import load_topics
from processors.watchlist import load_watchlist
from producers.publisher import Publisher
from producers.scenario import expand
from raqib.embedded import WorkerProcess, free_port
from raqib.messages import Alert, parse_article
from raqib.settings import Settings
from raqib.topics import ensure_topics
from tests.e2e.test_resilience import scrape

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]

DRILL = Path(__file__).resolve().parents[2] / "seeds" / "scenarios" / "drill.yaml"


def expected_pairs(articles: list[dict[str, Any]]) -> set[tuple[str, str]]:
    watchlist = load_watchlist()
    pipeline = Pipeline(watchlist, load_topics(None, watchlist))
    pairs = set()
    for raw in articles:
        article = parse_article(json.dumps(raw, default=str).encode(), fallback_time=None)
        _, events = pipeline.process(article)
        pairs.update((e.subject, e.article_id) for e in events)
    return pairs


def all_alerts(settings: Settings) -> list[dict[str, Any]]:
    consumer = KafkaConsumer(
        settings.topic_names.alerts,
        bootstrap_servers=settings.kafka_servers,
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
        group_id=None,
    )
    try:
        return [json.loads(record.value) for record in consumer]
    finally:
        consumer.close()


def test_two_workers_on_four_partitions_count_everything_once(
    kafka_broker: Any, redis_server: Any, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    settings = Settings(
        kafka=kafka_broker.bootstrap,
        redis=redis_server.url,
        app_id=f"raqib-scale-{tag}",
        topic_prefix=f"scale-{tag}.",
        redis_prefix=f"scale-{tag}",
        partitions=4,
        web_port=free_port(),
        alerts_file=tmp_path / "alerts.jsonl",
    )
    ensure_topics(settings)
    articles = expand(DRILL)
    expected = expected_pairs(articles)
    second_settings = settings.model_copy(update={"web_port": free_port()})
    first = WorkerProcess(settings, tmp_path / "first").start()
    second = WorkerProcess(second_settings, tmp_path / "second").start()
    redis = Redis.from_url(redis_server.url)
    try:
        time.sleep(12)  # let the group settle on two members before the stream starts
        with Publisher(settings) as publisher:
            for article in articles:
                publisher.article(article)
        deadline = time.monotonic() + 120
        seen: list[bytes] = []
        while time.monotonic() < deadline:
            seen = list(redis.scan_iter(match=f"{settings.redis_prefix}:{{*}}:seen:*", count=1000))
            if len(seen) >= len(expected):
                break
            time.sleep(0.5)
        time.sleep(2)  # anything counted twice would have landed by now
        processed = [
            scrape(port).get("raqib_articles_processed_total", 0.0)
            for port in (settings.web_port, second_settings.web_port)
        ]
        hours = [
            int(v)
            for v in redis.mget(
                list(redis.scan_iter(match=f"{settings.redis_prefix}:{{*}}:h:*", count=1000))
            )
        ]
    finally:
        first.stop()
        second.stop()
        redis.close()

    assert len(seen) == len(expected)
    assert sum(hours) == len(expected)  # every (subject, article) counted once, in total
    assert sum(processed) >= len(articles) and all(n > 0 for n in processed), processed

    alerts = all_alerts(settings)
    events = Counter((a["alert_id"], a["status"]) for a in alerts)
    assert all(n == 1 for n in events.values()), events  # no episode paged twice
    hatami = [
        a
        for a in alerts
        if (a["rule"], a["subject"], a["status"])
        == ("entity-spike", "entity:amir-hatami", "firing")
    ]
    assert len(hatami) == 1
    assert hatami[0]["event_time"] >= "2024-12-10T00:10"  # during the surge, not before


STREAM = Path(__file__).resolve().parents[1] / "data" / "streams" / "crash.yaml"


def test_two_workers_on_four_partitions_fire_what_backtest_fires(
    kafka_broker: Any, redis_server: Any, tmp_path: Path, report: Any
) -> None:
    """1,500 articles spread over four ``articles`` partitions by id, consumed in whatever
    interleaving, by two workers: the count stage aligns the partitions, so the alerts are
    those of ``raqib backtest`` on the same stream, to the window and the alert id."""
    tag = uuid.uuid4().hex[:8]
    settings = Settings(
        kafka=kafka_broker.bootstrap,
        redis=redis_server.url,
        app_id=f"raqib-det-{tag}",
        topic_prefix=f"det-{tag}.",
        redis_prefix=f"det-{tag}",
        partitions=4,
        web_port=free_port(),
        alerts_file=tmp_path / "alerts.jsonl",
        align_idle_s=20.0,  # a slow machine must not make a partition look idle
    )
    ensure_topics(settings)
    articles = expand(STREAM)
    watchlist = load_watchlist()
    pipeline = Pipeline(watchlist, load_topics(None, watchlist))
    lines = [json.dumps(a, ensure_ascii=False, default=str).encode() for a in articles]
    expected = [
        e for e in asyncio.run(backtest(lines, pipeline, load_rules())) if isinstance(e, Alert)
    ]
    second_settings = settings.model_copy(update={"web_port": free_port()})
    first = WorkerProcess(settings, tmp_path / "first").start()
    second = WorkerProcess(second_settings, tmp_path / "second").start()
    try:
        time.sleep(12)  # let the group settle on two members before the stream starts
        started = time.monotonic()
        with Publisher(settings) as publisher:
            for article in articles:
                publisher.article(article)
        deadline = time.monotonic() + 240
        alerts: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            held = sum(
                v
                for port in (settings.web_port, second_settings.web_port)
                for k, v in scrape(port).items()
                if k.startswith("raqib_aligned_held_batches")
            )
            alerts = all_alerts(settings)
            if held == 0 and len(alerts) >= len(expected):
                break
            time.sleep(2)
        elapsed = time.monotonic() - started
    finally:
        first.stop()
        second.stop()

    def key(a: dict[str, Any]) -> tuple[str, ...]:
        return (a["alert_id"], a["status"], a["rule"], a["subject"], a["event_time"][:19])

    live = sorted(key(a) for a in alerts)
    offline = sorted(key(json.loads(e.model_dump_json())) for e in expected)
    partial = sum(a["labels"].get("watermark") == "partial" for a in alerts)
    report(
        f"2 workers x 4 partitions, {len(articles)} articles in {elapsed:.0f} s: "
        f"{len(live)} alert events live, {len(offline)} in backtest, "
        f"{len(set(live) ^ set(offline))} differ, {partial} judged with a partition idle"
    )
    assert len(offline) > 20
    assert live == offline
