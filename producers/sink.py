"""Where every producer's articles go: completed, checked, deduplicated, published.

Each way in (feeds, directories, HTTP, stdin, replay) hands article dicts to one
:class:`Sink`, so that ids, language, validation, duplicates and metrics are alike
whichever producer sent an article.

* ``id`` when absent: :func:`raqib.ids.article_id` (normalized URL, else content);
* ``lang`` when absent: :func:`producers.lang.detect_lang`;
* checked by the worker's own gate (:func:`raqib.messages.parse_article`), so what the
  worker would dead-letter is refused here, where the sender can be told why;
* duplicates suppressed (:class:`producers.dedupe.Deduper`) when a deduper is given.

Example::

    with open_sink(settings, producer="produce", dedupe=True) as sink:
        sink.offer({"source": "سانا", "title": "...", "body": "..."})
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry

from producers.dedupe import Deduper, Fingerprint, Verdict
from producers.exceptions import DedupeUnavailable
from producers.lang import detect_lang
from producers.metrics import ProducerMetrics, serve_metrics
from producers.publisher import Publisher
from raqib.exceptions import InvalidArticle
from raqib.ids import article_id
from raqib.limits import Limits, load_json
from raqib.messages import parse_article
from raqib.redaction import redact
from raqib.settings import Settings


@dataclass(frozen=True, slots=True)
class Offered:
    """What became of one article: its id, and the verdict when it was a duplicate."""

    id: str
    verdict: Verdict = Verdict()

    @property
    def sent(self) -> bool:
        return not self.verdict.duplicate


def _str(article: dict[str, Any], field: str) -> str:
    value = article.get(field)
    return value if isinstance(value, str) else ""


def decode_record(raw: bytes, limits: Limits) -> dict[str, Any]:
    """One JSON article as a dict; :class:`InvalidArticle` says why it is not one (too
    large, not UTF-8, not JSON, a duplicate key, not an object)."""
    if len(raw) > limits.message_bytes:
        raise InvalidArticle(f"too large: {len(raw):,} bytes > {limits.message_bytes:,}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidArticle(f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    data = load_json(text)
    if not isinstance(data, dict):
        raise InvalidArticle(f"not a JSON object but {type(data).__name__}")
    return data


def complete(article: dict[str, Any], *, limits: Limits, now: datetime) -> dict[str, Any]:
    """The article with its id and language filled in, checked as the worker checks it;
    raises :class:`InvalidArticle` with the reason the worker would dead-letter it for."""
    done = dict(article)
    title, body = _str(done, "title"), _str(done, "body")
    if not done.get("id"):
        done["id"] = article_id(_str(done, "source"), _str(done, "url"), title, body)
    if not done.get("lang") and body.strip():
        done["lang"] = detect_lang(f"{title}\n{body}")
    # ASCII-escaped, so a lone surrogate reaches the gate's check instead of the encoder
    parse_article(json.dumps(done).encode(), fallback_time=now, limits=limits)
    return done


class Sink:
    """Completes, checks, deduplicates and publishes the articles of one producer."""

    def __init__(
        self,
        publisher: Publisher,
        *,
        producer: str,
        metrics: ProducerMetrics,
        limits: Limits,
        deduper: Deduper | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.publisher = publisher
        self.producer = producer
        self.metrics = metrics
        self.limits = limits
        self.deduper = deduper
        self.clock = clock

    def _count(self, result: str) -> None:
        self.metrics.articles.labels(producer=self.producer, result=result).inc()

    def offer(self, article: dict[str, Any]) -> Offered:
        """Send one article unless it repeats one already sent; :class:`InvalidArticle`
        (counted) when it is not an article."""
        try:
            done = complete(article, limits=self.limits, now=self.clock())
        except InvalidArticle:
            self._count("invalid")
            raise
        ident = str(done["id"])
        on_error = None
        if self.deduper is not None:
            deduper = self.deduper
            fp = Fingerprint.of(
                ident, _str(done, "title"), _str(done, "body"), source=_str(done, "source")
            )
            verdict = deduper.check(fp)
            if verdict.duplicate:
                self._count("duplicate")
                return Offered(ident, verdict)

            def on_error(_: BaseException) -> None:
                deduper.release(fp)

        value = json.dumps(done, ensure_ascii=False).encode("utf-8")
        self.publisher.raw(value, key=ident.encode(), on_error=on_error)
        self._count("sent")
        return Offered(ident)

    def offer_raw(self, raw: bytes) -> Offered:
        """:meth:`offer` for one JSON article as bytes (a line, a file, a request body)."""
        try:
            article = decode_record(raw, self.limits)
        except InvalidArticle:
            self._count("invalid")
            raise
        return self.offer(article)

    def flush(self) -> None:
        """Wait for the broker's acknowledgement of everything sent so far."""
        self.publisher.flush()


def connect_deduper(settings: Settings) -> Deduper:
    """A :class:`Deduper` on ``RAQIB_REDIS``, checked now: no Redis is an error naming it."""
    from raqib.redis_cluster import REDIS_ERRORS
    from raqib.security import redis_sync_client

    try:  # a cluster client connects as it is built, to learn the nodes
        redis = redis_sync_client(settings, socket_timeout=10, socket_connect_timeout=5)
        redis.ping()
    except REDIS_ERRORS as exc:
        raise DedupeUnavailable(
            f"cannot reach Redis at {redact(settings.redis)} to suppress duplicates: "
            f"{redact(exc)} (set RAQIB_REDIS, or pass --no-dedupe)"
        ) from None
    return Deduper(
        redis,
        prefix=settings.redis_prefix,
        ttl=timedelta(seconds=settings.dedupe_ttl_s),
        threshold=settings.dedupe_threshold,
    )


@contextmanager
def open_sink(
    settings: Settings,
    *,
    producer: str,
    dedupe: bool,
    metrics_port: int = 0,
    registry: CollectorRegistry | None = None,
) -> Iterator[Sink]:
    """Topics checked (the brokers named if they cannot be reached), Redis checked when
    deduplicating, ``/metrics`` served on ``metrics_port``; flushed and closed on exit."""
    from raqib.topics import ensure_topics

    ensure_topics(settings)
    deduper = connect_deduper(settings) if dedupe else None
    registry = CollectorRegistry() if registry is None else registry
    metrics = ProducerMetrics.create(registry)
    serve_metrics(registry, metrics_port, settings.web_bind)
    limits = Limits(message_bytes=settings.max_message_bytes)
    try:
        with Publisher(settings) as publisher:
            yield Sink(
                publisher, producer=producer, metrics=metrics, limits=limits, deduper=deduper
            )
    finally:
        if deduper is not None:
            deduper.redis.close()
