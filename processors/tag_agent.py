"""The ``tag`` agent: articles -> parse -> clean/tag -> ``articles.tagged`` + ``mentions``.

The work on an article (parsing, cleaning, tagging, topics, serializing) runs in a thread
of its own, a batch at a time, so the event loop stays free for heartbeats, commits and
the health views whatever an article costs; the numba kernels release the GIL. Whatever
is sent is sized first (:mod:`processors.outputs`), so no input can make a send fail,
and whatever cannot be read goes to ``articles.dlq`` with its reason.

The tag stage is also where an ``articles`` partition's idleness is known: once it has read
everything the partition holds and nothing new came for ``RAQIB_ALIGN_IDLE_S``, it says so
on every ``mentions`` partition (:class:`QuietOrigins`, :mod:`processors.align`).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast

import faust
from faust.streams import Stream

from processors.health import Health
from processors.lag import next_to_process
from processors.mentions import batches
from processors.metrics import Metrics
from processors.outputs import HEADROOM_BYTES, DeadLetter, dead_letter, fit_tagged
from processors.pipeline import Budget, Pipeline
from processors.topics import load_topics
from processors.watchlist import load_watchlist
from raqib import heap
from raqib.exceptions import InvalidArticle
from raqib.limits import Limits
from raqib.messages import (
    BUNDLE_OVERHEAD,
    EPOCH,
    Article,
    MentionBatch,
    encode_batch,
    join_batches,
    parse_article,
)
from raqib.settings import Settings

log = logging.getLogger(__name__)

TAG_BATCH = 200
BUNDLE_BYTES = 64 * 1024
BATCH_WITHIN_S = 0.01
"""How long the agent waits to fill a batch (Faust waits this long each time unless the
batch fills): what each article pays before it is tagged. See the count agent's."""
UNANSWERED_LOG_S = 60.0
"""While the idle check keeps failing, it is logged once in this long."""


@dataclass(frozen=True, slots=True)
class Tagged:
    """What one valid article sends: its tagged form and its mention batches."""

    key: bytes
    value: bytes
    mentions: list[tuple[int, bytes, bytes]]  # (partition, key, value)
    entity_ids: frozenset[str]
    events: int
    event_time: datetime
    trimmed: list[str] = field(default_factory=list)
    topic_ids: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Rejected:
    """Why an input message is dead-lettered; ``kind`` is a bounded metric label."""

    reason: str
    kind: str


TagOutcome = tuple[Tagged | Rejected, float]
"""What became of one article, and the seconds it took."""


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
    idle_after_s: float = 5.0
    """How long an ``articles`` partition read to its end stays quiet before it is idle."""

    def warm_up(self) -> None:
        """Run one article through before the stream does: the numba kernels compile on
        first use (seconds of CPU on a fresh install), which must not count against the
        first real article's budget."""
        body = "قالت إيران إن حلب آمنة."
        self.pipeline.process(Article(id="warm-up", body=body, published_at=EPOCH))

    @property
    def max_output_bytes(self) -> int:
        return self.limits.message_bytes - HEADROOM_BYTES

    @property
    def bundle_bytes(self) -> int:
        """The most a ``mentions`` message of several articles' batches holds: enough to
        share a message's cost among dozens of articles, small enough that what the count
        stage's consumer buffers stays small."""
        return min(BUNDLE_BYTES, self.max_output_bytes)

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
            mentions.append((partition, batch.mentions[0].subject.encode(), encode_batch(batch)))
        for partition in sorted(set(range(self.partitions)) - {p for p, _ in pieces}):
            heartbeat = MentionBatch(article_id=result.id, event_time=at, origin=origin)
            mentions.append((partition, key, encode_batch(heartbeat)))
        return Tagged(
            key=key,
            value=value,
            mentions=mentions,
            entity_ids=frozenset(e.id for e in result.entities),
            events=len(events),
            event_time=at,
            trimmed=trimmed,
            topic_ids=frozenset(t.id for t in result.topics),
        )

    def process_many(self, items: Sequence[tuple[bytes, datetime | None, int]]) -> list[TagOutcome]:
        """A batch, in order, each with the seconds it took (run by a :class:`TagRunner`)."""
        out: list[TagOutcome] = []
        for raw, received, origin in items:
            started = time.perf_counter()
            outcome = self.process(raw, received, origin)
            out.append((outcome, time.perf_counter() - started))
        return out


