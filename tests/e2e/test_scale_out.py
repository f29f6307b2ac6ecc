"""Scaling out: four partitions, two workers, one run of 1,500 articles for the module.

Every (subject, article) is counted exactly once, whichever worker owns it, and the Hatami
surge fires once; the articles, spread over the four ``articles`` partitions by id and
consumed in whatever interleaving, fire exactly what ``raqib backtest`` fires on the same
stream, to the window and the alert id (the count stage aligns the partitions).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from producers.publisher import Publisher
from producers.scenario import expand
from raqib.embedded import WorkerProcess, free_port
from raqib.redis_cluster import mget_sync
from raqib.security import redis_sync_client
from raqib.settings import Settings
from raqib.topics import ensure_topics
from tests.e2e.test_resilience import AlertKey, alert_key, expected_run, held, scrape

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]

STREAM = Path(__file__).resolve().parents[1] / "data" / "streams" / "crash.yaml"
GENERATION = re.compile(r"generation id (\d+)")


def all_alerts(settings: Settings) -> list[dict[str, Any]]:
    """Every event on ``alerts`` (one partition) so far, in order."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_servers)
    part = TopicPartition(settings.topic_names.alerts, 0)
    consumer.assign([part])
    consumer.seek_to_beginning(part)
    end = consumer.end_offsets([part])[part]
    found: list[dict[str, Any]] = []
    try:
        while consumer.position(part) < end:
            for batch in consumer.poll(timeout_ms=500).values():
                found.extend(json.loads(r.value) for r in batch)
    finally:
        consumer.close()
    return found


def wait_for_one_generation(workers: list[WorkerProcess], timeout_s: float = 30) -> int:
    """Wait until every worker was assigned its partitions in the same, latest group
    generation: the group has settled on all of them before the stream starts."""
    deadline = time.monotonic() + timeout_s
    latest: list[int | None] = []
    while time.monotonic() < deadline:
        latest = []
        for worker in workers:
            found = GENERATION.findall(worker.log_tail(10**7))
            latest.append(int(found[-1]) if found else None)
        if None not in latest and len(set(latest)) == 1:
            return int(latest[0] or 0)
        time.sleep(0.2)
    raise AssertionError(f"the group never settled on {len(workers)} members: {latest}")


def published_at(article: dict[str, Any]) -> str:
    value = article["published_at"]
    return str(value.isoformat() if hasattr(value, "isoformat") else value)[:19]


@dataclass
class Run:
    """What the two workers did with the stream, read once they had caught up."""

    articles: list[dict[str, Any]]
    expected_alerts: list[AlertKey]
    expected_hours: dict[str, int]
    seen: list[bytes]
    hours: list[int]
    processed: list[float]
    alerts: list[dict[str, Any]]
    elapsed_s: float


def scale_settings(kafka_broker: Any, redis_url: str, tmp: Path, **options: Any) -> Settings:
    """The first worker's settings: names of its own on the shared broker and Redis."""
    tag = uuid.uuid4().hex[:8]
    return Settings(
        kafka=kafka_broker.bootstrap,
        redis=redis_url,
        app_id=f"raqib-scale-{tag}",
        topic_prefix=f"scale-{tag}.",
        redis_prefix=f"scale-{tag}",
        partitions=4,
        web_port=free_port(),
        alerts_file=tmp / "alerts.jsonl",
        data_dir=tmp / "worker",
        align_idle_s=5.0,
        **options,
    )


def scale_out(
    settings: Settings, tmp: Path, midway: Callable[[tuple[int, int]], None] | None = None
) -> Run:
    """Two workers (``settings`` and a copy with its own port and data) on the crash
    stream, read once they have caught up; ``midway(ports)`` runs once a third of it is
    counted (``ports``: the workers' /metrics)."""
    ensure_topics(settings)
    articles = expand(STREAM)
    expected, hours_expected = expected_run(articles)  # raqib backtest on the stream
    pairs = sum(hours_expected.values())  # one hour count per (subject, article)
    second_settings = settings.model_copy(
        update={"web_port": free_port(), "data_dir": tmp / "worker-2"}
    )
    ports = (settings.web_port, second_settings.web_port)
    first = WorkerProcess(settings, tmp / "first").start()
    second = WorkerProcess(second_settings, tmp / "second").start()
    redis = redis_sync_client(settings)  # every node of a cluster
    prefix = settings.redis_prefix

    def scan(pattern: str) -> list[bytes]:
        return list(redis.scan_iter(match=f"{prefix}:{{*}}:{pattern}", count=10_000))

    try:
        wait_for_one_generation([first, second])
        started = time.monotonic()
        with Publisher(settings) as publisher:
            for article in articles:
                publisher.article(article)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            counted = len(scan("seen:*"))
            if midway is not None and counted >= pairs // 3:
                midway(ports)
                midway = None
            if counted >= pairs and held(*ports) == 0:
                if len(all_alerts(settings)) >= len(expected):
                    break
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        time.sleep(2)  # anything counted or fired twice would have landed by now
        processed = [scrape(port).get("raqib_articles_processed_total", 0.0) for port in ports]
        seen = scan("seen:*")
        hours = [int(v) for v in mget_sync(redis, scan("h:*"))]
        alerts = all_alerts(settings)
    finally:
        first.stop()
        second.stop()
        redis.close()
    return Run(articles, expected, hours_expected, seen, hours, processed, alerts, elapsed)


@pytest.fixture(scope="module")
def run(kafka_broker: Any, redis_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Run:
    tmp = tmp_path_factory.mktemp("scale-out")
    return scale_out(scale_settings(kafka_broker, redis_server.url, tmp), tmp)


def test_two_workers_on_four_partitions_count_everything_once(run: Run) -> None:
    pairs = sum(run.expected_hours.values())  # (subject, article) pairs of the stream
    assert len(run.seen) == pairs
    assert sum(run.hours) == pairs  # every (subject, article) counted once
    assert sum(run.processed) >= len(run.articles), run.processed
    assert all(n > 0 for n in run.processed), run.processed  # both workers had partitions

    events = Counter((a["alert_id"], a["status"]) for a in run.alerts)
    assert all(n == 1 for n in events.values()), events  # no episode paged twice
    hatami = [
        a
        for a in run.alerts
        if (a["rule"], a["subject"], a["status"])
        == ("entity-spike", "entity:amir-hatami", "firing")
    ]
    assert len(hatami) == 1
    surge = min(published_at(a) for a in run.articles if "-surge-" in a["id"])
    assert hatami[0]["event_time"][:19] >= surge  # during the surge, not before


def test_two_workers_on_four_partitions_fire_what_backtest_fires(run: Run, report: Any) -> None:
    """1,500 articles spread over four ``articles`` partitions by id, consumed in whatever
    interleaving, by two workers: the count stage aligns the partitions, so the alerts are
    those of ``raqib backtest`` on the same stream, to the window and the alert id."""
    live = sorted(alert_key(a) for a in run.alerts)
    offline = sorted(run.expected_alerts)
    partial = sum(a["labels"].get("watermark") == "partial" for a in run.alerts)
    report(
        f"2 workers x 4 partitions, {len(run.articles)} articles in {run.elapsed_s:.0f} s: "
        f"{len(live)} alert events live, {len(offline)} in backtest, "
        f"{len(set(live) ^ set(offline))} differ, {partial} judged with a partition idle"
    )
    assert len(offline) > 20
    assert live == offline
