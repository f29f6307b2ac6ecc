"""The count stage alone: the rule engine over the count mirror and the embedded Redis.

Run with ``make bench``. The seeds' articles (2,000 copies, ``BENCH_ARTICLES``), tagged
first by the real pipeline, are counted and judged as one ``mentions`` partition's count
stage does — ``prepare`` (load the subjects, record the batch in Redis), ``evaluate``
(judge each article in order), ``flush`` (write the episode changes) — in batches of 200
articles. Prints articles/s, the time of each step, and the CPU time of this process and
of Redis per article (``INFO cpu``): what the count stage costs, without Kafka or Faust.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchkit import record
from redis.asyncio import Redis

from alerts import RedisEpisodes, RuleEngine, Step, load_rules
from processors.counts import MirroredCounts, RedisCounts, stamp_of
from processors.pipeline import Pipeline
from processors.topics import load_topics
from processors.watchlist import load_watchlist
from producers.seeds import load_seed_dir
from raqib import heap
from raqib.embedded import EmbeddedRedis
from raqib.messages import parse_article

ROOT = Path(__file__).resolve().parents[2]
COUNT = int(os.environ.get("BENCH_ARTICLES", "2000"))
BATCH = 200


def steps(pipeline: Pipeline) -> list[Step]:
    seeds = load_seed_dir(ROOT / "seeds")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    out: list[Step] = []
    for i in range(COUNT):
        article = dict(seeds[i % len(seeds)])
        article["id"] = f"count-{i}"
        article["published_at"] = (start + timedelta(seconds=30 * i)).isoformat()
        raw = json.dumps(article, default=str).encode()
        parsed = parse_article(raw, fallback_time=None)
        _, mentions = pipeline.process(parsed)
        for m in mentions:
            m.seq = stamp_of(0, i)
        out.append((parsed.event_time, mentions))
    return out


async def judge(url: str, pipeline: Pipeline, work: list[Step]) -> dict[str, float]:
    redis = Redis.from_url(url)
    try:
        engine = RuleEngine(
            load_rules(),
            MirroredCounts(RedisCounts(redis, prefix="bench")),
            RedisEpisodes(redis, prefix="bench", scope="bench:0"),
            pipeline.names,
            pipeline.types,
            pipeline.tags,
        )
        spent = {"prepare": 0.0, "evaluate": 0.0, "flush": 0.0}
        redis_before = await redis_cpu(redis)
        cpu_before, began = time.process_time(), time.perf_counter()
        for k in range(0, len(work), BATCH):
            batch = work[k : k + BATCH]
            t0 = time.perf_counter()
            await engine.prepare(batch)
            t1 = time.perf_counter()
            await engine.evaluate(batch)
            t2 = time.perf_counter()
            await engine.flush()
            t3 = time.perf_counter()
            spent["prepare"] += t1 - t0
            spent["evaluate"] += t2 - t1
            spent["flush"] += t3 - t2
        return {
            **spent,
            "seconds": time.perf_counter() - began,
            "cpu": time.process_time() - cpu_before,
            "redis_cpu": await redis_cpu(redis) - redis_before,
        }
    finally:
        await redis.aclose()


async def redis_cpu(redis: Redis) -> float:
    info = await redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def main() -> int:
    watchlist = load_watchlist()
    pipeline = Pipeline(watchlist, load_topics(None, watchlist))
    work = steps(pipeline)
    mentions = sum(len(m) for _, m in work)
    heap.settle()  # the collector as a worker runs it once started
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(Path(tmp))
        server.start()
        try:
            r = asyncio.run(judge(server.url, pipeline, work))
        finally:
            server.stop()
    per = 1e6 / COUNT
    print(
        f"count stage alone, {COUNT} articles ({mentions:,} mentions), batches of {BATCH}: "
        f"{COUNT / r['seconds']:.0f} articles/s; prepare {r['prepare']:.2f} s, evaluate "
        f"{r['evaluate']:.2f} s, flush {r['flush']:.2f} s; CPU per article: this process "
        f"{r['cpu'] * per:.0f} µs, Redis {r['redis_cpu'] * per:.0f} µs"
    )
    record("count_stage", per_s=COUNT / r["seconds"], cpu_us=r["cpu"] * per)
    return 0


if __name__ == "__main__":
    sys.exit(main())
