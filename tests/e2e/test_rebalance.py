"""A rebalance mid-burst: two workers on four partitions, one stopped and started again
while a surge is being counted, so that partitions move twice with batches in flight.

A batch of a revoked partition must write nothing after its new owner has loaded the
partition's episodes (the count stage's generation check), and what the old owner held
unacknowledged is read again by the new one: every alert event of the backtest reaches
``alerts`` (repeats of an ``(alert_id, status)`` dropped, as routing does), none is extra,
and every Redis hour count is the expected one.
"""

from __future__ import annotations

import threading
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
    BURST,
    against,
    alert_events,
    expected_run,
    held,
    hour_counts,
    scrape,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(240),
]

PACED_FROM = 300
"""The steady news before this article is published at once, the rest (the surges) paced."""
PER_S = 15.0


def publish(settings: Settings, articles: list[dict[str, Any]]) -> None:
    with Publisher(settings) as publisher:
        for i, article in enumerate(articles):
            publisher.article(article)
            if i >= PACED_FROM:
                publisher.flush()
                time.sleep(1 / PER_S)


def test_a_worker_leaving_and_rejoining_mid_burst_loses_and_adds_no_alert(
    kafka_broker: Any, redis_server: Any, tmp_path: Path, report: Any
) -> None:
    articles = expand(BURST)
    expected_alerts, expected_hours = expected_run(articles)
    tag = uuid.uuid4().hex[:8]
    settings = Settings(
        kafka=kafka_broker.bootstrap,
        redis=redis_server.url,
        app_id=f"raqib-rebal-{tag}",
        topic_prefix=f"rebal-{tag}.",
        redis_prefix=f"rebal-{tag}",
        partitions=4,
        web_port=free_port(),
        alerts_file=tmp_path / "alerts.jsonl",
        align_idle_s=5.0,
    )
    second_settings = settings.model_copy(update={"web_port": free_port()})
    ensure_topics(settings)
    first = WorkerProcess(settings, tmp_path / "first").start()
    second = WorkerProcess(second_settings, tmp_path / "second").start()
    logs: list[str] = []
    publisher = threading.Thread(target=publish, args=(settings, articles))
    try:
        started = time.monotonic()
        publisher.start()
        time.sleep(PACED_FROM / 200 + 3)  # into the surge: batches in flight on both
        second.stop()  # SIGTERM: its partitions move to the first worker
        left_at = time.monotonic() - started
        time.sleep(4)
        logs.append(second.log_tail(10**7))
        second = WorkerProcess(second_settings, tmp_path / "second-back").start()  # and back
        back_at = time.monotonic() - started
        publisher.join()
        ports = (settings.web_port, second_settings.web_port)
        total = sum(expected_hours.values())
        counts: dict[str, int] = {}
        events: list[tuple[str, ...]] = []
        while time.monotonic() - started < 150:
            counts = hour_counts(redis_server.url, settings.redis_prefix)
            if sum(counts.values()) >= total and held(*ports) == 0:
                events = alert_events(settings)
                if len(set(events)) >= len(set(expected_alerts)):
                    break
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        time.sleep(1)  # anything extra would have landed by now
        events = alert_events(settings)
        alignment = {  # where each worker's alignment stands: what a failure must show
            port: {
                k: v
                for k, v in scrape(port).items()
                if k.startswith(("raqib_aligned", "raqib_idle", "raqib_event_time"))
            }
            for port in ports
        }
    finally:
        first.stop()
        second.stop()
    logs += [first.log_tail(10**7), second.log_tail(10**7)]

    moved = sum(log.count("partitions moved during a batch") for log in logs)
    deduped, missing, extra = against(expected_alerts, events)
    report(
        f"rebalance mid-burst (2 workers x 4 partitions, {len(articles)} articles; one "
        f"left at {left_at:.0f} s, back at {back_at:.0f} s, done at {elapsed:.0f} s): "
        f"{len(events)} alert events ({len(events) - len(deduped)} repeats), "
        f"{len(expected_alerts)} expected, missing {len(missing)}, extra {len(extra)}; "
        f"{moved} batches abandoned on revoke; hour counts "
        f"{sum(v == expected_hours.get(k) for k, v in counts.items())} of "
        f"{len(expected_hours)} equal"
    )
    if counts != expected_hours or missing or extra:
        print(f"alignment at the end: {alignment}")
    assert len(expected_alerts) > 20
    assert counts == expected_hours
    assert (missing, extra) == ([], []), "(missing, extra) vs the backtest"
