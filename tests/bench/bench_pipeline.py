"""End-to-end worker throughput, beside the raw consume rate of the same topic.

Run with ``make bench``. Starts the embedded broker and Redis, then for each way of
running the worker — one process with every stage, and a tag process beside a count
process (``raqib worker --stages``) — publishes N seed-based articles (each a distinct
copy with its own id and time) to fresh topics with the default four partitions, and
measures articles/s from the first publish until every mention is counted in Redis.
The stream then goes on (one later article on each ``articles`` partition, as a live feed
would), so what is measured is throughput, not the fixed wait for the end of a stream to be
declared idle (``RAQIB_ALIGN_IDLE_S``) before its last articles may be judged.
Baseline in the same run: kafka-python reading the same N articles off the topic (the
ceiling for any consumer of it on this machine). ``BENCH_ARTICLES`` sets N (2,000).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from processors.mentions import partition_of
from processors.pipeline import Pipeline
from processors.topics import load_topics
from processors.watchlist import load_watchlist
from producers.publisher import Publisher
from producers.seeds import load_seed_dir
from raqib.embedded import WorkerProcess, embedded_stack, free_port
from raqib.messages import parse_article
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


def mention_events(seeds: list[dict[str, object]]) -> list[int]:
    """How many mention events the tag stage makes of each seed (the same in any copy)."""
    watchlist = load_watchlist()
    pipeline = Pipeline(watchlist, load_topics(None, watchlist))
    raw = [json.dumps(s, default=str).encode() for s in seeds]
    return [len(pipeline.process(parse_article(r, fallback_time=None))[1]) for r in raw]


def stream_goes_on(publisher: Publisher, after: datetime) -> None:
    """One article on each ``articles`` partition, dated after the benchmark's: every
    partition has got past the last measured article, so it is judged without waiting for
    the stream's end to be declared idle."""
    covered: set[int] = set()
    k = 0
    while len(covered) < PARTITIONS:
        key = f"bench-next-{k}"
        k += 1
        if partition_of(key, PARTITIONS) in covered:
            continue
        covered.add(partition_of(key, PARTITIONS))
        publisher.article(
            {
                "id": key,
                "source": "bench",
                "title": "نشرة",
                "body": "لا جديد في هذه النشرة.",
                "published_at": (after + timedelta(minutes=1)).isoformat(),
            }
        )


def run(
    tmp: Path, broker_bootstrap: str, redis_url: str, stages: list[str], servers: list[int | None]
) -> dict[str, float]:
    """Publish COUNT articles to fresh topics and time the workers (one process per entry
    of ``stages``) from the first publish until every mention of them is counted."""
    seeds = load_seed_dir(ROOT / "seeds")
    per_seed = mention_events(seeds)
    expected = sum(per_seed[i % len(seeds)] for i in range(COUNT))
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
        time.sleep(2)  # past the workers' start-up, which is not what is measured
        cpu_before = [cpu_s(w.pid) for w in workers] + [cpu_s(pid) for pid in servers]
        began = time.perf_counter()
        with Publisher(base) as publisher:
            for i in range(COUNT):
                article = dict(seeds[i % len(seeds)])
                article["id"] = f"bench-{i}"
                article["published_at"] = (start + timedelta(seconds=30 * i)).isoformat()
                publisher.article(article)
            stream_goes_on(publisher, start + timedelta(seconds=30 * COUNT))
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
            if tagged >= COUNT and m.get("raqib_mentions_counted_total", 0) >= expected:
                break
            time.sleep(0.2)
        pipeline_s = time.perf_counter() - began
        cpu_after = [cpu_s(w.pid) for w in workers] + [cpu_s(pid) for pid in servers]
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
        "worker_cpu_s": sum(cpu_after[: len(workers)]) - sum(cpu_before[: len(workers)]),
        **{
            f"cpu_s:{stage}": cpu_after[i] - cpu_before[i]
            for i, stage in enumerate(stages)
            if len(stages) > 1
        },
        "server_cpu_s": sum(cpu_after[len(workers) :]) - sum(cpu_before[len(workers) :]),
    }


