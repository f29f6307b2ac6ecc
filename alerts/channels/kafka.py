"""Kafka channel: each notification as JSON on a topic, for the operators' own consumers.

The value is the :class:`~raqib.notifications.Notification` as JSON (UTF-8, Arabic as
written); the key is the ``story_id``, so a story's notifications share a partition and
arrive in order; headers carry ``kind``, ``seq`` and ``notification_id`` (the idempotency
key: delivery is at-least-once, a consumer dedupes on it). The producer is kafka-python's
idempotent one (``acks=all``), built with :func:`raqib.security.kafka_auth` so TLS and SASL
settings reach it as they reach every other client; it runs in a thread, being blocking.

Example (``channels.yaml``)::

    - name: ops-topic
      type: kafka
      topic: raqib.notifications
      # bootstrap: other-cluster:9092   (default: RAQIB_KAFKA)

Every failure is retryable (a broker down, a leader moving, a timeout) except a message
too large for the broker and a topic name it rejects, which will not change. A delivery
waits at most about twice ``timeout_s``: for the brokers' metadata, then for the ack. The
topic must exist (or the brokers create topics on first use): a missing one times out.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Literal

from kafka import KafkaProducer
from kafka.errors import (
    InvalidTopicError,
    KafkaConfigurationError,
    KafkaError,
    MessageSizeTooLargeError,
)
from pydantic import Field

from alerts.channels.base import ChannelConfig, Context, DeliveryError, Ref
from raqib.notifications import Notification
from raqib.redaction import redact
from raqib.security import kafka_auth

PERMANENT = (InvalidTopicError, KafkaConfigurationError, MessageSizeTooLargeError)


class KafkaConfig(ChannelConfig):
    """A topic, and the brokers when they are not ``RAQIB_KAFKA``'s."""

    type: Literal["kafka"] = "kafka"
    topic: str = Field(pattern=r"^[a-zA-Z0-9._-]{1,249}$", description="taken as written")
    bootstrap: str | None = Field(
        None,
        pattern=r"^\s*[^\s,:]+:\d+\s*(,\s*[^\s,:]+:\d+\s*)*$",
        description="host:port[,host:port]; default RAQIB_KAFKA",
    )


class KafkaChannel:
    """Produces each notification to ``topic``, keyed by story.

    Example::

        channel = KafkaChannel(KafkaConfig(name="ops-topic", topic="raqib.notes"), context)
        ref = await channel.deliver(page, None)   # {"partition": "0", "offset": "41"}
        await channel.close()
    """

    def __init__(self, config: KafkaConfig, context: Context) -> None:
        self.config = config
        self.name = config.name
        self.settings = context.settings
        self.servers = (
            [s.strip() for s in config.bootstrap.split(",")]
            if config.bootstrap
            else self.settings.kafka_servers
        )
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()  # deliveries run in threads: one producer for all

    def _get_producer(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                timeout_ms = int(self.config.timeout_s * 1000)
                self._producer = KafkaProducer(
                    bootstrap_servers=self.servers,
                    client_id=f"{self.settings.app_id}-channel-{self.name}",
                    acks="all",
                    enable_idempotence=True,
                    max_request_size=self.settings.max_message_bytes,
                    bootstrap_timeout_ms=timeout_ms,
                    max_block_ms=timeout_ms,
                    request_timeout_ms=timeout_ms,
                    delivery_timeout_ms=timeout_ms,
                    **kafka_auth(self.settings),
                )
            return self._producer

    def _drop_producer(self, timeout_s: float) -> None:
        """Close the producer, waiting ``timeout_s`` for what is in flight; after a failure
        (0 s) the next delivery starts afresh, as a producer may be left fenced or wedged."""
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            producer.close(timeout=timeout_s)

    def _send(self, notification: Notification) -> Ref:
        producer = self._get_producer()
        future = producer.send(
            self.config.topic,
            key=notification.story_id.encode(),
            value=notification.model_dump_json().encode(),
            headers=[
                ("kind", notification.kind.encode()),
                ("seq", str(notification.seq).encode()),
                ("notification_id", notification.notification_id.encode()),
                ("content-type", b"application/json"),
            ],
        )
        metadata = future.get(timeout=self.config.timeout_s + 1)
        return {"partition": str(metadata.partition), "offset": str(metadata.offset)}

    async def deliver(self, notification: Notification, ref: Ref | None) -> Ref | None:
        """Produce one notification and wait for all in-sync replicas to have it."""
        try:
            return await asyncio.to_thread(self._send, notification)
        except (KafkaError, OSError) as exc:
            # a message too large or a topic name rejected: the producer itself is sound
            permanent = isinstance(exc, PERMANENT)
            if not permanent:
                await asyncio.to_thread(self._drop_producer, 0)
            where = f"channel {self.name}: topic {self.config.topic} on {','.join(self.servers)}"
            raise DeliveryError(
                redact(f"{where}: {type(exc).__name__}: {exc}"),
                retryable=not permanent,
            ) from exc

    async def close(self) -> None:
        """Flush what is in flight and close the producer."""
        await asyncio.to_thread(self._drop_producer, self.config.timeout_s)
