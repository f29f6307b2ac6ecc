"""End-to-end worker throughput, memory and start-up, beside the raw consume rate.

Run with ``make bench``. Starts the embedded broker and Redis, then for each way of
running the worker publishes N seed-based articles (each a distinct copy with its own id
and time) to fresh topics with the default four partitions, and measures articles/s from
the first publish until every mention of them is counted in Redis. The stream then goes on
(one later article on each ``articles`` partition, as a live feed would), so what is
measured is throughput, not the fixed wait for the end of a stream to be declared idle
(``RAQIB_ALIGN_IDLE_S``) before its last articles may be judged. Modes:

* one ``raqib worker`` process (every stage);
* two and four ``raqib worker`` processes in one consumer group, every stage each (the
  group settled on all before the first publish; four on two cores only shows what
  sharing costs — see the README's capacity model);
* a tag process beside a count process (``raqib worker --stages tag|count``);
* one process with a synthetic 10,000-entity watchlist (the default one plus made-up
  Arabic names of people and organisations, each with a short alias).

Baselines in the same run: kafka-python reading the same N articles off the topic (the
ceiling for any consumer of it on this machine), and the floor under any Faust stage — an
agent that only reads them, and one that also sends five small messages per article, as
the tag stage does (``faust_floor.py``). Beside each mode: the CPU time its processes and
the broker and Redis used per 1,000 articles (less moved than wall time by what else the
machine runs: what a capacity plan divides by), the start-up (the processes
started one after the other, each until its ``/readyz`` answers, and the group settled),
the resident memory once ready and its peak during the run (``VmHWM``, the largest
process), and the steady rate: articles/s while the count went from 10 % to 90 % of the
mentions. ``BENCH_ARTICLES`` sets N (2,000); ``BENCH_PIPELINE_MODES`` picks modes by their
keys (``one,two,four,pair,big``). For the first mode, what a capacity plan needs besides:
the bytes per article on each topic and the Redis commands per article (INFO commandstats:
those sent, and those the scripts ran).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from benchkit import (
    ROOT,
    cpu_s,
    peak_rss_mb,
    record,
    rss_mb,
    start_workers,
    stop_workers,
    totals,
    wait_until,
)
from kafka import KafkaConsumer, TopicPartition
from redis import Redis as SyncRedis

from processors.mentions import partition_of
from processors.normalize import normalize_ar
from processors.pipeline import Pipeline
from processors.topics import load_topics
from processors.watchlist import load_watchlist, spellings_of
from producers.publisher import Publisher
from producers.seeds import load_seed_dir
from raqib.config import packaged_text
from raqib.embedded import embedded_stack, free_port
from raqib.messages import parse_article
from raqib.settings import Settings
from raqib.topics import ensure_topics

COUNT = int(os.environ.get("BENCH_ARTICLES", "2000"))
PARTITIONS = 4  # the default
SYNTHETIC_ENTITIES = 10_000
TIMEOUT_S = 300 + COUNT / 10  # 10 articles/s: far below any run seen on two cores


@dataclass(frozen=True)
class Mode:
    key: str
    label: str
    stages: tuple[str, ...]
    """One entry per process."""
    synthetic: bool = False


MODES = (
    Mode("one", "1 worker", ("all",)),
    Mode("two", "2 workers, one group", ("all", "all")),
    Mode("four", "4 workers, one group", ("all", "all", "all", "all")),
    Mode("pair", "tag + count processes", ("tag", "count")),
    Mode("big", f"1 worker, {SYNTHETIC_ENTITIES:,} entities", ("all",), synthetic=True),
)

FIRST_NAMES = (
    "محمد أحمد علي حسن حسين خالد عمر يوسف إبراهيم عبدالله عبدالرحمن سعيد سالم ناصر فهد "
    "سلطان ماجد طارق زياد باسل رامي سامي وليد هشام مازن جمال كمال نبيل عادل فؤاد رياض "
    "منير بسام غسان عماد إياد أيمن أنس بلال حمزة مصطفى محمود مراد نزار هاني وائل ياسر "
    "فراس قاسم جواد رضا كاظم مهدي صادق حيدر عباس جعفر شريف لؤي معتز"
).split()
FAMILY_NAMES = (
    "الحسيني الخطيب العلي الحلبي الدمشقي الشامي المصري البغدادي الموصلي البصري التكريتي "
    "الأنصاري القرشي الهاشمي الزعبي المقداد الشهابي العظمة القدسي النابلسي الخليلي "
    "الطرابلسي البيروتي الصيداوي الحمصي الحموي الإدلبي الرقاوي الديري الكردي العثماني "
    "الزيدي الحكيم الجبوري الدليمي العبيدي الشمري العنزي المطيري القحطاني الغامدي "
    "الزهراني العتيبي الكعبي النعيمي المري السويدي الرميثي البلوشي الحارثي اليافعي "
    "العولقي الحضرمي الصنعاني التميمي الكبيسي الراوي السامرائي الجنابي الخفاجي"
).split()
ORG_KINDS = "شركة مؤسسة جمعية مجموعة هيئة".split()
ORG_TRADES = ("للتجارة", "للإعلام", "الخيرية", "للتنمية", "القابضة", "للمقاولات", "للنقل")


def synthetic_watchlist(path: Path, entities: int = SYNTHETIC_ENTITIES, seed: int = 15) -> Path:
    """The default watchlist plus made-up entities up to ``entities``: people named
    ``first father family`` (alias ``first family``) and, one in ten, organisations named
    ``kind family trade``; no spelling repeats another's (as the loader requires)."""
    text, _ = packaged_text("processors", "watchlist.yaml")
    data = yaml.safe_load(text)
    default = load_watchlist()
    taken = {normalize_ar(s).strip() for e in default.entities for _, s in spellings_of(e)}
    rng = random.Random(seed)

    def fresh(*spellings: str) -> bool:
        keys = [normalize_ar(s).strip() for s in spellings]
        if len(set(keys)) < len(keys) or any(k in taken for k in keys):
            return False
        taken.update(keys)
        return True

    added: list[dict[str, Any]] = []
    while len(data["entities"]) + len(added) < entities:
        i = len(added)
        family = rng.choice(FAMILY_NAMES)
        if i % 10 == 9:
            name = f"{rng.choice(ORG_KINDS)} {family} {rng.choice(ORG_TRADES)}"
            en = f"Synthetic Organisation {i}"
            if fresh(name, en):
                added.append(
                    {"id": f"synthetic-{i}", "type": "ORG", "names": {"ar": name, "en": en}}
                )
            continue
        first, father = rng.choice(FIRST_NAMES), rng.choice(FIRST_NAMES)
        name, alias, en = f"{first} {father} {family}", f"{first} {family}", f"Synthetic Person {i}"
        entity = {"id": f"synthetic-{i}", "type": "PER", "names": {"ar": name, "en": en}}
        if fresh(name, en, alias):
            added.append({**entity, "aliases": [alias]})
        elif fresh(name, en):
            added.append(entity)
    data["entities"].extend(added)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    load_watchlist(path)  # what the worker will load: fail here, with the loader's message
    return path


