"""The Kafka transport of the worker's Faust app: Faust's own (aiokafka), with a shorter
wait for new messages.

Faust fixes its consumers' ``fetch_max_wait_ms`` at 1,500 ms. A broker that answers a
waiting fetch as soon as a message arrives (Apache Kafka, with ``fetch_min_bytes`` 1)
makes that harmless, but Tansu, raqib's embedded broker, answers it late: measured
(kafka-python, one partition, a message published while a fetch waits) 360 ms at the
median and 729 ms at worst with a 1,500 ms wait, 29 / 54 ms with 100 ms. An article
passes two consumers (``articles`` → tag, ``mentions`` → count) and an alert a third,
so the worker's consumers wait at most ``FETCH_MAX_WAIT_MS``; idle, that costs a few
fetch requests a second per broker, nothing a broker notices.
"""

from __future__ import annotations

import aiokafka
import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TransportT

FETCH_MAX_WAIT_MS = 100


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(
        self, transport: faust_aiokafka.Transport
    ) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka reads it when the consumer starts (its Fetcher is built in start())
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # noqa: SLF001 - Faust fixes it
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


class App(faust.App):
    """A Faust app whose consumers use :data:`FETCH_MAX_WAIT_MS`."""

    def _new_transport(self) -> TransportT:
        return _Transport(self.conf.broker_consumer, self)
