"""The Kafka channel against the real embedded broker (Tansu): what it produced, read back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from alerts.channels.base import Context, DeliveryError
from alerts.channels.kafka import KafkaChannel, KafkaConfig
from raqib.embedded import free_port
from raqib.notifications import Notification
from raqib.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


def read_all(bootstrap: str, topic: str, partitions: int, count: int) -> list[Any]:
    consumer = KafkaConsumer(bootstrap_servers=[bootstrap])
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    got: list[Any] = []
    deadline = time.monotonic() + 15
    while len(got) < count and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            got.extend(records)
    consumer.close()
    return got


def test_a_story_reaches_the_topic_keyed_and_in_order(
    kafka_broker: Any, unique: str, notification: Callable[..., Notification]
) -> None:
    admin = KafkaAdminClient(bootstrap_servers=[kafka_broker.bootstrap])
    admin.create_topics([NewTopic(unique, num_partitions=3, replication_factor=1)])
    admin.close()
    settings = Settings.from_env({"RAQIB_KAFKA": kafka_broker.bootstrap})
    channel = KafkaChannel(
        KafkaConfig(name="ops-topic", type="kafka", topic=unique), Context(settings=settings)
    )
    sent = [
        notification(story_id="story-7", notification_id="story-7:ops-topic:1"),
        notification(
            story_id="story-7", notification_id="story-7:ops-topic:2", kind="update", seq=2
        ),  # fmt: skip
        notification(
            story_id="story-7",
            notification_id="story-7:ops-topic:3",
            kind="resolved",
            seq=3,
            status="resolved",
        ),  # fmt: skip
    ]

    async def run() -> list[Any]:
        try:
            return [await channel.deliver(n, None) for n in sent]
        finally:
            await channel.close()

    refs = asyncio.run(run())
    assert [r["partition"] for r in refs] == [refs[0]["partition"]] * 3
    assert [int(r["offset"]) for r in refs] == sorted(int(r["offset"]) for r in refs)

    got = read_all(kafka_broker.bootstrap, unique, 3, 3)
    assert len(got) == 3
    assert {r.key for r in got} == {b"story-7"}
    assert len({r.partition for r in got}) == 1  # one story, one partition: in order
    assert [Notification.model_validate_json(r.value) for r in got] == sent
    assert "أمير حاتمي" in got[0].value.decode("utf-8")  # Arabic as written, not \u escapes
    assert [dict(r.headers) for r in got] == [
        {
            "kind": n.kind.encode(),
            "seq": str(n.seq).encode(),
            "notification_id": n.notification_id.encode(),
            "content-type": b"application/json",
        }
        for n in sent
    ]


def test_the_bootstrap_override_and_a_dead_broker_is_retried(
    kafka_broker: Any, notification: Callable[..., Notification]
) -> None:
    settings = Settings.from_env({"RAQIB_KAFKA": kafka_broker.bootstrap})
    config = KafkaConfig(name="ops-topic", type="kafka", topic="nowhere", timeout_s=2,
                         bootstrap=f"127.0.0.1:{free_port()}")  # fmt: skip
    channel = KafkaChannel(config, Context(settings=settings))

    async def run() -> None:
        try:
            await channel.deliver(notification(), None)
        finally:
            await channel.close()

    with pytest.raises(DeliveryError) as caught:
        asyncio.run(run())
    assert caught.value.retryable
    assert config.bootstrap is not None and config.bootstrap in str(caught.value)


def test_a_notification_too_large_for_the_broker_is_not_retried(
    kafka_broker: Any, unique: str, notification: Callable[..., Notification]
) -> None:
    settings = Settings.from_env(
        {"RAQIB_KAFKA": kafka_broker.bootstrap, "RAQIB_MAX_MESSAGE_BYTES": "65536"}
    )
    channel = KafkaChannel(
        KafkaConfig(name="ops-topic", type="kafka", topic=unique), Context(settings=settings)
    )
    page = notification()
    huge = page.model_copy(update={"evidence": page.evidence * 200})

    async def run() -> None:
        try:
            await channel.deliver(huge, None)
        finally:
            await channel.close()

    with pytest.raises(DeliveryError) as caught:
        asyncio.run(run())
    assert not caught.value.retryable
    assert "MessageSizeTooLarge" in str(caught.value)
