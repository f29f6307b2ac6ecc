"""Topic creation against the real broker: partitions as configured, and a mentions topic
whose partition count disagrees with RAQIB_PARTITIONS stops start-up with a clear error."""

from __future__ import annotations

from typing import Any

import pytest

from raqib.exceptions import ConfigError
from raqib.settings import Settings
from raqib.topics import ensure_topics, topic_names

pytestmark = pytest.mark.integration


def test_topics_are_created_once_and_checked(kafka_broker: Any, unique: str) -> None:
    settings = Settings(kafka=kafka_broker.bootstrap, topic_prefix=f"{unique}.", partitions=3)
    assert ensure_topics(settings) == topic_names(settings)
    assert ensure_topics(settings) == []  # already there, same partitions: fine
    other = settings.model_copy(update={"partitions": 4})
    with pytest.raises(ConfigError) as info:
        ensure_topics(other)
    assert "has 3 partitions" in str(info.value) and "RAQIB_PARTITIONS=3" in str(info.value)