_child_stage: TagStage | None = None
"""The tag stage of a tag process (:class:`TagRunner`), built when it starts."""


def _start_child(settings: Settings) -> None:
    """In a new tag process: build and warm the tag stage the worker would build, then
    settle the collector as the worker does (:mod:`raqib.heap`): the child too keeps a
    large heap for its life (the watchlist, the topics) and makes ~100 short-lived objects
    an article; settled, its CPU per article on the pipeline benchmark fell by a tenth."""
    global _child_stage  # noqa: PLW0603 - one stage per tag process, made once
    _exit_with_parent()
    _child_stage = tag_stage(settings)
    _child_stage.warm_up()
    heap.settle()


PARENT_CHECK_S = 1.0


def _exit_with_parent() -> None:
    """A tag process ends with its worker, however the worker ends (``kill -9``, the OOM
    killer): it would wait forever for work, and hold its memory, since the queue it reads
    never reports the worker gone (it holds a copy of the worker's end of the queue). An
    orphan is adopted by another process: its parent id changes."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(1)

    threading.Thread(target=watch, name="raqib-tag-parent", daemon=True).start()


def _tag_in_child(items: Sequence[tuple[bytes, datetime | None, int]]) -> list[TagOutcome]:
    if _child_stage is None:
        raise RuntimeError("the tag process has no tag stage")
    return _child_stage.process_many(items)


def tag_stage(settings: Settings, pipeline: Pipeline | None = None) -> TagStage:
    """The tag stage of a worker with these settings (its pipeline read from the files they
    name unless given)."""
    if pipeline is None:
        watchlist = load_watchlist(settings.watchlist)
        pipeline = Pipeline(
            watchlist,
            load_topics(settings.topics, watchlist),
            pair_entities=settings.pair_entities,
        )
    return TagStage(
        pipeline,
        settings.partitions,
        limits=Limits(message_bytes=settings.max_message_bytes),
        budget_s=settings.article_budget_s,
        idle_after_s=settings.align_idle_s,
    )


class TagRunner:
    """Where the tag stage's work runs, a batch at a time: a thread of the worker, or a
    child process (``RAQIB_TAG_PROCESS``). In a thread, its Python holds the worker's GIL
    while the count stage waits for it (numba releases it only in the kernels), so the
    two stages share one core; a child process has an interpreter of its own, and the
    worker's event loop only sends what comes back. The child is spawned (a fresh
    interpreter: the worker has threads by then) and builds its own tag stage from the
    settings; a child that dies stops the agent, and so the worker, whose orchestrator
    restarts it — as a crash of the worker itself would."""

    def __init__(self, stage: TagStage, settings: Settings | None = None) -> None:
        self.stage = stage
        self.executor: Executor
        self._work: Callable[[Sequence[tuple[bytes, datetime | None, int]]], list[TagOutcome]]
        if settings is not None and settings.tag_process:
            self.executor = ProcessPoolExecutor(
                1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_child,
                initargs=(settings,),
            )
            self._work = _tag_in_child
            self.executor.submit(len, ())  # start the child now: it loads while Faust starts
        else:
            stage.warm_up()
            self.executor = ThreadPoolExecutor(1, thread_name_prefix="raqib-tag")
            self._work = stage.process_many

    async def process_many(
        self, items: Sequence[tuple[bytes, datetime | None, int]]
    ) -> list[TagOutcome]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self._work, items)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


@dataclass
class QuietOrigins:
    """Which ``articles`` partitions this worker reads are idle: quiet for ``idle_after_s``
    seconds of wall time *and* read to their end. A partition with a backlog is never
    idle, however long its articles take to tag (a loaded or restarted worker must not
    make the count stage give up on a partition that is merely behind).

    >>> now = [0.0]
    >>> quiet = QuietOrigins(5.0, clock=lambda: now[0])
    >>> quiet.owned({0, 1})
    >>> quiet.read(0, offset=41, event_time=EPOCH)
    >>> now[0] = 6.0
    >>> quiet.candidates()  # quiet for 6 s: are they read to their end?
    [0, 1]
    >>> quiet.idle({0: 42, 1: 7}, positions={1: 3})  # 1 still holds offsets 3..6
    [0]
    """

    idle_after_s: float
    clock: Callable[[], float] = time.monotonic
    heard: dict[int, float] = field(default_factory=dict)
    """Per partition owned: when its last article was read or sent (or it was assigned)."""
    next_offset: dict[int, int] = field(default_factory=dict)
    """Per partition: the offset after the last article read since it was assigned."""
    last_time: dict[int, datetime] = field(default_factory=dict)
    in_flight: dict[int, int] = field(default_factory=dict)
    """Per partition: articles read and not yet sent on (their mentions must go first)."""

    def owned(self, partitions: set[int]) -> None:
        """The partitions assigned now: new ones are quiet from now, lost ones forgotten."""
        now = self.clock()
        for partition in partitions - self.heard.keys():
            self.heard[partition] = now
        for partition in self.heard.keys() - partitions:
            for table in (self.heard, self.next_offset, self.in_flight):
                table.pop(partition, None)

    def read(self, partition: int, offset: int, event_time: datetime | None = None) -> None:
        self.heard[partition] = self.clock()
        self.next_offset[partition] = max(self.next_offset.get(partition, 0), offset + 1)
        if event_time is not None:
            self.last_time[partition] = max(self.last_time.get(partition, event_time), event_time)

    def taken(self, partition: int) -> None:
        self.in_flight[partition] = self.in_flight.get(partition, 0) + 1

    def sent(self, partition: int) -> None:
        self.heard[partition] = self.clock()
        left = self.in_flight.get(partition, 1) - 1
        if left > 0:
            self.in_flight[partition] = left
        else:
            self.in_flight.pop(partition, None)

    def candidates(self) -> list[int]:
        """Partitions quiet for long enough, with nothing of theirs still being tagged."""
        now = self.clock()
        return sorted(
            p
            for p, heard in self.heard.items()
            if now - heard >= self.idle_after_s and not self.in_flight.get(p)
        )

    def idle(self, ends: Mapping[int, int], positions: Mapping[int, int | None]) -> list[int]:
        """Of the candidates, those read to their end (``ends``: each one's next offset to
        be written, from the broker). A partition nothing was read from since it was
        assigned is judged by where its stream starts (``positions``: the group's
        committed offset there)."""
        idle = []
        for partition in self.candidates():
            end = ends.get(partition)
            at = self.next_offset.get(partition, positions.get(partition))
            if end is not None and at is not None and at >= end:
                idle.append(partition)
        return idle


Outgoing = tuple[int, bytes, bytes, float]
"""A ``mentions`` message to send: partition, key, value, receipt time (epoch seconds)."""


def bundled(sends: Sequence[Outgoing], max_bytes: int) -> list[Outgoing]:
    """A batch of articles' mention batches as few messages per partition as fit in
    ``max_bytes`` (:func:`raqib.messages.join_batches`), each partition's in the order
    given, so each origin's articles stay in order. A message is keyed as its first
    batch and stamped with the earliest receipt it carries: the latency the count stage
    reports is its oldest article's."""
    by_partition: dict[int, list[Outgoing]] = {}
    for send in sends:
        by_partition.setdefault(send[0], []).append(send)
    out: list[Outgoing] = []

    def flush(group: list[Outgoing]) -> None:
        value = join_batches([value for _, _, value, _ in group])
        out.append((group[0][0], group[0][1], value, min(r for *_, r in group)))

    for group_of_partition in by_partition.values():
        group: list[Outgoing] = []
        size = BUNDLE_OVERHEAD
        for send in group_of_partition:
            if group and size + len(send[2]) + 1 > max_bytes:
                flush(group)
                group, size = [], BUNDLE_OVERHEAD
            group.append(send)
            size += len(send[2]) + 1
        flush(group)
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
    runner: TagRunner,
    topics: dict[str, faust.TopicT],
    metrics: Metrics,
    health: Health,
) -> None:
    """Register the ``tag`` agent on ``app``."""
    tagged, mentions, dlq = topics["tagged"], topics["mentions"], topics["dlq"]
    stage = runner.stage
    quiet = QuietOrigins(stage.idle_after_s)
    unanswered = [float("-inf")]  # when a failed idle check was last logged
    articles_topic = topics["articles"].get_topic_name()
    tagged_latency = metrics.pipeline_latency.labels("tagged")

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
        taken = cast(Stream, stream).take_events(TAG_BATCH, within=BATCH_WITHIN_S)
        async for events in taken:
            raws = [
                e.value if isinstance(e.value, bytes) else bytes(e.value or b"") for e in events
            ]
            items = [
                (raw, received_at(e), e.message.partition)
                for raw, e in zip(raws, events, strict=True)
            ]
            for event in events:
                quiet.read(event.message.partition, event.message.offset)
                quiet.taken(event.message.partition)
            done = await runner.process_many(items)
            # Buffered sends: the producer is flushed before offsets are committed, so a
            # crash re-reads the articles rather than losing their mentions.
            outgoing: list[Outgoing] = []
            for event, raw, (outcome, seconds) in zip(events, raws, done, strict=True):
                if isinstance(outcome, Rejected):
                    send_dead_letter(event, raw, outcome)
                    continue
                tagged.send_soon(key=outcome.key, value=outcome.value)
                received = received_at(event).timestamp()
                outgoing.extend((p, k, v, received) for p, k, v in outcome.mentions)
                for what in outcome.trimmed:
                    metrics.trimmed.labels(what).inc()
                metrics.articles.inc()
                metrics.mentions_published.inc(outcome.events)
                for entity_id in outcome.entity_ids:
                    metrics.mentions_by_entity.labels(entity_id).inc()
                for topic_id in outcome.topic_ids:
                    metrics.mentions_by_topic.labels(topic_id).inc()
                metrics.processing_seconds.observe(seconds)
                tagged_latency.observe(max(0.0, time.time() - received))
            # Mentions carry their articles' receipt time as their timestamp (as Kafka
            # Streams forwards an input's timestamp): the count stage's latency clock.
            for partition, key, value, received in bundled(outgoing, stage.bundle_bytes):
                mentions.send_soon(key=key, value=value, partition=partition, timestamp=received)
            for event, (outcome, _) in zip(events, done, strict=True):
                partition = event.message.partition
                if isinstance(outcome, Tagged):
                    quiet.read(partition, event.message.offset, outcome.event_time)
                quiet.sent(partition)

    @app.timer(interval=max(0.1, stage.idle_after_s / 2))
    async def declare_idle() -> None:
        """Tell every ``mentions`` partition which ``articles`` partitions this worker
        reads are idle, again each time while they stay so (a count stage that restarts
        must hear it again: what it had heard before its last commit is not replayed)."""
        owned = {tp.partition: tp for tp in app.consumer.assignment() if tp.topic == articles_topic}
        quiet.owned(set(owned))
        candidates = quiet.candidates()
        if not candidates or not health.broker_ok or health.dead:
            return  # nothing said while the brokers are away: it would be queued for later
        try:
            async with asyncio.timeout(max(5.0, stage.idle_after_s)):  # a busy consumer
                ends = await app.consumer.highwaters(*(owned[p] for p in candidates))
                starts = await next_to_process(
                    app, [owned[p] for p in candidates if p not in quiet.next_offset]
                )
        except Exception as exc:  # the broker watch reports outages; try again next time
            now = time.monotonic()
            if now - unanswered[0] > UNANSWERED_LOG_S:  # while it lasts, a line a minute
                unanswered[0] = now
                log.warning(
                    "cannot tell whether articles partitions %s are idle (%r): the count "
                    "stage waits for them meanwhile",
                    candidates,
                    exc,
                )
            return
        if not health.broker_ok or health.dead:
            return
        at = {owned[p]: p for p in candidates}
        positions = {tp.partition: offset for tp, offset in starts.items()}
        for partition in quiet.idle({at[tp]: end for tp, end in ends.items()}, positions):
            marker = MentionBatch(
                article_id="",
                origin=partition,
                event_time=quiet.last_time.get(partition, EPOCH),
                idle=True,
            )
            key, value = f"idle:{partition}".encode(), encode_batch(marker)
            for target in range(stage.partitions):
                mentions.send_soon(key=key, value=value, partition=target)
            metrics.idle_markers.inc()
