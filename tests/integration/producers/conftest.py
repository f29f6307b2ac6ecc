"""Producers against the real embedded broker and Redis: settings per test, read-back."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from raqib.settings import Settings


@pytest.fixture
def settings(kafka_broker: Any, redis_server: Any, unique: str, tmp_path: Path) -> Settings:
    """Servers of the session, a topic prefix and Redis prefix of this test's own."""
    return Settings(
        kafka=kafka_broker.bootstrap,
        redis=redis_server.url,
        topic_prefix=f"{unique}.",
        redis_prefix=unique,
        partitions=1,
        data_dir=tmp_path / "data",
        kafka_connect_timeout_s=5,
    )


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    """The environment that points a command (CliRunner) at these servers."""
    return settings.to_env()


def _decode(value: bytes) -> dict[str, Any]:
    """An article as published; what is not JSON (replay sends it verbatim) as ``raw``."""
    try:
        return dict(json.loads(value))
    except ValueError:
        return {"raw": value.decode("utf-8", "replace")}


Published = Callable[..., list[dict[str, Any]]]


@pytest.fixture
def published(settings: Settings) -> Published:
    """``published()``: every article on the test's ``articles`` topic, in order; waits
    until ``at_least`` have arrived (then reads on briefly: more would be a failure)."""

    def read(at_least: int = 0, timeout_s: float = 10.0) -> list[dict[str, Any]]:
        consumer = KafkaConsumer(bootstrap_servers=settings.kafka_servers)
        try:
            partition = TopicPartition(settings.topic_names.articles, 0)
            consumer.assign([partition])
            consumer.seek_to_beginning(partition)
            out: list[dict[str, Any]] = []
            deadline = time.monotonic() + timeout_s
            quiet_until = None
            while time.monotonic() < deadline:
                batch = consumer.poll(timeout_ms=200)
                records = [r for rs in batch.values() for r in rs]
                out += [_decode(r.value) for r in records]
                if len(out) >= at_least:
                    quiet_until = quiet_until or time.monotonic() + 0.3
                    if time.monotonic() >= quiet_until:
                        break
            return out
        finally:
            consumer.close()

    return read
