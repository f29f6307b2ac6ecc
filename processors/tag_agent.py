"""The ``tag`` agent: articles -> parse -> clean/tag -> ``articles.tagged`` + ``mentions``.

The work on an article (parsing, cleaning, tagging, topics, serializing) runs in a thread
of its own, a batch at a time, so the event loop stays free for heartbeats, commits and
the health views whatever an article costs; the numba kernels release the GIL. Whatever
is sent is sized first (:mod:`processors.outputs`), so no input can make a send fail,
and whatever cannot be read goes to ``articles.dlq`` with its reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast

import faust
from faust.streams import Stream

from processors.health import Health
from processors.mentions import batches
from processors.metrics import Metrics
from processors.outputs import HEADROOM_BYTES, DeadLetter, dead_letter, fit_tagged
from processors.pipeline import Budget, Pipeline
from raqib.exceptions import InvalidArticle
from raqib.limits import Limits
from raqib.messages import EPOCH, Article, MentionBatch, dumps, parse_article

log = logging.getLogger(__name__)

TAG_BATCH = 200
BATCH_WITHIN_S = 0.02
"""How long the agent waits to fill a batch: the latency a quiet stream pays."""


@dataclass(frozen=True, slots=True)
class Tagged:
    """What one valid article sends: its tagged form and its mention batches."""

    key: bytes
    value: bytes
    mentions: list[tuple[int, bytes, bytes]]  # (partition, key, value)
    entity_ids: frozenset[str]
    events: int
    trimmed: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Rejected:
    """Why an input message is dead-lettered; ``kind`` is a bounded metric label."""

    reason: str
    kind: str


@dataclass
class TagStage:
    """The agent's work on one message, with no I/O: testable without a broker.

    Example::

        stage = TagStage(pipeline, partitions=4)
        stage.process(b'{"body": "..."}', received=datetime.now(UTC))
        # -> Tagged(key=b"h-...", value=b'{...}', mentions=[(2, b"entity:iran", b"...")], ...)
    """

    pipeline: Pipeline
    partitions: int
    limits: Limits = field(default_factory=Limits)
    budget_s: float = 2.0

    def warm_up(self) -> None:
        """Run one article through before the stream does: the numba kernels compile on
        first use (seconds of CPU on a fresh install), which must not count against the
        first real article's budget."""
        body = "قالت إيران إن حلب آمنة."
        self.pipeline.process(Article(id="warm-up", body=body, published_at=EPOCH))

    @property
    def max_output_bytes(self) -> int:
        return self.limits.message_bytes - HEADROOM_BYTES

    def process(self, raw: bytes, received: datetime | None, origin: int = 0) -> Tagged | Rejected:
        """``origin``: the ``articles`` partition it came from, which every mention batch
        (and the heartbeat that stands for one on a partition it names nothing on) carries
        so that the count stage can align the origins (:mod:`processors.align`)."""
        budget = Budget(self.budget_s)
        try:
            article = parse_article(raw, fallback_time=received, limits=self.limits)
            result, events = self.pipeline.process(article, budget)
            value, trimmed = fit_tagged(result, self.max_output_bytes)
        except InvalidArticle as exc:
            return Rejected(exc.reason, exc.kind)
        except Exception as exc:  # a bug of ours must not stop the stream: dead-letter it
            log.exception("tagging failed")
            return Rejected(f"processing error: {exc!r}"[:500], "processing_error")
        pieces = batches(events, self.partitions, max_bytes=self.max_output_bytes)
        at = article.event_time
        key = result.id.encode()
        mentions = []
        for partition, batch in pieces:
            batch.origin, batch.event_time = origin, at
            mentions.append((partition, batch.mentions[0].subject.encode(), dumps(batch)))
        for partition in sorted(set(range(self.partitions)) - {p for p, _ in pieces}):
            heartbeat = MentionBatch(article_id=result.id, event_time=at, origin=origin)
            mentions.append((partition, key, dumps(heartbeat)))
        return Tagged(
            key=key,
            value=value,
            mentions=mentions,
            entity_ids=frozenset(e.id for e in result.entities),
            events=len(events),
            trimmed=trimmed,
        )

    def process_many(
        self, items: Sequence[tuple[bytes, datetime | None, int]]
    ) -> list[tuple[Tagged | Rejected, float]]:
        """A batch, in order, each with the seconds it took (run in the tag thread)."""
        out: list[tuple[Tagged | Rejected, float]] = []
        for raw, received, origin in items:
            started = time.perf_counter()
            outcome = self.process(raw, received, origin)
            out.append((outcome, time.perf_counter() - started))
        return out


def received_at(event: faust.EventT) -> datetime:
    """When a message was received: its broker timestamp, but never later than this
    consumer's clock (a producer's clock can be as wrong as an article's)."""
    return datetime.fromtimestamp(min(event.message.timestamp, time.time()), tz=UTC)


def where(event: faust.EventT) -> dict[str, str]:
    msg = event.message
    return {"topic": str(msg.topic), "partition": str(msg.partition), "offset": str(msg.offset)}


def attach_tag_agent(
    app: faust.App,
    stage: TagStage,
    topics: dict[str, faust.TopicT],
    metrics: Metrics,
    health: Health,
) -> None:
    """Register the ``tag`` agent on ``app``."""
    tagged, mentions, dlq = topics["tagged"], topics["mentions"], topics["dlq"]
    executor = ThreadPoolExecutor(1, thread_name_prefix="raqib-tag")

    def send_dead_letter(event: faust.EventT, raw: bytes, rejected: Rejected) -> None:
        log.warning("dead-lettered %s: %s", where(event), rejected.reason[:200])
        metrics.dead_lettered.labels(rejected.kind).inc()
        letter: DeadLetter = dead_letter(
            raw,
            rejected.reason,
            limit=stage.max_output_bytes,
            key=event.key if isinstance(event.key, bytes) else None,
            where=where(event),
        )
        if "raqib-truncated" in letter.headers:
            metrics.trimmed.labels("dead_letter").inc()
        dlq.send_soon(key=letter.key, value=letter.value, headers=letter.headers)

    @app.agent(topics["articles"], name="tag")
    @health.supervised("tag")
    async def tag(stream: faust.StreamT[bytes]) -> None:
        loop = asyncio.get_running_loop()
        taken = cast(Stream, stream).take_events(TAG_BATCH, within=BATCH_WITHIN_S)
        async for events in taken:
            raws = [
                e.value if isinstance(e.value, bytes) else bytes(e.value or b"") for e in events
            ]
            items = [
                (raw, received_at(e), e.message.partition)
                for raw, e in zip(raws, events, strict=True)
            ]
            done = await loop.run_in_executor(executor, stage.process_many, items)
            # Buffered sends: the producer is flushed before offsets are committed, so a
            # crash re-reads the articles rather than losing their mentions.
            for event, raw, (outcome, seconds) in zip(events, raws, done, strict=True):
                if isinstance(outcome, Rejected):
                    send_dead_letter(event, raw, outcome)
                    continue
                tagged.send_soon(key=outcome.key, value=outcome.value)
                for partition, key, value in outcome.mentions:
                    mentions.send_soon(key=key, value=value, partition=partition)
                for what in outcome.trimmed:
                    metrics.trimmed.labels(what).inc()
                metrics.articles.inc()
                metrics.mentions_published.inc(outcome.events)
                for entity_id in outcome.entity_ids:
                    metrics.mentions_by_entity.labels(entity_id).inc()
                metrics.processing_seconds.observe(seconds)
