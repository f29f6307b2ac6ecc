"""A worker restarted in the middle of an episode resolves that episode, not a new one."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from producers.publisher import Publisher
from producers.scenario import expand
from raqib.embedded import WorkerProcess, free_port
from raqib.settings import Settings
from raqib.topics import ensure_topics

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

DRILL = Path(__file__).resolve().parents[2] / "seeds" / "scenarios" / "drill.yaml"


def alerts(settings: Settings, until: Any, timeout_s: float = 90) -> list[dict[str, Any]]:
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_servers)
    tp = TopicPartition(settings.topic_names.alerts, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                seen.extend(json.loads(r.value) for r in records)
            if until(seen):
                return seen
        raise AssertionError(f"alerts never satisfied the condition: {seen}")
    finally:
        consumer.close()


def test_restart_mid_episode_resolves_the_same_alert(
    kafka_broker: Any, redis_server: Any, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    settings = Settings(
        kafka=kafka_broker.bootstrap,
        redis=redis_server.url,
        app_id=f"raqib-restart-{tag}",
        topic_prefix=f"restart-{tag}.",
        redis_prefix=f"restart-{tag}",
        partitions=1,
        web_port=free_port(),
        alerts_file=tmp_path / "alerts.jsonl",
        data_dir=tmp_path / "worker",
    )
    ensure_topics(settings)
    articles = expand(DRILL)
    before = [a for a in articles if "aftermath" not in a["id"]]
    after = [a for a in articles if "aftermath" in a["id"]]

    def hatami(seen: list[dict[str, Any]], status: str) -> list[dict[str, Any]]:
        return [
            a
            for a in seen
            if (a["subject"], a["rule"], a["status"])
            == ("entity:amir-hatami", "entity-spike", status)
        ]

    first = WorkerProcess(settings, tmp_path / "first").start()
    try:
        with Publisher(settings) as publisher:
            for article in before:
                publisher.article(article)
        seen = alerts(settings, lambda s: hatami(s, "firing"))
    finally:
        first.stop()
    (firing,) = hatami(seen, "firing")
    assert not hatami(seen, "resolved")

    second = WorkerProcess(settings, tmp_path / "second").start()
    try:
        with Publisher(settings) as publisher:
            for article in after:
                publisher.article(article)
        seen = alerts(settings, lambda s: hatami(s, "resolved"))
    finally:
        second.stop()
    # no new episode after the restart: the same alert_id throughout (the firing event may
    # be sent again, if the worker stopped between sending it and writing its episode: a
    # replay, which the router drops by (alert_id, status))
    assert {a["alert_id"] for a in hatami(seen, "firing")} == {firing["alert_id"]}
    (resolved,) = hatami(seen, "resolved")
    assert resolved["alert_id"] == firing["alert_id"]
