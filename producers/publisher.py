"""Publish articles to the ``articles`` topic with kafka-python: acks=all, keyed by id.

Every send is acknowledged by all in-sync replicas (``acks=all``, idempotent), retried
with back-off until ``delivery_timeout_s``; a send that still fails is reported by the
next :meth:`Publisher.flush` as :class:`PublishFailed`, and its ``on_error`` callback
runs (a deduplication claim is given back). Before anything is sent, the caller checks
the brokers with :func:`raqib.topics.ensure_topics`, which names them when they cannot
be reached.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from types import TracebackType
from typing import Any

from kafka import KafkaProducer

from producers.exceptions import PublishFailed
from raqib.security import kafka_auth
from raqib.settings import Settings

ErrorCallback = Callable[[BaseException], object]


class Publisher:
    """A durable producer for articles.

    Example::

        with Publisher(Settings.from_env()) as pub:
            pub.article({"id": "a1", "body": "..."})
    """

    def __init__(self, settings: Settings, *, delivery_timeout_s: float = 120.0) -> None:
        self.topic = settings.topic_names.articles
        self.sent = 0
        self._failures: list[BaseException] = []
        connect_ms = int(settings.kafka_connect_timeout_s * 1000)
        self._producer = KafkaProducer(
            bootstrap_servers=settings.kafka_servers,
            client_id=f"{settings.app_id}-producer",
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            retry_backoff_ms=250,
            reconnect_backoff_max_ms=5_000,
            delivery_timeout_ms=int(delivery_timeout_s * 1000),
            request_timeout_ms=min(30_000, int(delivery_timeout_s * 1000)),
            max_block_ms=connect_ms,
            bootstrap_timeout_ms=connect_ms,
            max_request_size=settings.max_message_bytes + 4096,
            **kafka_auth(settings),
        )

    def raw(
        self, value: bytes, key: bytes | None = None, on_error: ErrorCallback | None = None
    ) -> None:
        """Send bytes as they are: a malformed line still reaches the dead-letter topic."""
        future = self._producer.send(self.topic, key=key, value=value)
        future.add_errback(self._failures.append)
        if on_error is not None:
            future.add_errback(on_error)
        self.sent += 1

    def article(self, article: dict[str, Any]) -> None:
        """Send one article dict, keyed by its id when it has one."""
        key = str(article["id"]).encode() if article.get("id") else None
        self.raw(json.dumps(article, ensure_ascii=False).encode("utf-8"), key=key)

    def flush(self, timeout_s: float | None = None) -> None:
        """Wait for every send's acknowledgement; raise :class:`PublishFailed` if some failed."""
        self._producer.flush(timeout=timeout_s)
        if self._failures:
            failures, self._failures = self._failures, []
            raise PublishFailed(len(failures), failures[0])

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._producer.close(timeout=5)

    def __enter__(self) -> Publisher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
