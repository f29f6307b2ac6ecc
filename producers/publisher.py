"""Publish articles to the ``articles`` topic with kafka-python: acks=all, keyed by id."""

from __future__ import annotations

import json
from types import TracebackType
from typing import Any

from kafka import KafkaProducer

from raqib.security import kafka_auth
from raqib.settings import Settings


class Publisher:
    """A durable producer for articles.

    Example::

        with Publisher(Settings.from_env()) as pub:
            pub.article({"id": "a1", "body": "..."})
    """

    def __init__(self, settings: Settings) -> None:
        self.topic = settings.topic_names.articles
        self.sent = 0
        self._producer = KafkaProducer(
            bootstrap_servers=settings.kafka_servers,
            client_id=f"{settings.app_id}-producer",
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            retries=5,
            **kafka_auth(settings),
        )

    def raw(self, value: bytes, key: bytes | None = None) -> None:
        """Send bytes as they are: a malformed line still reaches the dead-letter topic."""
        self._producer.send(self.topic, key=key, value=value)
        self.sent += 1

    def article(self, article: dict[str, Any]) -> None:
        """Send one article dict, keyed by its id when it has one."""
        key = str(article["id"]).encode() if article.get("id") else None
        self.raw(json.dumps(article, ensure_ascii=False).encode("utf-8"), key=key)

    def flush(self, timeout_s: float = 30.0) -> None:
        self._producer.flush(timeout=timeout_s)

    def close(self) -> None:
        self._producer.flush()
        self._producer.close()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
