"""The worker outlives a Redis outage and loses no count: it waits and retries."""

from __future__ import annotations

import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis

from producers.publisher import Publisher
from raqib.embedded import EmbeddedRedis, WorkerProcess, free_port
from raqib.settings import Settings
from raqib.topics import ensure_topics

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def scrape(port: int) -> dict[str, float]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return {}
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = s.name + "".join(f"|{v}" for _, v in sorted(s.labels.items()))
            values[key] = s.value
    return values


def wait_for(port: int, predicate: Any, timeout_s: float = 60) -> dict[str, float]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        metrics = scrape(port)
        if metrics and predicate(metrics):
            return metrics
        time.sleep(0.3)
    raise AssertionError(f"condition not met; last metrics: {scrape(port)}")


def article(i: int) -> dict[str, str]:
    return {
        "id": f"outage-{i}",
        "source": "سانا",
        "title": f"خبر {i}",
        "body": f"قالت وزارة الخارجية الإيرانية إن قنصليتها في حلب تعرضت للهجوم رقم {i}.",
        "published_at": f"2024-12-01T10:{i:02d}:00Z",
    }


def test_a_redis_outage_delays_counts_but_loses_none(kafka_broker: Any, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    redis = EmbeddedRedis(tmp_path / "redis-1").start()
    settings = Settings(
        kafka=kafka_broker.bootstrap,
        redis=redis.url,
        app_id=f"raqib-outage-{tag}",
        topic_prefix=f"outage-{tag}.",
        redis_prefix="o",
        partitions=1,
        web_port=free_port(),
        alerts_file=tmp_path / "alerts.jsonl",
        data_dir=tmp_path / "worker",
    )
    ensure_topics(settings)
    worker = WorkerProcess(settings, tmp_path / "worker-process").start()
    restarted: EmbeddedRedis | None = None
    try:
        with Publisher(settings) as publisher:
            for i in range(3):
                publisher.article(article(i))
        port = settings.web_port

        def counted(m: dict[str, float]) -> float:
            return m.get("raqib_mentions_counted_total|new", 0)

        before = wait_for(port, lambda m: counted(m) == m["raqib_mentions_published_total"] > 0)
        redis.stop()
        with Publisher(settings) as publisher:
            for i in range(3, 6):
                publisher.article(article(i))
        during = wait_for(port, lambda m: m.get("raqib_processing_errors_total|redis", 0) >= 2)
        assert counted(during) == counted(before)  # nothing counted, nothing dropped
        restarted = EmbeddedRedis(tmp_path / "redis-2")
        restarted.port = redis.port
        restarted.start()
        after = wait_for(port, lambda m: counted(m) == m["raqib_mentions_published_total"])
        assert (
            after["raqib_mentions_published_total"] == 2 * before["raqib_mentions_published_total"]
        )
        client = Redis.from_url(restarted.url)
        seen = {k.decode() for k in client.scan_iter("o:{entity:aleppo}:seen:*")}
        client.close()
        assert seen == {f"o:{{entity:aleppo}}:seen:outage-{i}" for i in range(3, 6)}
        assert worker.process is not None and worker.process.poll() is None
    except BaseException:
        print(worker.log_tail(4000))
        raise
    finally:
        worker.stop()
        redis.stop()
        if restarted is not None:
            restarted.stop()
