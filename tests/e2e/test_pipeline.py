"""The walking skeleton end to end: seeds -> broker -> worker -> Redis -> alerts -> file.

One worker process (``python -m raqib worker``, as an operator runs it) against the real
embedded broker and Redis; the seeds, one malformed message and the drill scenario are
replayed once for the module, and each test checks one promise of the pipeline.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis

from producers.publisher import Publisher
from producers.replay import replay
from raqib.embedded import WorkerProcess, free_port
from raqib.settings import Settings
from raqib.topics import ensure_topics

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "seeds"
DRILL = SEEDS / "scenarios" / "drill.yaml"
MALFORMED = b'{"source": "bad", "title": "\xd8\xa5\xd9\x8a\xd8\xb1\xd8\xa7\xd9\x86", "body": '
SEED_IDS = sorted(f"seed-{p.stem}" for p in SEEDS.glob("*.txt"))


@dataclass
class Run:
    settings: Settings
    tagged: list[dict[str, Any]] = field(default_factory=list)
    dead: list[Any] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    lag: dict[str, float] = field(default_factory=dict)
    """``raqib_consumer_lag_messages`` by topic, once the worker first reported it."""
    log: str = ""

    def seed(self, seed_id: str) -> dict[str, Any]:
        return next(a for a in self.tagged if a["id"] == seed_id)


def _scrape(port: int) -> dict[str, float]:
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=2) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            values[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return values


def _consume(settings: Settings, run: Run, expected_articles: int, deadline: float) -> None:
    topics = settings.topic_names
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_servers)
    parts = [
        TopicPartition(t, p)
        for t in (topics.tagged, topics.dlq, topics.alerts)
        for p in range(settings.partitions)
    ]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    metrics: dict[str, float] = {}
    try:
        while time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                for r in batch:
                    if r.topic == topics.tagged:
                        run.tagged.append(json.loads(r.value))
                    elif r.topic == topics.dlq:
                        run.dead.append(r)
                    else:
                        run.alerts.append(json.loads(r.value))
            if len(run.tagged) + len(run.dead) < expected_articles:
                continue
            metrics = _scrape(settings.web_port)
            published = metrics.get("raqib_mentions_published_total", 0)
            counted = sum(
                v for k, v in metrics.items() if k.startswith("raqib_mentions_counted_total")
            )
            fired = sum(v for k, v in metrics.items() if k.startswith("raqib_alerts_fired_total"))
            routed = metrics.get("raqib_alert_events_delivered_total{channel=jsonl}", 0)
            if counted >= published > 0 and len(run.alerts) >= fired and routed >= fired:
                run.metrics = metrics
                return
        raise AssertionError(f"pipeline did not finish in time; last metrics: {metrics}")
    finally:
        consumer.close()


def _lag(port: int, deadline: float) -> dict[str, float]:
    """The worker's consumer lag by topic, once its timer (every 5 s) has reported it."""
    while True:
        found = {
            key.partition("topic=")[2].split(",")[0].rstrip("}"): value
            for key, value in _scrape(port).items()
            if key.startswith("raqib_consumer_lag_messages{")
        }
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


