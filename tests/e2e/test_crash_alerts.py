"""Ten kill -9s of the worker during a 1,500-article replay lose no alert and add none.

A crashed run of tests/data/streams/crash.yaml (steady news from six outlets, two surges)
against the real broker and Redis, beside what a clean run of the same stream ends with:
``raqib backtest``'s alert events and the hour counts of its (subject, article) pairs
(``expected_run``; a clean live run fires exactly what the backtest fires, which
tests/e2e/test_scale_out.py and tests/e2e/test_resilience.py check on their own). The
worker is killed with SIGKILL ten times while it works and restarted each time. Every
alert event of the clean run must reach ``alerts``, none may be extra once repeats of an
``(alert_id, status)`` are dropped (as the route agent does), and every Redis hour count
must be equal.
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
from tests.e2e.test_resilience import (
    AlertKey,
    against,
    alert_events,
    expected_run,
    held,
    hour_counts,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(600),
]

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
        align_idle_s=5.0,
    )


def _caught_up(
    settings: Settings, expected_alerts: list[AlertKey], expected_hours: dict[str, int]
) -> tuple[dict[str, int], list[AlertKey]]:
    """Wait until every expected mention is counted, the aligner holds nothing back and
    ``alerts`` has as many distinct events as expected, or has not changed for ten seconds
    since (or five minutes pass); then one second more, so that anything extra lands too.
    The hour counts and alert events then."""
    total = sum(expected_hours.values())
    deadline = time.monotonic() + 300
    last: list[AlertKey] | None = None
    unchanged_since = time.monotonic()
    while time.monotonic() < deadline:
        counts = hour_counts(settings.redis, settings.redis_prefix)
        if sum(counts.values()) >= total and held(settings.web_port) == 0:
            events = alert_events(settings)
            if len(set(events)) >= len(set(expected_alerts)):
                break
            if events != last:
                last, unchanged_since = events, time.monotonic()
            elif time.monotonic() - unchanged_since > 10:
                break  # all counted, nothing held, nothing new: what is missing stays so
        time.sleep(0.5)
    time.sleep(1)  # anything extra would have landed by now
    return hour_counts(settings.redis, settings.redis_prefix), alert_events(settings)


def test_kill_9_ten_times_loses_no_alert_and_adds_none(
    kafka_broker: Any, redis_server: Any, tmp_path: Path, report: Any
) -> None:
    articles = expand(STREAM)
    expected_alerts, expected_hours = expected_run(articles)  # the clean run: the backtest
    crash = _settings(kafka_broker, redis_server, tmp_path, "crash")
    ensure_topics(crash)
    with Publisher(crash) as publisher:
        for article in articles:
            publisher.article(article)

    started = time.monotonic()
    rng = random.Random(13)
    kills = 0
    worker = WorkerProcess(crash, tmp_path / "crash-process-0").start()
    try:
        while kills < KILLS:
            time.sleep(rng.uniform(0.5, 2.5))
            assert worker.process is not None
            worker.process.kill()  # SIGKILL: no flush, no commit, no goodbye
            worker.process.wait()
            kills += 1
            worker = WorkerProcess(crash, tmp_path / f"crash-process-{kills}").start()
        restarted_s = time.monotonic() - started
        crash_counts, crash_events = _caught_up(crash, expected_alerts, expected_hours)
    finally:
        worker.stop()
    crash_s = time.monotonic() - started

    deduped, missing, extra = against(expected_alerts, crash_events)
    report(
        f"kill -9 x{kills} during {len(articles)} articles: clean run (backtest) "
        f"{len(expected_alerts)} alert events, crashed {len(crash_events)} "
        f"({len(crash_events) - len(deduped)} repeats dropped), missing {len(missing)}, "
        f"extra {len(extra)}; hour counts "
        f"{sum(v == expected_hours.get(k) for k, v in crash_counts.items())} of "
        f"{len(expected_hours)} equal (crashed run {crash_s:.0f} s, the last restart at "
        f"{restarted_s:.0f} s)"
    )
    assert len(expected_alerts) > 20, "the stream must fire alerts"
    assert len(set(expected_alerts)) == len(expected_alerts), "a clean run repeats nothing"
    assert crash_counts == expected_hours
    assert (missing, extra) == ([], []), "(missing, extra) vs the backtest"
