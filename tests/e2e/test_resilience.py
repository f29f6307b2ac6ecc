"""Outages: the worker outlives a stopped Redis and loses nothing, waits and retries.

* Redis restarted empty: the counts of what arrived meanwhile are still made.
* Redis stopped for 30 s mid-stream and started again with its data: no crash, no spin,
  one log line when the outage begins and one when it ends, ``/readyz`` not ready
  meanwhile, and the final hour counts and alert events those of a clean run (the
  backtest of the stream, which equals a clean live run; tests/e2e/test_scale_out.py).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis

from alerts import load_rules
from processors.backtest import backtest
from processors.health import EXIT_AGENT_DIED
from processors.pipeline import Pipeline
from processors.topics import load_topics
from processors.watchlist import load_watchlist
from producers.publisher import Publisher
from producers.scenario import expand
from raqib.counting import hour_of
from raqib.embedded import EmbeddedBroker, EmbeddedRedis, WorkerProcess, free_port
from raqib.messages import Alert, parse_article
from raqib.settings import Settings
from raqib.topics import ensure_topics, partitions_of

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

BURST = Path(__file__).resolve().parents[1] / "data" / "streams" / "burst.yaml"
AlertKey = tuple[str, str, str, str, str]


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

        def done(articles: int) -> Any:  # every article tagged, all its mentions counted
            return lambda m: (
                m.get("raqib_articles_processed_total") == articles
                and counted(m) == m["raqib_mentions_published_total"]
            )

        before = wait_for(port, done(3))
        redis.stop()
        with Publisher(settings) as publisher:
            for i in range(3, 6):
                publisher.article(article(i))
        during = wait_for(port, lambda m: m.get("raqib_processing_errors_total|redis", 0) >= 2)
        assert counted(during) == counted(before)  # nothing counted, nothing dropped
        restarted = EmbeddedRedis(tmp_path / "redis-2")
        restarted.port = redis.port
        restarted.start()
        after = wait_for(port, done(6))
        assert (
            after["raqib_mentions_published_total"] == 2 * before["raqib_mentions_published_total"]
        )
        client = Redis.from_url(restarted.url)
        seen = {k.decode() for k in client.scan_iter("o:{entity:aleppo}:seen:*", count=10_000)}
        client.close()
        assert seen == {f"o:{{entity:aleppo}}:seen:outage-{i}" for i in range(3, 6)}
        assert worker.process is not None and worker.process.poll() is None
    finally:
        worker.stop()
        redis.stop()
        if restarted is not None:
            restarted.stop()


def expected_run(
    articles: list[dict[str, Any]],
) -> tuple[list[AlertKey], dict[str, int]]:
    """What a clean run of ``articles`` ends with: the backtest's alert events and the
    hour counts (``:{subject}:h:<hour>`` -> count) of its distinct (subject, article).
    Worked out once per stream in a session (several tests replay the same one)."""
    lines = tuple(json.dumps(a, ensure_ascii=False, default=str).encode() for a in articles)
    alerts, hours = _expected_run(lines)
    return list(alerts), dict(hours)


@functools.cache
def _expected_run(
    lines: tuple[bytes, ...],
) -> tuple[tuple[AlertKey, ...], tuple[tuple[str, int], ...]]:
    watchlist = load_watchlist()
    pipeline = Pipeline(watchlist, load_topics(None, watchlist))
    fired = asyncio.run(backtest(list(lines), pipeline, load_rules()))
    alerts = [alert_key(json.loads(a.model_dump_json())) for a in fired if isinstance(a, Alert)]
    pairs: set[tuple[str, str, int]] = set()
    for line in lines:
        _, mentions = pipeline.process(parse_article(line, fallback_time=None))
        pairs.update((m.subject, m.article_id, hour_of(m.event_time)) for m in mentions)
    hours = Counter(f":{{{subject}}}:h:{hour}" for subject, _, hour in pairs)
    return tuple(alerts), tuple(hours.items())


def alert_key(alert: dict[str, Any]) -> AlertKey:
    return (
        alert["alert_id"],
        alert["status"],
        alert["rule"],
        alert["subject"],
        alert["event_time"][:19],
    )


def against(
    expected: list[AlertKey], events: list[AlertKey]
) -> tuple[list[AlertKey], list[AlertKey], list[AlertKey]]:
    """``events`` with repeats of an ``(alert_id, status)`` dropped (as routing does), and
    what the expected run has that they lack, and what they have that it lacks."""
    deduped = list(dict.fromkeys(events))
    return deduped, sorted(set(expected) - set(deduped)), sorted(set(deduped) - set(expected))


def alert_events(settings: Settings) -> list[AlertKey]:
    """Every event on ``alerts``, in each partition's order."""
    topic = settings.topic_names.alerts
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_servers)
    parts = [TopicPartition(topic, p) for p in range(partitions_of(settings, topic))]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    ends = consumer.end_offsets(parts)
    events: list[AlertKey] = []
    try:
        while any(consumer.position(p) < ends[p] for p in parts):
            for batch in consumer.poll(timeout_ms=500).values():
                events.extend(alert_key(json.loads(r.value)) for r in batch)
    finally:
        consumer.close()
    return events


