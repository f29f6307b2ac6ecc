"""The Kafka channel's configuration: topic, brokers (the broker itself: integration)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from alerts.channels.base import Context
from alerts.channels.kafka import KafkaChannel, KafkaConfig
from raqib.settings import Settings


def channel(settings: Settings | None = None, **changes: Any) -> KafkaChannel:
    config = KafkaConfig.model_validate({"name": "ops-topic", "type": "kafka",
                                         "topic": "raqib.notifications", **changes})  # fmt: skip
    return KafkaChannel(config, Context(settings=settings or Settings()))


def test_brokers_are_raqib_kafka_unless_overridden() -> None:
    settings = Settings.from_env({"RAQIB_KAFKA": "k1:9092,k2:9092"})
    assert channel(settings).servers == ["k1:9092", "k2:9092"]
    assert channel(settings, bootstrap="other:9092, more:9093").servers == [
        "other:9092",
        "more:9093",
    ]


@pytest.mark.parametrize(
    ("changes", "cause"),
    [
        ({"topic": "raqib notifications"}, "topic"),
        ({"topic": ""}, "topic"),
        ({"bootstrap": "no-port"}, "bootstrap"),
        ({"type": "kafka-topic"}, "type"),
        ({"partition": 1}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_configurations_say_why(changes: dict[str, Any], cause: str) -> None:
    with pytest.raises(ValidationError, match=cause):
        channel(**changes)