def mention_events(seeds: list[dict[str, Any]], watchlist: Path | None) -> list[int]:
    """How many mention events the tag stage makes of each seed (the same in any copy)."""
    entities = load_watchlist(watchlist)
    pipeline = Pipeline(entities, load_topics(None, entities))
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


def redis_calls(url: str) -> dict[str, int]:
    """Calls per Redis command so far (INFO commandstats)."""
    client = SyncRedis.from_url(url)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def topic_bytes(bootstrap: str, topics: list[str]) -> dict[str, int]:
    """The bytes of every message value on each topic (read to its end)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, consumer_timeout_ms=2000)
    sizes: dict[str, int] = {}
    try:
        for topic in topics:
            parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
            consumer.assign(parts)
            consumer.seek_to_beginning(*parts)
            ends = consumer.end_offsets(parts)
            size = 0
            while any(consumer.position(tp) < end for tp, end in ends.items()):
                for records in consumer.poll(timeout_ms=500).values():
                    size += sum(len(r.value or b"") for r in records)
            sizes[topic] = size
    finally:
        consumer.close()
    return sizes


def run(
    tmp: Path, broker_bootstrap: str, redis_url: str, mode: Mode, servers: list[int | None]
) -> dict[str, float]:
    """Publish COUNT articles to fresh topics and time the workers (one process per entry
    of ``mode.stages``) from the first publish until every mention of them is counted."""
    seeds = load_seed_dir(ROOT / "seeds")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    watchlist = synthetic_watchlist(tmp / "watchlist-10k.yaml") if mode.synthetic else None
    per_seed = mention_events(seeds, watchlist)
    expected = sum(per_seed[i % len(seeds)] for i in range(COUNT))
    base = Settings(
        kafka=broker_bootstrap,
        redis=redis_url,
        app_id=f"bench-{mode.key}",
        topic_prefix=f"bench-{mode.key}.",
        redis_prefix=f"bench-{mode.key}",
        partitions=PARTITIONS,
        alerts_file=tmp / f"{mode.key}.jsonl",
        watchlist=watchlist,
    )
    ensure_topics(base)
    processes = [
        base.model_copy(
            update={"stages": stage, "web_port": free_port(), "data_dir": tmp / f"{mode.key}-{i}"}
        )
        for i, stage in enumerate(mode.stages)
    ]
    ports = [s.web_port for s in processes]
    one_group = len(mode.stages) > 1 and set(mode.stages) == {"all"}
    workers, startup_s = start_workers(processes, tmp / mode.key, group=one_group)
    try:
        ready_rss = max(rss_mb(w.pid) for w in workers if w.pid is not None)
        pids = [w.pid for w in workers] + servers
        cpu_before = [cpu_s(pid) for pid in pids]
        calls_before = redis_calls(redis_url)
        began = time.perf_counter()
        with Publisher(base) as publisher:
            for i in range(COUNT):
                article = dict(seeds[i % len(seeds)])
                article["id"] = f"bench-{i}"
                article["published_at"] = (start + timedelta(seconds=30 * i)).isoformat()
                publisher.article(article)
            stream_goes_on(publisher, start + timedelta(seconds=30 * COUNT))
        published = time.perf_counter() - began
        tagged_s: float | None = None
        progress: list[tuple[float, float]] = []  # (seconds, mentions counted)

        def done() -> bool:
            nonlocal tagged_s
            m = totals(ports)
            now = time.perf_counter() - began
            tagged = m.get("raqib_articles_processed_total", 0)
            counted = m.get("raqib_mentions_counted_total", 0)
            progress.append((now, counted))
            if tagged_s is None and tagged >= COUNT:
                tagged_s = now
            return tagged >= COUNT and counted >= expected

        wait_until(done, TIMEOUT_S, f"{mode.label}: every mention of {COUNT} articles counted")
        pipeline_s = time.perf_counter() - began
        cpu = [cpu_s(pid) - before for pid, before in zip(pids, cpu_before, strict=True)]
        calls = redis_calls(redis_url)
        peak = max(peak_rss_mb(w.pid) for w in workers if w.pid is not None)
    finally:
        stop_workers(workers)
    mentions = progress[-1][1]
    t10 = next(t for t, n in progress if n >= 0.1 * mentions)
    t90 = next(t for t, n in progress if n >= 0.9 * mentions)
    return {
        "startup_s": startup_s,
        "published_s": published,
        "tagged_s": tagged_s or pipeline_s,
        "pipeline_s": pipeline_s,
        "steady_per_s": 0.8 * COUNT / (t90 - t10) if t90 > t10 else float("nan"),
        "mentions": mentions,
        "ready_rss_mb": ready_rss,
        "peak_rss_mb": peak,
        "worker_cpu_s": sum(cpu[: len(workers)]),
        "server_cpu_s": sum(cpu[len(workers) :]),
        **{f"cpu_s:{s}": c for s, c in zip(mode.stages, cpu, strict=False) if s != "all"},
        **{f"redis:{k}": n - calls_before.get(k, 0) for k, n in calls.items()},
    }


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
    first: tuple[float, float, int] | None = None  # when, CPU used, articles read

    def done() -> bool:
        nonlocal first
        read = int(done_file.read_text() or 0) if done_file.exists() else 0
        if read and first is None:
            first = time.perf_counter(), cpu_s(process.pid), read
        return read >= COUNT

    try:
        wait_until(done, TIMEOUT_S, f"a Faust agent reading {COUNT} articles", every_s=0.05)
        assert first is not None  # noqa: S101 - set once anything was read
        seconds = time.perf_counter() - first[0]
        articles = int(done_file.read_text()) - first[2]
        return {
            "per_s": articles / seconds if seconds > 0 else float("inf"),
            "cpu_per_1000": (cpu_s(process.pid) - first[1]) / max(articles, 1) * 1000,
        }
    finally:
        process.kill()
        process.wait()


def main() -> int:
    wanted = os.environ.get("BENCH_PIPELINE_MODES", ",".join(m.key for m in MODES)).split(",")
    modes = [m for m in MODES if m.key in wanted]
    with tempfile.TemporaryDirectory() as tmp, embedded_stack(Path(tmp)) as (broker, redis):
        servers = [broker.pid, redis.pid]
        results = {m.label: run(Path(tmp), broker.bootstrap, redis.url, m, servers) for m in modes}
        topic = f"bench-{modes[0].key}.articles"
        consume_s, size = raw_consume(broker.bootstrap, topic)
        floors = {sends: faust_floor(broker.bootstrap, topic, sends, Path(tmp)) for sends in (0, 5)}
        names = Settings(topic_prefix=f"bench-{modes[0].key}.").topic_names
        sizes = topic_bytes(broker.bootstrap, [names.articles, names.mentions, names.tagged])
    ceiling = COUNT / consume_s
    print(
        f"{COUNT} articles ({size / COUNT / 1024:.1f} KB each), {PARTITIONS} partitions, "
        f"{os.cpu_count()} cores; raw consume + JSON decode (ceiling): {ceiling:,.0f} articles/s"
    )
    print(
        f"  {'worker':30} {'start-up':>8} {'publish':>8} {'tagged':>7} {'end to end':>10} "
        f"{'steady':>7} {'of ceiling':>10} {'mentions/s':>10} {'RSS ready':>9} {'peak':>6}"
    )
    for label, r in results.items():
        print(
            f"  {label:30} {r['startup_s']:7.1f}s {COUNT / r['published_s']:8.0f} "
            f"{COUNT / r['tagged_s']:7.0f} {COUNT / r['pipeline_s']:10.0f} "
            f"{r['steady_per_s']:7.0f} {COUNT / r['pipeline_s'] / ceiling:10.1%} "
            f"{r['mentions'] / r['pipeline_s']:10.0f} {r['ready_rss_mb']:7.0f}MB "
            f"{r['peak_rss_mb']:4.0f}MB"
        )
    print(
        "  (articles/s; RSS: the largest process, peak = VmHWM; goal: RSS <= 300 MB with the "
        "default watchlist)"
    )
    print("  CPU per 1,000 articles (seconds):")
    per = 1000 / COUNT
    for label, r in results.items():
        stages = "".join(f", {k[6:]} {v * per:.2f}" for k, v in r.items() if k.startswith("cpu_s:"))
        print(
            f"  {label:30} workers {r['worker_cpu_s'] * per:.2f}{stages}; "
            f"broker + Redis {r['server_cpu_s'] * per:.2f}"
        )
    first = results[modes[0].label]
    sent = {k[6:]: n for k, n in first.items() if k.startswith("redis:") and n}
    scripted = ("set", "hset", "get", "expire", "incrby")
    commands = sum(n for k, n in sent.items() if k not in scripted)
    print(
        f"  {modes[0].label}, per article: Redis commands sent {commands / COUNT:.1f} "
        f"(evalsha {sent.get('evalsha', 0) / COUNT:.1f}); run by the scripts "
        + ", ".join(f"{k} {sent.get(k, 0) / COUNT:.1f}" for k in scripted)
        + " (mostly inside the scripts); bytes on "
        + ", ".join(f"{t.split('.', 1)[1]} {n / COUNT:,.0f}" for t, n in sizes.items())
    )
    record(
        "pipeline",
        ceiling_per_s=ceiling,
        commands_per_article=commands / COUNT,
        **{f"{m.key}_per_s": COUNT / results[m.label]["pipeline_s"] for m in modes},
        **{f"{m.key}_peak_mb": results[m.label]["peak_rss_mb"] for m in modes},
    )
    for sends, floor in floors.items():
        what = "only reads them" if not sends else f"reads, sends {sends} per article"
        print(
            f"  a Faust agent that {what:<25} {floor['cpu_per_1000']:.2f} "
            f"({floor['per_s']:,.0f} articles/s): the floor under a stage"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
