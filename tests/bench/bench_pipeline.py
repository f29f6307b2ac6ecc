"""End-to-end worker throughput, beside the raw consume rate of the same topic.

Run with ``make bench``. Starts the embedded broker and Redis, then for each way of
running the worker — one process with every stage, and a tag process beside a count
process (``raqib worker --stages``) — publishes N seed-based articles (each a distinct
copy with its own id and time) to fresh topics with the default four partitions, and
measures articles/s from the first publish until every mention is counted in Redis.
Baseline in the same run: kafka-python reading the same N articles off the topic (the
ceiling for any consumer of it on this machine). ``BENCH_ARTICLES`` sets N (2,000).
"""

from __future__ import annotations

import json
import os
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
COUNT = int(os.environ.get("BENCH_ARTICLES", "2000"))
PARTITIONS = 4  # the default


def metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[s.name] = out.get(s.name, 0.0) + s.value
    return out


def run(tmp: Path, broker_bootstrap: str, redis_url: str, stages: list[str]) -> dict[str, float]:
    """Publish COUNT articles to fresh topics and time the workers (one process per entry
    of ``stages``) from the first publish until every mention published is counted."""
    seeds = load_seed_dir(ROOT / "seeds")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    name = "-".join(stages)
    base = Settings(
        kafka=broker_bootstrap,
        redis=redis_url,
        app_id=f"bench-{name}",
        topic_prefix=f"bench-{name}.",
        redis_prefix=f"bench-{name}",
        partitions=PARTITIONS,
        web_port=free_port(),
        alerts_file=tmp / f"{name}.jsonl",
        data_dir=tmp / f"{name}-worker",
    )
    ensure_topics(base)
    processes = [
        base.model_copy(update={"stages": stage, "web_port": free_port()}) for stage in stages
    ]
    workers = [WorkerProcess(s, tmp / f"{name}-{i}").start() for i, s in enumerate(processes)]
    ports = [s.web_port for s in processes]
    try:
        began = time.perf_counter()
        with Publisher(base) as publisher:
            for i in range(COUNT):
                article = dict(seeds[i % len(seeds)])
                article["id"] = f"bench-{i}"
                article["published_at"] = (start + timedelta(seconds=30 * i)).isoformat()
                publisher.article(article)
        published = time.perf_counter() - began
        tagged_s = None
        while True:
            m: dict[str, float] = {}
            for port in ports:
                for k, v in metrics(port).items():
                    m[k] = m.get(k, 0.0) + v
            tagged = m.get("raqib_articles_processed_total", 0)
            if tagged_s is None and tagged >= COUNT:
                tagged_s = time.perf_counter() - began
            if tagged >= COUNT and m.get("raqib_mentions_counted_total", 0) >= m.get(
                "raqib_mentions_published_total", 1
            ):
                break
            time.sleep(0.2)
        pipeline_s = time.perf_counter() - began
        rss = [rss_mb(w.pid) for w in workers if w.pid is not None]
    finally:
        for worker in workers:
            worker.stop()
    return {
        "published_s": published,
        "tagged_s": tagged_s or pipeline_s,
        "pipeline_s": pipeline_s,
        "mentions": m["raqib_mentions_counted_total"],
        "rss_mb": max(rss, default=0.0),
    }


def rss_mb(pid: int) -> float:
    """A process's resident memory (Linux), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def raw_consume(bootstrap: str, topic: str) -> tuple[float, int]:
    """The ceiling: kafka-python reading the same articles and decoding their JSON."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    began = time.perf_counter()
    seen = size = 0
    while seen < COUNT:
        for records in consumer.poll(timeout_ms=500).values():
            seen += len(records)
            size += sum(len(r.value) for r in records)
            for r in records:
                json.loads(r.value)
    consume_s = time.perf_counter() - began
    consumer.close()
    return consume_s, size


def main() -> int:
    modes = [["all"], ["tag", "count"]]
    with tempfile.TemporaryDirectory() as tmp, embedded_stack(Path(tmp)) as (broker, redis):
        results = {
            "+".join(mode): run(Path(tmp), broker.bootstrap, redis.url, mode) for mode in modes
        }
        consume_s, size = raw_consume(broker.bootstrap, "bench-all.articles")
    print(
        f"{COUNT} articles ({size / COUNT / 1024:.1f} KB each), {PARTITIONS} partitions, "
        f"{os.cpu_count()} cores"
    )
    print(f"  raw consume + JSON decode          {COUNT / consume_s:8.0f} articles/s (ceiling)")
    for mode, r in results.items():
        label = "one process" if mode == "all" else "tag + count processes"
        print(f"  {label:<22} publish (acks=all) {COUNT / r['published_s']:8.0f} articles/s")
        print(f"  {label:<22} tagged             {COUNT / r['tagged_s']:8.0f} articles/s")
        print(
            f"  {label:<22} end to end         {COUNT / r['pipeline_s']:8.0f} articles/s "
            f"({consume_s / r['pipeline_s']:.1%} of the ceiling), "
            f"{r['mentions'] / r['pipeline_s']:.0f} mentions/s; largest RSS {r['rss_mb']:.0f} MB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