def hour_counts(redis_url: str, prefix: str) -> dict[str, int]:
    """Redis hour counts of one run, keyed without its prefix."""
    client = Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:{{*}}:h:*", count=10_000))
        values = client.mget(keys) if keys else []
        return {k.decode()[len(prefix) :]: int(v) for k, v in zip(keys, values, strict=True) if v}
    finally:
        client.close()


def held(*ports: int) -> float:
    """Mention batches the workers' aligners still hold (waiting for other partitions)."""
    return sum(
        v
        for port in ports
        for k, v in scrape(port).items()
        if k.startswith("raqib_aligned_held_batches")
    )


def readyz(port: int) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


OUTAGE_S = 30.0


def test_redis_stopped_30s_mid_stream_loses_no_count_and_no_alert(
    kafka_broker: Any, tmp_path: Path, report: Any
) -> None:
    articles = expand(BURST)
    expected_alerts, expected_hours = expected_run(articles)
    tag = uuid.uuid4().hex[:8]
    redis = EmbeddedRedis(tmp_path / "redis", persist=True)
    redis.start()
    settings = Settings(
        kafka=kafka_broker.bootstrap,
        redis=redis.url,
        app_id=f"raqib-down-{tag}",
        topic_prefix=f"down-{tag}.",
        redis_prefix=f"down-{tag}",
        partitions=2,
        web_port=free_port(),
        alerts_file=tmp_path / "alerts.jsonl",
        align_idle_s=5.0,
        data_dir=tmp_path / "worker",
    )
    ensure_topics(settings)
    worker = WorkerProcess(settings, tmp_path / "worker-process").start()
    port, total = settings.web_port, sum(expected_hours.values())
    try:
        with Publisher(settings) as publisher:
            for article in articles:
                publisher.article(article)
        started = time.monotonic()
        while sum(hour_counts(redis.url, settings.redis_prefix).values()) == 0:
            assert time.monotonic() - started < 60, "nothing counted"
            time.sleep(0.05)
        redis.stop()  # mid-stream: a batch may be half counted, half judged
        down_at = time.monotonic()
        assert worker.pid is not None
        cpu_before = cpu_seconds(worker.pid)
        time.sleep(OUTAGE_S / 2)
        status, state = readyz(port)
        assert (status, state["redis"], state["alive"]) == (503, False, True)
        time.sleep(OUTAGE_S / 2)
        cpu = (cpu_seconds(worker.pid) - cpu_before) / (time.monotonic() - down_at)
        assert worker.process is not None and worker.process.poll() is None
        redis.start()  # same port, same data directory: its data comes back
        up_at = time.monotonic()
        counts: dict[str, int] = {}
        events: list[AlertKey] = []
        while time.monotonic() - up_at < 60:
            counts = hour_counts(redis.url, settings.redis_prefix)
            if sum(counts.values()) >= total and held(port) == 0:
                events = alert_events(settings)
                if len(set(events)) >= len(set(expected_alerts)):
                    break
            time.sleep(0.5)
        caught_up = time.monotonic() - up_at
        time.sleep(1)  # anything extra would have landed by now
        events = alert_events(settings)
        status, state = readyz(port)
        log = worker.log_tail(10**7)
    finally:
        worker.stop()
        redis.stop()

    down = [line for line in log.splitlines() if "redis unavailable" in line]
    back = [line for line in log.splitlines() if "redis is back" in line]
    deduped, missing, extra = against(expected_alerts, events)
    report(
        f"redis down {OUTAGE_S:.0f} s mid-stream ({len(articles)} articles): worker CPU "
        f"{cpu:.0%} of a core meanwhile, caught up {caught_up:.0f} s after; "
        f"{len(events)} alert events ({len(events) - len(deduped)} repeats), "
        f"{len(expected_alerts)} expected, missing {len(missing)}, extra {len(extra)}; "
        f"hour counts {sum(v == expected_hours.get(k) for k, v in counts.items())} of "
        f"{len(expected_hours)} equal; log: {len(down)} line down, {len(back)} line back"
    )
    assert len(expected_alerts) > 20, "the stream must fire alerts"
    assert counts == expected_hours
    assert (missing, extra) == ([], []), "(missing, extra) vs the backtest"
    assert len(down) == 1 and len(back) == 1, down + back
    assert (status, state["redis"]) == (200, True)
    assert cpu < 0.2, "the worker spins while Redis is down"
    noticed = float(back[0].rsplit("after ", 1)[1].rstrip("s \n"))
    assert noticed < OUTAGE_S + 10, "Redis was back long before the worker noticed"