@pytest.fixture(scope="module")
def run(
    kafka_broker: Any, redis_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    tag = uuid.uuid4().hex[:8]
    tmp = tmp_path_factory.mktemp("e2e")
    settings = Settings(
        kafka=kafka_broker.bootstrap,
        redis=redis_server.url,
        app_id=f"raqib-e2e-{tag}",
        topic_prefix=f"e2e-{tag}.",
        redis_prefix=f"e2e-{tag}",
        partitions=1,  # deterministic: see the note on out-of-order partitions in README
        web_port=free_port(),
        alerts_file=tmp / "alerts.jsonl",
        data_dir=tmp / "worker",
    )
    ensure_topics(settings)
    worker = WorkerProcess(settings, tmp / "worker-process").start()
    result = Run(settings)
    try:
        with Publisher(settings) as publisher:
            sent = replay([SEEDS], publisher)
            publisher.raw(MALFORMED, key=b"broken")
            sent += 1 + replay([DRILL], publisher)
        _consume(settings, result, sent, time.monotonic() + 150)
        result.lag = _lag(settings.web_port, time.monotonic() + 30)
    finally:
        worker.stop()
    result.log = worker.log_tail(10**7)
    yield result


def entity_ids(article: dict[str, Any]) -> set[str]:
    return {e["id"] for e in article["entities"]}


def test_every_article_is_tagged_once(run: Run) -> None:
    ids = [a["id"] for a in run.tagged]
    assert len(ids) == len(set(ids)) == 5 + 68
    assert set(SEED_IDS) <= set(ids)


def test_iran_is_in_all_five_seeds_and_aleppo_in_those_that_name_it(run: Run) -> None:
    assert all("iran" in entity_ids(run.seed(s)) for s in SEED_IDS)
    with_aleppo = {s[5:8] for s in SEED_IDS if "aleppo" in entity_ids(run.seed(s))}
    assert with_aleppo == {"000", "001", "002"}


def test_redis_holds_one_count_per_subject_and_article(run: Run, redis_server: Any) -> None:
    client = Redis.from_url(redis_server.url)
    prefix = run.settings.redis_prefix
    try:
        for subject, seeds in (("entity:iran", SEED_IDS), ("entity:aleppo", SEED_IDS[:3])):
            seen = {
                k.decode().rsplit(":", 1)[1]
                for k in client.scan_iter(f"{prefix}:{{{subject}}}:seen:seed-*", count=10_000)
            }
            assert seen == set(seeds), subject
        hours = [
            int(client.get(k))
            for k in client.scan_iter(f"{prefix}:{{entity:iran}}:h:*", count=10_000)
        ]
        assert sum(hours) == 5 + sum(
            "iran" in entity_ids(a) for a in run.tagged if a["id"].startswith("drill")
        )
    finally:
        client.close()


def test_offsets_slice_the_original_text(run: Run) -> None:
    for article in run.tagged:
        for e in article["entities"]:
            text = article[e["field"]]
            assert text[e["start"] : e["end"]] == e["surface"]


def test_boilerplate_contributes_no_mentions(run: Run) -> None:
    article = run.seed(SEED_IDS[3])  # 003: the Erdogan teaser under "انظر ايضاً"
    assert "recep-tayyip-erdogan" not in entity_ids(article)
    body = article["body"]
    teaser = body.index("انظر ايضاً")
    assert all(e["start"] < teaser for e in article["entities"] if e["field"] == "body")


def test_malformed_message_is_dead_lettered_with_its_reason(run: Run) -> None:
    assert len(run.dead) == 1
    record = run.dead[0]
    assert record.value == MALFORMED and record.key == b"broken"
    headers = dict(record.headers)
    assert headers["raqib-reason"].decode().startswith("not JSON")
    assert headers["raqib-topic"].decode() == run.settings.topic_names.articles
    assert run.metrics["raqib_dead_lettered_total{reason=not_json}"] == 1


def test_drill_surge_fires_a_spike_for_hatami(run: Run) -> None:
    firing = [a for a in run.alerts if a["status"] == "firing"]
    hatami = [a for a in firing if a["subject"] == "entity:amir-hatami"]
    # never named in the quiet day: a spike, and a first mention after the warm-up
    assert sorted(a["rule"] for a in hatami) == ["entity-new", "entity-spike"]
    (alert,) = [a for a in hatami if a["rule"] == "entity-spike"]
    assert alert["kind"] == "spike" and alert["rule"] == "entity-spike"
    assert alert["observed"] >= 5 and alert["ratio"] >= 4 and alert["p_value"] <= 0.001
    assert all(a["id"].startswith("drill-surge-") for a in alert["articles"])
    assert "حاتمي" in alert["summary"] and "Hatami" in alert["summary"]
    # nothing in the quiet day fires: no spike, and no "new" (the stream resumed after a
    # gap of years at its start, so the warm-up starts again there)
    assert all(a["event_time"] >= "2024-12-09T23:40" for a in firing), firing


def test_alerts_reach_the_jsonl_file_as_few_story_notifications(run: Run) -> None:
    lines = run.settings.alerts_file.read_text(encoding="utf-8").splitlines()
    notifications = [json.loads(line) for line in lines]
    delivered = [(a["alert_id"], a["status"]) for n in notifications for a in n["alerts"]]
    assert sorted(delivered) == sorted((a["alert_id"], a["status"]) for a in run.alerts)
    per_story: dict[str, list[str]] = {}
    for n in notifications:
        per_story.setdefault(n["story_id"], []).append(n["kind"])
    drill = max(per_story.values(), key=len)
    assert len(drill) <= 3, per_story  # page, at most one update, resolution


def test_metrics_count_what_happened(run: Run) -> None:
    m = run.metrics
    assert m["raqib_articles_processed_total"] == 73
    assert m["raqib_entity_mentions_total{entity=iran}"] == sum(
        "iran" in entity_ids(a) for a in run.tagged
    )
    assert m["raqib_mentions_counted_total{result=new}"] == m["raqib_mentions_published_total"]
    assert m["raqib_article_processing_seconds_count"] == 73
    assert "Traceback" not in run.log


def test_consumer_lag_is_reported_for_the_stream_s_topics_only(run: Run) -> None:
    """What the worker reads from its topics, caught up; Faust's own group-leader topic
    (``__assignor-__leader``, never a message) is not an operator's concern."""
    topics = run.settings.topic_names
    assert topics.articles in run.lag, run.lag
    assert set(run.lag) <= {topics.articles, topics.mentions, topics.alerts}, run.lag


def test_latency_is_recorded_at_each_stage_an_article_passes(run: Run) -> None:
    """raqib_pipeline_latency_seconds splits publish -> counted into its hops: every
    article tagged; each batch of mentions read, aligned and counted, so that each hop
    is the one before plus what it took (an operator sees whether the broker, alignment
    or Redis is slow)."""
    m = run.metrics

    def seen(stage: str, part: str = "count") -> float:
        return m[f"raqib_pipeline_latency_seconds_{part}{{stage={stage}}}"]

    assert seen("tagged") == m["raqib_articles_processed_total"] == 73
    assert 0 < seen("read") == seen("aligned") == seen("counted")
    assert 0 < seen("read", "sum") <= seen("aligned", "sum") <= seen("counted", "sum")


def test_live_alerts_equal_the_backtest_of_the_same_stream(run: Run) -> None:
    from alerts import load_rules
    from processors.backtest import backtest
    from processors.pipeline import Pipeline
    from processors.topics import load_topics
    from processors.watchlist import load_watchlist
    from producers.replay import items

    lines = [value for _, value in items([SEEDS])] + [MALFORMED]
    lines += [value for _, value in items([DRILL])]
    watchlist = load_watchlist()
    pipeline = Pipeline(watchlist, load_topics(None, watchlist))
    offline = [
        a for a in asyncio.run(backtest(lines, pipeline, load_rules())) if hasattr(a, "rule")
    ]

    def key(a: dict[str, Any]) -> tuple[Any, ...]:
        return (a["alert_id"], a["rule"], a["subject"], a["status"], a["window"]["start"])

    expected = [key(json.loads(a.model_dump_json())) for a in offline]
    assert [key(a) for a in run.alerts] == expected
    assert len(expected) >= 2
