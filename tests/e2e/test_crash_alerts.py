"""Ten kill -9s of the worker during a 1,500-article replay lose no alert and add none.

A clean run and a crashed run of the same stream (tests/data/streams/crash.yaml: steady
news from six outlets, two surges) against the real broker and Redis, each on its own
topics and keys: the crashed worker is killed with SIGKILL ten times while it works and
restarted each time. Every alert event of the clean run must reach ``alerts`` in the
crashed run, none may be extra once repeats of an ``(alert_id, status)`` are dropped (as
the route agent does), and every Redis hour count must be equal.
"""

from __future__ import annotations

import random
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from producers.publisher import Publisher
from producers.scenario import expand
from raqib.embedded import WorkerProcess, free_port
from raqib.settings import Settings
from raqib.topics import ensure_topics
from tests.e2e.test_resilience import alert_events, hour_counts

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

STREAM = Path(__file__).resolve().parents[1] / "data" / "streams" / "crash.yaml"
KILLS = 10


def _settings(broker: Any, redis: Any, tmp: Path, name: str) -> Settings:
    tag = f"{name}-{uuid.uuid4().hex[:6]}"
    return Settings(
        kafka=broker.bootstrap,
        redis=redis.url,
        app_id=f"raqib-{tag}",
        topic_prefix=f"{tag}.",
        redis_prefix=tag,
        partitions=2,
        web_port=free_port(),
        alerts_file=tmp / f"{name}.jsonl",
        data_dir=tmp / f"{name}-worker",
        batch_size=200,
        align_idle_s=15.0,  # restarts and a loaded machine must not make a partition look idle
    )


def _settled(
    settings: Settings, expected: dict[str, int] | None, timeout_s: float
) -> dict[str, int]:
    """Wait until the hour counts stop changing (and equal ``expected`` when given)."""
    deadline = time.monotonic() + timeout_s
    last: dict[str, int] = {}
    stable_since = time.monotonic()
    while time.monotonic() < deadline:
        counts = hour_counts(settings.redis, settings.redis_prefix)
        if counts != last:
            last, stable_since = counts, time.monotonic()
        elif time.monotonic() - stable_since > 8 and (expected is None or counts == expected):
            return counts
        time.sleep(1)
    return last


def test_kill_9_ten_times_loses_no_alert_and_adds_none(
    kafka_broker: Any, redis_server: Any, tmp_path: Path, report: Any
) -> None:
    articles = expand(STREAM)
    clean = _settings(kafka_broker, redis_server, tmp_path, "clean")
    crash = _settings(kafka_broker, redis_server, tmp_path, "crash")
    for settings in (clean, crash):
        ensure_topics(settings)
        with Publisher(settings) as publisher:
            for article in articles:
                publisher.article(article)

    started = time.monotonic()
    worker = WorkerProcess(clean, tmp_path / "clean-process").start()
    try:
        clean_counts = _settled(clean, None, 300)
    finally:
        worker.stop()
    clean_events = alert_events(clean)
    clean_s = time.monotonic() - started
    started = time.monotonic()

    rng = random.Random(13)
    kills = 0
    worker = WorkerProcess(crash, tmp_path / "crash-process").start()
    try:
        while kills < KILLS:
            time.sleep(rng.uniform(0.5, 2.5))
            assert worker.process is not None
            worker.process.kill()  # SIGKILL: no flush, no commit, no goodbye
            worker.process.wait()
            kills += 1
            worker = WorkerProcess(crash, tmp_path / "crash-process").start()
        crash_counts = _settled(crash, clean_counts, 300)
    finally:
        worker.stop()
    crash_events = alert_events(crash)
    crash_s = time.monotonic() - started

    deduped = list(dict.fromkeys(crash_events))
    missing = sorted(set(clean_events) - set(deduped))
    extra = sorted(set(deduped) - set(clean_events))
    report(
        f"kill -9 x{kills} during {len(articles)} articles: clean {len(clean_events)} alert "
        f"events, crashed {len(crash_events)} ({len(crash_events) - len(deduped)} repeats "
        f"dropped), missing {len(missing)}, extra {len(extra)}; hour counts "
        f"{sum(v == clean_counts.get(k) for k, v in crash_counts.items())} of "
        f"{len(clean_counts)} equal (clean run {clean_s:.0f} s, crashed run {crash_s:.0f} s)"
    )
    assert len(clean_events) > 20, "the stream must fire alerts"
    assert len(set(clean_events)) == len(clean_events), "a clean run repeats nothing"
    assert crash_counts == clean_counts
    assert missing == [] and extra == []