def counted_all(metrics: dict[str, float]) -> bool:
    """Every mention the worker published is counted (both figures from its /metrics)."""
    published = metrics.get("raqib_mentions_published_total", 0)
    return published > 0 and metrics.get("raqib_mentions_counted_total|new", 0) == published


def test_broker_stopped_15s_then_restarted_empty(
    redis_server: Any, tmp_path: Path, report: Any
) -> None:
    """Tansu keeps its topics in memory: restarted, it has none. The worker says once that
    the broker is gone (``/readyz`` not ready meanwhile) and waits without spinning; when
    the broker is back without its topics the worker stops with a non-zero status naming
    them, and a restarted worker (what an orchestrator does) recreates them and counts.
    ``raqib replay`` against a broker that is not there fails with one line naming it."""
    broker = EmbeddedBroker(tmp_path / "broker")
    broker.start()
    tag = uuid.uuid4().hex[:8]
    settings = Settings(
        kafka=broker.bootstrap,
        redis=redis_server.url,
        app_id=f"raqib-bk-{tag}",
        topic_prefix=f"bk-{tag}.",
        redis_prefix=f"bk-{tag}",
        partitions=2,
        web_port=free_port(),
        alerts_file=tmp_path / "alerts.jsonl",
        data_dir=tmp_path / "worker",
    )
    nowhere = settings.model_copy(update={"kafka": f"127.0.0.1:{free_port()}"})
    replay = subprocess.Popen(  # noqa: S603 - our own command line
        [sys.executable, "-m", "raqib", "replay", str(BURST)],
        env={**os.environ, **nowhere.to_env()},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ensure_topics(settings)
    port = settings.web_port
    worker = WorkerProcess(settings, tmp_path / "worker-process").start()
    try:
        with Publisher(settings) as publisher:
            for i in range(3):
                publisher.article(article(i))
        wait_for(port, counted_all)
        broker.stop()
        down_at = time.monotonic()
        assert worker.pid is not None
        cpu_before = cpu_seconds(worker.pid)
        while readyz(port)[1]["broker"]:
            assert time.monotonic() - down_at < 15, "the worker did not notice"
            time.sleep(0.5)
        noticed = time.monotonic() - down_at
        time.sleep(max(0.0, 15 - noticed))
        status, state = readyz(port)
        cpu = (cpu_seconds(worker.pid) - cpu_before) / (time.monotonic() - down_at)
        lines_down = len(worker.log_tail(10**7).splitlines())
        assert worker.process is not None and worker.process.poll() is None
        broker.start()  # same port, memory storage: no topics, no offsets
        back_at = time.monotonic()
        code = worker.process.wait(timeout=30)
        stopped = time.monotonic() - back_at
        log = worker.log_tail(10**7)
        lines_down = len(log[: log.find("is back after")].splitlines()) - lines_down
        # what an orchestrator does: start it again; it recreates its topics and counts
        worker = WorkerProcess(settings, tmp_path / "worker-process-2").start()
        with Publisher(settings) as publisher:
            for i in range(3, 6):
                publisher.article(article(i))
        wait_for(port, counted_all)
        out, err = replay.communicate(timeout=60)
    finally:
        replay.kill()
        worker.stop()
        broker.stop()

    down = [line for line in log.splitlines() if "unreachable" in line]
    lost = [line for line in log.splitlines() if "no longer has topics" in line]
    report(
        f"broker down 15 s: noticed in {noticed:.1f} s, worker CPU {cpu:.0%} of a core, "
        f"{lines_down} log lines while down; restarted empty: worker stopped with status "
        f"{code} {stopped:.1f} s later, a new worker recreated the topics and counted; "
        f"replay to no broker: status {replay.returncode}, {err.strip()[:120]!r}"
    )
    assert (status, state["broker"], state["alive"]) == (503, False, True)
    assert len(down) == 1 and broker.bootstrap in down[0], down
    assert len(lost) == 1 and settings.topic_names.articles in lost[0], lost
    assert code == EXIT_AGENT_DIED
    assert cpu < 0.2, "the worker spins while the broker is down"
    assert replay.returncode == 1 and nowhere.kafka in err and "Traceback" not in err, err
