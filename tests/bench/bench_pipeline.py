"""End-to-end worker throughput, beside the raw consume rate of the same topic.

Run with ``make bench``. Starts the embedded broker and Redis and one ``raqib worker``,
publishes N seed-based articles (each a distinct copy with its own id and time), and
measures articles/s from the first publish until every mention is counted in Redis.
Baseline in the same run: kafka-python reading the same N articles off the topic (the
ceiling for any consumer of it on this machine).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from producers.publisher import Publisher
from producers.seeds import load_seed_dir
from raqib.embedded import WorkerProcess, embedded_stack, free_port
from raqib.settings import Settings
from raqib.topics import ensure_topics

ROOT = Path(__file__).resolve().parents[2]
COUNT = int(__import__("os").environ.get("BENCH_ARTICLES", "1000"))


def metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[s.name] = out.get(s.name, 0.0) + s.value
    return out


def main() -> int:
    seeds = load_seed_dir(ROOT / "seeds")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp, embedded_stack(Path(tmp)) as (broker, redis):
        settings = Settings(
            kafka=broker.bootstrap,
            redis=redis.url,
            partitions=1,
            web_port=free_port(),
            alerts_file=Path(tmp) / "alerts.jsonl",
            data_dir=Path(tmp) / "worker",
        )
        ensure_topics(settings)
        worker = WorkerProcess(settings, Path(tmp) / "w").start()
        try:
            began = time.perf_counter()
            with Publisher(settings) as publisher:
                for i in range(COUNT):
                    article = dict(seeds[i % len(seeds)])
                    article["id"] = f"bench-{i}"
                    article["published_at"] = (start + timedelta(seconds=30 * i)).isoformat()
                    publisher.article(article)
            published = time.perf_counter() - began
            tagged_s = None
            while True:
                m = metrics(settings.web_port)
                tagged = m.get("raqib_articles_processed_total", 0)
                if tagged_s is None and tagged >= COUNT:
                    tagged_s = time.perf_counter() - began
                if tagged >= COUNT and m.get("raqib_mentions_counted_total", 0) >= m.get(
                    "raqib_mentions_published_total", 1
                ):
                    break
                time.sleep(0.2)
            pipeline_s = time.perf_counter() - began
            mentions = m["raqib_mentions_counted_total"]
        finally:
            worker.stop()
        consumer = KafkaConsumer(bootstrap_servers=settings.kafka_servers)
        tp = TopicPartition(settings.topic_names.articles, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        began = time.perf_counter()
        seen = 0
        size = 0
        while seen < COUNT:
            for records in consumer.poll(timeout_ms=500).values():
                seen += len(records)
                size += sum(len(r.value) for r in records)
                for r in records:
                    json.loads(r.value)
        consume_s = time.perf_counter() - began
        consumer.close()
    print(f"{COUNT} articles ({size / COUNT / 1024:.1f} KB each), {mentions:.0f} mentions")
    print(f"  publish (acks=all)          {COUNT / published:8.0f} articles/s")
    print(f"  raqib worker, tagged        {COUNT / (tagged_s or pipeline_s):8.0f} articles/s")
    print(f"  raqib worker, end to end    {COUNT / pipeline_s:8.0f} articles/s")
    print(f"  mentions counted            {mentions / pipeline_s:8.0f} mentions/s")
    print(f"  raw consume + JSON decode   {COUNT / consume_s:8.0f} articles/s (baseline)")
    print(f"  worker at {consume_s / pipeline_s:.1%} of the raw consume rate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
