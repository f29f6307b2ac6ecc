"""A tag process beside a count process (``raqib worker --stages tag`` and ``--stages
count``), each on its own core, fire and count exactly what one process does: what
``raqib backtest`` fires on the same stream."""

from __future__ import annotations

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
from tests.e2e.test_resilience import BURST, alert_events, expected_run, held, hour_counts

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def test_a_tag_process_and_a_count_process_fire_what_backtest_fires(
    kafka_broker: Any, redis_server: Any, tmp_path: Path, report: Any
) -> None:
    articles = expand(BURST)
    expected_alerts, expected_hours = expected_run(articles)
    tag = uuid.uuid4().hex[:8]
    settings = Settings(
        kafka=kafka_broker.bootstrap,
        redis=redis_server.url,
        app_id=f"raqib-stages-{tag}",
        topic_prefix=f"stages-{tag}.",
        redis_prefix=f"stages-{tag}",
        partitions=2,
        alerts_file=tmp_path / "alerts.jsonl",
        align_idle_s=5.0,
    )
    ensure_topics(settings)
    tagging = settings.model_copy(update={"stages": "tag", "web_port": free_port()})
    counting = settings.model_copy(update={"stages": "count", "web_port": free_port()})
    workers = [
        WorkerProcess(tagging, tmp_path / "tag").start(),
        WorkerProcess(counting, tmp_path / "count").start(),
    ]
    try:
        started = time.monotonic()
        with Publisher(settings) as publisher:
            for article in articles:
                publisher.article(article)
        total = sum(expected_hours.values())
        counts: dict[str, int] = {}
        events: list[tuple[str, ...]] = []
        while time.monotonic() - started < 150:
            counts = hour_counts(redis_server.url, settings.redis_prefix)
            if sum(counts.values()) >= total and held(counting.web_port) == 0:
                events = alert_events(settings)
                if len(set(events)) >= len(set(expected_alerts)):
                    break
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        time.sleep(1)  # anything extra would have landed by now
        events = alert_events(settings)
        logs = [w.log_tail(10**7) for w in workers]
    finally:
        for worker in workers:
            worker.stop()
    report(
        f"tag process + count process ({len(articles)} articles, 2 partitions): "
        f"{len(events)} alert events, {len(expected_alerts)} in backtest, hour counts "
        f"{sum(v == expected_hours.get(k) for k, v in counts.items())} of "
        f"{len(expected_hours)} equal, in {elapsed:.0f} s"
    )
    assert "Traceback" not in logs[0] + logs[1], logs[0][-3000:] + logs[1][-3000:]
    assert counts == expected_hours, logs[1][-3000:]
    assert sorted(set(events)) == sorted(set(expected_alerts)), logs[1][-3000:]