def cpu_s(pid: int | None) -> float:
    """CPU time (user + system) a live process has used so far, in seconds (Linux): what
    a stage costs, much less moved than wall time by what else the machine runs."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


def faust_floor(bootstrap: str, topic: str, sends: int, tmp: Path) -> dict[str, float]:
    """Articles/s and CPU per 1,000 articles of a Faust agent that only reads ``topic``
    (and sends ``sends`` small messages per article): what Faust itself costs a stage.
    Measured from its first batch on, so that start-up and joining the group are left out."""
    done_file = tmp / f"floor-{sends}.txt"
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tests/bench/faust_floor.py"), bootstrap, topic, str(sends),
         str(done_file)],
        cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        first: tuple[float, float, int] | None = None
        while time.monotonic() < deadline:
            read = int(done_file.read_text() or 0) if done_file.exists() else 0
            if read and first is None:
                first = time.perf_counter(), cpu_s(process.pid), read
            if read >= COUNT and first is not None:
                seconds = time.perf_counter() - first[0]
                articles = read - first[2]
                return {
                    "per_s": articles / seconds if seconds > 0 else float("inf"),
                    "cpu_per_1000": (cpu_s(process.pid) - first[1]) / max(articles, 1) * 1000,
                }
            time.sleep(0.05)
        raise TimeoutError(f"the Faust floor read {read} of {COUNT} articles in 300 s")
    finally:
        process.kill()
        process.wait()


def main() -> int:
    modes = [["all"], ["tag", "count"]]
    with tempfile.TemporaryDirectory() as tmp, embedded_stack(Path(tmp)) as (broker, redis):
        results = {
            "+".join(mode): run(
                Path(tmp), broker.bootstrap, redis.url, mode, [broker.pid, redis.pid]
            )
            for mode in modes
        }
        consume_s, size = raw_consume(broker.bootstrap, "bench-all.articles")
        floors = {
            sends: faust_floor(broker.bootstrap, "bench-all.articles", sends, Path(tmp))
            for sends in (0, 5)
        }
    print(
        f"{COUNT} articles ({size / COUNT / 1024:.1f} KB each), {PARTITIONS} partitions, "
        f"{os.cpu_count()} cores"
    )
    print(f"  raw consume + JSON decode          {COUNT / consume_s:8.0f} articles/s (ceiling)")
    for sends, floor in floors.items():
        what = "reads only" if not sends else f"reads, sends {sends} per article"
        print(
            f"  a Faust agent that {what:<26} {floor['per_s']:8.0f} articles/s,"
            f" CPU {floor['cpu_per_1000']:.2f} s per 1,000 articles"
        )
    for mode, r in results.items():
        label = "one process" if mode == "all" else "tag + count processes"
        print(f"  {label:<22} publish (acks=all) {COUNT / r['published_s']:8.0f} articles/s")
        print(f"  {label:<22} tagged             {COUNT / r['tagged_s']:8.0f} articles/s")
        print(
            f"  {label:<22} end to end         {COUNT / r['pipeline_s']:8.0f} articles/s "
            f"({consume_s / r['pipeline_s']:.1%} of the ceiling), "
            f"{r['mentions'] / r['pipeline_s']:.0f} mentions/s; largest RSS {r['rss_mb']:.0f} MB"
        )
        per = 1000 / COUNT
        stages = "".join(
            f"; {k[6:]} {v * per:.2f} s" for k, v in r.items() if k.startswith("cpu_s:")
        )
        print(
            f"  {label:<22} CPU per 1,000 articles: workers {r['worker_cpu_s'] * per:.2f} s,"
            f" broker + Redis {r['server_cpu_s'] * per:.2f} s{stages}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
