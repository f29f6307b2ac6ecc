"""``raqib backfill`` against a real Redis: counts as the worker would, once however often
it runs, and leaves each partition warm for the worker's engine."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from redis import Redis as SyncRedis
from redis.asyncio import Redis

import processors.backfill as backfill_module
from alerts import load_rules
from alerts.engine import RuleEngine
from alerts.episodes import RedisEpisodes, partition_scope
from processors.counts import MirroredCounts, RedisCounts
from processors.mentions import partition_of
from processors.pipeline import Pipeline
from processors.topics import load_topics
from processors.watchlist import load_watchlist
from producers.scenario import expand
from raqib.cli import main
from raqib.messages import Alert, parse_article

pytestmark = pytest.mark.integration

DRILL = Path(__file__).resolve().parents[2] / "seeds" / "scenarios" / "drill.yaml"
PARTITIONS = 2
HATAMI = "entity:amir-hatami"


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    watchlist = load_watchlist()
    return Pipeline(watchlist, load_topics(None, watchlist))


@pytest.fixture(scope="module")
def drill() -> list[dict[str, Any]]:
    return expand(DRILL)


@pytest.fixture
def quiet_day(tmp_path: Path, drill: list[dict[str, Any]]) -> Path:
    """The drill's quiet day as a JSON-lines file: the history to backfill."""
    path = tmp_path / "history.jsonl"
    lines = [json.dumps(a, ensure_ascii=False) for a in drill if "-quiet-day-" in a["id"]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def redis_env(redis_server: Any, unique: str) -> Iterator[dict[str, str]]:
    """The settings a `raqib backfill` and a worker of this test share; keys removed after."""
    yield {
        "RAQIB_REDIS": redis_server.url,
        "RAQIB_REDIS_PREFIX": unique,
        "RAQIB_APP_ID": unique,
        "RAQIB_PARTITIONS": str(PARTITIONS),
    }
    sync = SyncRedis.from_url(redis_server.url)
    keys = list(sync.scan_iter(f"{unique}:*", count=10_000))
    if keys:
        sync.delete(*keys)
    sync.close()


def hour_counts(url: str, prefix: str) -> dict[str, int]:
    sync = SyncRedis.from_url(url, decode_responses=True)
    try:
        return {
            key: int(sync.get(key) or 0) for key in sync.scan_iter(f"{prefix}:*:h:*", count=10_000)
        }
    finally:
        sync.close()


def test_a_backfill_twice_counts_once(
    quiet_day: Path, redis_env: dict[str, str], unique: str
) -> None:
    runner = CliRunner()
    first = runner.invoke(main, ["backfill", str(quiet_day)], env=redis_env)
    assert first.exit_code == 0, first.output
    counts = hour_counts(redis_env["RAQIB_REDIS"], unique)
    second = runner.invoke(main, ["backfill", str(quiet_day)], env=redis_env)
    assert second.exit_code == 0, second.output
    assert hour_counts(redis_env["RAQIB_REDIS"], unique) == counts
    counted = sum(counts.values())
    assert counted > 48  # every article names several subjects
    assert first.output.startswith(f"backfill: 48 articles, {counted:,} mentions counted, 0 ")
    assert f"0 mentions counted, {counted:,} duplicates, {PARTITIONS} partitions" in second.output
    assert "2024-12-09T00:00Z .. 2024-12-09T23:30Z" in second.output


def mentions_of(
    drill: list[dict[str, Any]], pipeline: Pipeline, phase: str, partition: int
) -> list[Any]:
    """One phase of the drill as the worker's count stage gets it: one partition's
    mentions, in order."""
    mentions = []
    for article in drill:
        if f"-{phase}-" in article["id"]:
            raw = json.dumps(article, ensure_ascii=False).encode()
            _, found = pipeline.process(parse_article(raw, fallback_time=None))
            mentions.extend(m for m in found if partition_of(m.subject, PARTITIONS) == partition)
    return mentions


def test_the_worker_engine_sees_a_backfilled_partition_warm(
    quiet_day: Path,
    redis_env: dict[str, str],
    drill: list[dict[str, Any]],
    pipeline: Pipeline,
    unique: str,
) -> None:
    """After a backfill of the quiet day, the surge ten minutes into the live stream fires
    at once (with the worker's Redis-backed engine); another app, whose partitions were
    never backfilled, reads the same counts and is still warming up."""
    result = CliRunner().invoke(main, ["backfill", str(quiet_day)], env=redis_env)
    assert result.exit_code == 0, result.output
    partition = partition_of(HATAMI, PARTITIONS)
    live = mentions_of(drill, pipeline, "surge", partition)
    history = mentions_of(drill, pipeline, "quiet-day", partition)

    async def run(app_id: str) -> tuple[datetime | None, list[Alert]]:
        redis = Redis.from_url(redis_env["RAQIB_REDIS"])
        try:
            engine = RuleEngine(
                load_rules(),
                MirroredCounts(RedisCounts(redis, prefix=unique)),
                RedisEpisodes(redis, prefix=unique, scope=partition_scope(app_id, partition)),
                pipeline.names,
                pipeline.types,
                pipeline.tags,
            )
            alerts = await engine.on_batch(live)
            return engine.started, alerts
        finally:
            await redis.aclose()

    started, alerts = asyncio.run(run(unique))
    assert started == min(m.event_time for m in history)  # a day before the surge
    fired = {(a.rule, a.subject) for a in alerts if a.status == "firing"}
    assert ("entity-spike", HATAMI) in fired

    other_started, other = asyncio.run(run(f"{unique}-other"))
    assert other_started == live[0].event_time and other == []


def stored(url: str, prefix: str) -> dict[str, object]:
    """Every key of ``prefix`` (named without it) with what it holds."""
    sync = SyncRedis.from_url(url, decode_responses=True)
    try:
        out: dict[str, object] = {}
        for key in sync.scan_iter(f"{prefix}:*", count=10_000):
            kind = sync.type(key)
            value = sync.hgetall(key) if kind == "hash" else sync.get(key)
            out[key.removeprefix(prefix)] = value
        return out
    finally:
        sync.close()


def test_processes_count_what_one_process_counts(
    quiet_day: Path,
    redis_env: dict[str, str],
    unique: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Forked processes taking chunks of 7 lines store exactly the keys and values one
    process stores, number a bad line as one process does, and warm the same partitions."""
    lines = quiet_day.read_text(encoding="utf-8").splitlines()
    lines.insert(20, '{"id": "broken", "body": ')
    quiet_day.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setattr(backfill_module, "CHUNK_LINES", 7)
    runner = CliRunner()
    one_env = {**redis_env, "RAQIB_REDIS_PREFIX": f"{unique}-one", "RAQIB_APP_ID": f"{unique}-one"}
    one = runner.invoke(main, ["backfill", str(quiet_day), "--processes", "1"], env=one_env)
    many = runner.invoke(main, ["backfill", str(quiet_day), "--processes", "3"], env=redis_env)
    assert one.exit_code == 0 and many.exit_code == 0, (one.output, many.output)
    assert "message 21: skipped" in many.output
    assert one.output.replace(unique + "-one", unique) == many.output
    url = redis_env["RAQIB_REDIS"]
    try:
        alone = stored(url, f"{unique}-one")
        together = stored(url, unique)
        assert len(together) > 100
        assert together == {k.replace(f"{unique}-one", unique): v for k, v in alone.items()}
    finally:
        sync = SyncRedis.from_url(url)
        keys = list(sync.scan_iter(f"{unique}-one:*", count=10_000))
        if keys:
            sync.delete(*keys)
        sync.close()
