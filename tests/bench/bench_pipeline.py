"""End-to-end worker throughput, memory and start-up, beside the raw consume rate.

Run with ``make bench``. Starts the embedded broker and Redis, then for each way of
running the worker publishes N seed-based articles (each a distinct copy with its own id
and time) to fresh topics with the default four partitions, and measures articles/s from
the first publish until every mention is counted in Redis:

* one ``raqib worker`` process (every stage);
* two ``raqib worker`` processes in one consumer group, every stage each (the group
  settled on both before the first publish);
* a tag process beside a count process (``raqib worker --stages tag|count``);
* one process with a synthetic 10,000-entity watchlist (the default one plus made-up
  Arabic names of people and organisations, each with a short alias).

Baseline in the same run: kafka-python reading the same N articles off the topic (the
ceiling for any consumer of it on this machine). Beside each: the start-up (the processes
started one after the other, each until its ``/readyz`` answers, and the group settled),
the resident memory once ready and its peak during the run (``VmHWM``, the largest
process), and the steady rate: articles/s while the count went from 10 % to 90 % of the
mentions — "end to end" also holds the last articles' wait at the end of the stream, where
alignment holds them until the other ``articles`` partitions are declared idle
(``RAQIB_ALIGN_IDLE_S``, 5 s). ``BENCH_ARTICLES`` sets N (2,000); ``BENCH_PIPELINE_MODES``
picks modes by their keys (``one,two,pair,big``).
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from benchkit import ROOT, peak_rss_mb, rss_mb, start_workers, stop_workers, totals, wait_until
from kafka import KafkaConsumer, TopicPartition

from processors.normalize import normalize_ar
from processors.watchlist import load_watchlist, spellings_of
from producers.publisher import Publisher
from producers.seeds import load_seed_dir
from raqib.config import packaged_text
from raqib.embedded import embedded_stack, free_port
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


def run(tmp: Path, broker_bootstrap: str, redis_url: str, mode: Mode) -> dict[str, float]:
    """Publish COUNT articles to fresh topics and time the workers (one process per entry
    of ``mode.stages``) from the first publish until every mention published is counted."""
    seeds = load_seed_dir(ROOT / "seeds")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    base = Settings(
        kafka=broker_bootstrap,
        redis=redis_url,
        app_id=f"bench-{mode.key}",
        topic_prefix=f"bench-{mode.key}.",
        redis_prefix=f"bench-{mode.key}",
        partitions=PARTITIONS,
        alerts_file=tmp / f"{mode.key}.jsonl",
        watchlist=synthetic_watchlist(tmp / "watchlist-10k.yaml") if mode.synthetic else None,
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
        began = time.perf_counter()
        with Publisher(base) as publisher:
            for i in range(COUNT):
                article = dict(seeds[i % len(seeds)])
                article["id"] = f"bench-{i}"
                article["published_at"] = (start + timedelta(seconds=30 * i)).isoformat()
                publisher.article(article)
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
            return tagged >= COUNT and counted >= m.get("raqib_mentions_published_total", 1)

        wait_until(done, TIMEOUT_S, f"{mode.label}: every mention of {COUNT} articles counted")
        pipeline_s = time.perf_counter() - began
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


def main() -> int:
    wanted = os.environ.get("BENCH_PIPELINE_MODES", ",".join(m.key for m in MODES)).split(",")
    modes = [m for m in MODES if m.key in wanted]
    with tempfile.TemporaryDirectory() as tmp, embedded_stack(Path(tmp)) as (broker, redis):
        results = {m.label: run(Path(tmp), broker.bootstrap, redis.url, m) for m in modes}
        consume_s, size = raw_consume(broker.bootstrap, f"bench-{modes[0].key}.articles")
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
