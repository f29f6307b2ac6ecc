"""The worker's Faust app waits at most FETCH_MAX_WAIT_MS for new messages, not Faust's
fixed 1.5 s (which the embedded broker turns into seconds of latency per stage)."""

from __future__ import annotations

import asyncio

import faust

from processors.transport import FETCH_MAX_WAIT_MS, App


def test_the_group_consumer_waits_briefly_for_new_messages() -> None:
    app = App("transport-test", broker="kafka://127.0.0.1:9", store="memory://")

    async def consumer_wait() -> int:
        thread = app.consumer._new_consumer_thread()  # what the worker starts
        consumer = thread._create_worker_consumer(app.transport)
        try:
            return int(consumer._fetch_max_wait_ms)
        finally:
            await consumer.stop()  # never started: closes its client only

    assert asyncio.run(consumer_wait()) == FETCH_MAX_WAIT_MS < 1500
    plain = faust.App("transport-test-plain", broker="kafka://127.0.0.1:9")
    assert type(app.transport).Consumer is not type(plain.transport).Consumer
