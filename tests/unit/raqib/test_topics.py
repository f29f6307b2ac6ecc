"""Topic creation gives up on brokers that never answer after RAQIB_KAFKA_CONNECT_TIMEOUT_S,
with an error that names them (no server needed: nothing listens on the port)."""

from __future__ import annotations

import time

import pytest

from raqib.embedded import free_port
from raqib.exceptions import BrokerUnavailable
from raqib.settings import Settings
from raqib.topics import ensure_topics


def test_unreachable_brokers_fail_after_the_connect_timeout() -> None:
    nowhere = f"127.0.0.1:{free_port()}"
    settings = Settings(kafka=nowhere, kafka_connect_timeout_s=1.0)
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable) as info:
        ensure_topics(settings)
    waited = time.monotonic() - started
    assert 0.9 <= waited < 10, waited  # the setting, not kafka-python's 30 s default
    assert nowhere in str(info.value) and "PLAINTEXT" in str(info.value)
