"""The ``count`` agent: mentions -> align -> Redis counts -> rules -> ``alerts``.

Each ``mentions`` partition's input is first aligned (:mod:`processors.align`): held until
every ``articles`` partition has got past it, then judged in the canonical order, so the
alerts are those of ``raqib backtest`` at any partition and worker count. A held message
is not acknowledged (its offset is not committed) until it has been judged.

A batch of one partition's mentions is counted and judged in order, then its alert events
are sent *and acknowledged by the broker* before the episode changes that record them
are written: a crash in between replays the batch, which judges again and re-sends what
may not have arrived (consumers drop the repeat by ``(alert_id, status)``); no alert is
ever recorded as sent without having been sent.

Redis outages are waited out with a capped, jittered back-off and one log line per
outage; a partition revoked while its batch was in flight judges, writes and acknowledges
nothing more, and what was read before the rebalance is dropped unacknowledged (its new
owner replays it from the last commit). Messages are acknowledged in offset order
(:class:`InOrderAcks`), so that a commit never passes a message still held.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import cast

import faust
from faust.streams import Stream
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

from alerts import Position, RedisEpisodes, RuleEngine, RulesFile, Step, partition_scope
from processors.align import Aligner, Released
from processors.counts import MirroredCounts, RedisCounts, stamp_of
from processors.health import Health
from processors.metrics import Metrics
from processors.pipeline import Pipeline
from raqib.messages import Alert, decode_mentions, dumps
from raqib.redis_cluster import REDIS_ERRORS, AsyncRedis
from raqib.settings import Settings

log = logging.getLogger(__name__)

MAX_RETRY_DELAY_S = 5.0
"""The longest wait between two tries of Redis: how late the worker may notice it is back."""
BATCH_WITHIN_S = 0.01
"""How long the agent waits to fill a batch. Faust waits this long each time unless the
batch fills, so every message pays it, and what arrives while a batch is judged waits for
that batch too: at 200 articles/s (bench_latency) 10 ms here and in the tag agent instead
of 50 and 20 took p99 publish -> counted from 650-720 to 310-430 ms for the same CPU an
article; an idle worker wakes more often for it (~1 % of a core more)."""


class InOrderAcks:
    """Acknowledges one partition's messages in offset order, whatever order they are
    judged in: a message is acknowledged once it and every message read before it are.

    The aligner judges in event-time order, not offset order, and faust-streaming
    (0.15) commits the first run of consecutive acknowledged offsets even when the
    message just before it is still held (it lets a gap of one offset through, and any
    gap while nothing is committed yet): acknowledged out of order, a held message can
    be committed unjudged and is lost with the next rebalance or crash.

    A message may carry several batches (a bundle, :func:`raqib.messages.join_batches`):
    it is done once each of its ``parts`` is.
    """

    def __init__(self) -> None:
        self._read: dict[int, faust.EventT] = {}  # offset -> event, in the order read
        self._left: dict[int, int] = {}  # offset -> parts not done yet
        self._done: set[int] = set()
        self._parts: dict[int, set[str]] = {}  # offset -> articles done of a bundle not done
        self._first: int | None = None  # the first offset read, and the last
        self._last: int | None = None

    def read(self, event: faust.EventT, parts: int = 1) -> None:
        event.message.incref()  # Faust's own ack after the batch leaves it unacknowledged
        offset = event.message.offset
        self._read[offset] = event
        self._left[offset] = parts
        if self._first is None:
            self._first = offset
        self._last = offset

    def judged(self, offset: int, article: str) -> bool:
        """Whether ``article``'s part of the message at ``offset`` is done, or the message
        came before the first one read (committed by whoever read it before); a part read
        and not done, or not read yet (nothing read: none is known), is not."""
        if self._first is None or self._last is None or offset > self._last:
            return False
        if offset < self._first or offset not in self._read or offset in self._done:
            return True
        return article in self._parts.get(offset, ())

    def done(self, event: faust.EventT, article: str = "") -> None:
        """One part of the message (``article``'s batch) is done (judged, or needs no
        judging)."""
        offset = event.message.offset
        left = self._left.pop(offset, 1) - 1
        if left > 0:
            self._left[offset] = left
            self._parts.setdefault(offset, set()).add(article)
            return
        self._parts.pop(offset, None)
        self._done.add(offset)
        while self._read:
            first = next(iter(self._read))
            if first not in self._done:
                break
            self._done.discard(first)
            self._read.pop(first).ack()


class CountStage:
    """One rule engine per ``mentions`` partition this worker owns, over Redis."""

    def __init__(
        self,
        settings: Settings,
        redis: AsyncRedis,
        rules: RulesFile,
        pipeline: Pipeline,
        metrics: Metrics,
        health: Health,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.counts = RedisCounts(redis, prefix=settings.redis_prefix)
        self.rules = rules
        self.pipeline = pipeline
        self.metrics = metrics
        self.health = health
        self._read_latency = metrics.pipeline_latency.labels("read")  # looked up once
        self.engines: dict[int, RuleEngine] = {}
        self.aligners: dict[int, Aligner] = {}
        self.acks: dict[int, InOrderAcks] = {}
        self.generation = 0
        """Bumped when partitions are revoked: a batch begun before must not write on."""
        self._evicted: dict[int, tuple[RuleEngine, dict[str, int]]] = {}
        """Per partition, its engine and the evictions its caches had at the last export."""

    def engine(self, partition: int) -> RuleEngine:
        engine = self.engines.get(partition)
        if engine is None:
            scope = partition_scope(self.settings.app_id, partition)
            episodes = RedisEpisodes(self.redis, prefix=self.settings.redis_prefix, scope=scope)
            p = self.pipeline
            counts = MirroredCounts(self.counts, judged=self.judged)
            engine = RuleEngine(self.rules, counts, episodes, p.names, p.types, p.tags)
            self.engines[partition] = engine
        return engine

    def judged(self, partition: int, offset: int, article: str) -> bool:
        """Whether ``article``'s part of the ``mentions`` message at (partition, offset)
        was judged, here or before this worker read the partition (see
        MirroredCounts.judged); a stamp of a partition not read here (counted before the
        topic had its partitions) was."""
        acks = self.acks.get(partition)
        return acks is None or acks.judged(offset, article)

    def aligner(self, partition: int) -> Aligner:
        aligner = self.aligners.get(partition)
        if aligner is None:
            aligner = Aligner(self.settings.partitions)
            self.aligners[partition] = aligner
        return aligner

    def in_order(self, partition: int) -> InOrderAcks:
        return self.acks.setdefault(partition, InOrderAcks())

    def revoked(self) -> None:
        """Partitions may come back after another worker counted them and moved their
        episodes on: the engines (count mirrors, episode caches) are rebuilt from Redis,
        and what was held is dropped (never acknowledged: the next owner reads it again)."""
        self.generation += 1
        for partition in self.aligners:  # a worker reports only what it holds
            label = str(partition)
            for gauge in (
                self.metrics.aligned_held,
                self.metrics.aligned_wait,
                self.metrics.aligned_lag,
                self.metrics.aligned_idle,
            ):
                with contextlib.suppress(KeyError):
                    gauge.remove(label)
        self.engines.clear()
        self.aligners.clear()
        self.acks.clear()

    async def judge(
        self, partition: int, steps: Sequence[Step], positions: Sequence[Position] | None = None
    ) -> list[Alert]:
        """Count and evaluate one partition's steps (nothing written of its episodes
        yet): the alert events they fire. ``positions``: where each step stands in the
        partition's canonical order (those judged before a crash are not judged again)."""
        engine = self.engine(partition)
        await self.retrying(lambda: engine.prepare(steps), f"count[{partition}]")
        done = await engine.evaluate(steps, positions)
        self.metrics.steps_replayed.inc(done.replayed)
        self.metrics.mentions_counted.labels("new").inc(done.new)
        self.metrics.mentions_counted.labels("duplicate").inc(done.duplicates)
        if engine.watermark is not None:
            self.metrics.watermark.labels(str(partition)).set(engine.watermark.timestamp())
        self.export_caches(partition, engine)
        return done.alerts

    def export_caches(self, partition: int, engine: RuleEngine) -> None:
        """The bounded caches' sizes over every engine held, and what ``engine`` evicted
        since the last export (a rebuilt engine starts from none)."""
        entries: dict[str, int] = {}
        for held in self.engines.values():
            for name, (size, _) in held.cache_sizes().items():
                entries[name] = entries.get(name, 0) + size
        for name, size in entries.items():
            self.metrics.cache_entries.labels(name).set(size)
        last_engine, last = self._evicted.get(partition, (engine, {}))
        if last_engine is not engine:
            last = {}
        now = {name: evicted for name, (_, evicted) in engine.cache_sizes().items()}
        for name, evicted in now.items():
            counter = self.metrics.cache_evictions.labels(name)  # shown from 0 on
            if evicted > last.get(name, 0):
                counter.inc(evicted - last.get(name, 0))
        self._evicted[partition] = (engine, now)

    async def record(self, partition: int) -> None:
        """Write the episode changes of the batch just judged (after its alerts were sent)."""
        engine = self.engine(partition)
        await self.retrying(engine.flush, f"flush[{partition}]")

    def read(self, token: faust.EventT, value: bytes) -> None:
        """Take one ``mentions`` message (``token``: what is acknowledged once it is
        judged, a Faust event live) into its partition's aligner."""
        msg = token.message
        acks = self.in_order(msg.partition)
        seq = stamp_of(msg.partition, msg.offset)
        try:
            batches = decode_mentions(value, seq)
        except ValueError:  # not ours (ValidationError is one): log it, count it, go on
            log.exception("unreadable mentions at %s[%d]@%d", msg.topic, msg.partition, msg.offset)
            self.metrics.errors.labels("count").inc()
            acks.read(token)
            acks.done(token)
            return
        # held: committed only once each of its batches is judged (judge_released)
        acks.read(token, parts=max(1, len(batches)))
        if not batches:
            acks.done(token)
        waited = max(0.0, time.time() - msg.timestamp)
        aligner = self.aligner(msg.partition)
        for batch in batches:
            if batch.mentions:  # counted as aligned and counted are: a batch with mentions
                self._read_latency.observe(waited)
            aligner.add(batch, token)
            if batch.idle:  # never held: nothing to judge, nothing to replay
                acks.done(token)

    async def judge_released(self, send: Callable[[list[Alert]], Awaitable[None]]) -> None:
        """Judge, send (``send`` returns once the broker has every event) and record what
        every partition's aligner lets through, then acknowledge it (only now may its
        offset be committed).

        Each partition is judged by a task of its own: partitions share nothing but the
        connections (their subjects, engines, episodes and offsets are their own), and
        while one waits for Redis to record a batch or write its episodes, another is
        judged (one worker on the pipeline benchmark: the count stage waited ~a third
        of its time). A failure in one cancels the others, as a crash would stop them:
        what they had not acknowledged is replayed."""
        generation = self.generation

        def moved() -> bool:
            """Partitions were revoked meanwhile: nothing more is judged, written or
            acknowledged (an engine built now would carry this half-judged batch into
            the next assignment); the partitions' next owner replays it."""
            if self.generation == generation:
                return False
            log.info("partitions moved during a batch: its new owner replays it")
            return True

        try:
            async with asyncio.TaskGroup() as group:
                for partition, aligner in sorted(self.aligners.items()):
                    group.create_task(self._judge_partition(partition, aligner, send, moved))
        except ExceptionGroup as failed:
            for other in failed.exceptions[1:]:
                log.error("count stage: another partition failed too", exc_info=other)
            raise failed.exceptions[0] from None

    async def _judge_partition(
        self,
        partition: int,
        aligner: Aligner,
        send: Callable[[list[Alert]], Awaitable[None]],
        moved: Callable[[], bool],
    ) -> None:
        """:meth:`judge_released` of one partition, a run at a time, in order."""
        released = aligner.release()
        for run in _runs(released, self.settings.batch_size):
            if moved():
                return
            _observe(self.metrics, "aligned", run)
            steps = [(r.batch.event_time, r.batch.mentions) for r in run]
            positions = [position_of(r) for r in run]
            judged = await self.judge(partition, steps, positions)
            alerts = [_labelled(a, run) for a in judged]
            if moved():
                return
            await send(alerts)
            if moved():  # sent, not recorded: the replay re-sends, routing drops repeats
                return
            await self.record(partition)
            acks = self.in_order(partition)
            for r in run:
                acks.done(r.token, r.batch.article_id)
            _latencies(self.metrics, run, fired=bool(alerts))
            await asyncio.sleep(0)  # let the web views and heartbeats run
        self._aligned(partition, aligner)

    def _aligned(self, partition: int, aligner: Aligner) -> None:
        """Report what alignment holds back, and the broken clocks it found."""
        label = str(partition)
        metrics = self.metrics
        for batch in aligner.quarantined:
            log.warning(
                "article %s of articles partition %s is dated %s, far ahead of its partition "
                "(next article back on time): a broken clock, not counted",
                batch.article_id[:80],
                batch.origin,
                batch.event_time.isoformat(),
            )
            metrics.quarantined.labels(label).inc()
        aligner.quarantined.clear()
        metrics.aligned_held.labels(label).set(len(aligner))
        metrics.aligned_idle.labels(label).set(len(aligner.idle))
        metrics.aligned_wait.labels(label).set(aligner.held_seconds())
        if aligner.progress and aligner.watermark is not None:
            lag = max(aligner.progress.values()) - aligner.watermark
            metrics.aligned_lag.labels(label).set(lag.total_seconds())

    async def retrying(self, step: Callable[[], Awaitable[None]], where: str) -> None:
        """Run an idempotent Redis step until it succeeds: a capped, jittered back-off,
        one warning when an outage begins and one line when it ends."""
        retrying = AsyncRetrying(
            wait=wait_exponential_jitter(multiplier=0.1, max=MAX_RETRY_DELAY_S),
            retry=retry_if_exception_type(REDIS_ERRORS),
            before_sleep=lambda state: self._failed(where, state.outcome),
        )
        async for attempt in retrying:
            with attempt:
                await step()
        self.health.redis_answered()

    def _failed(self, where: str, outcome: object) -> None:
        self.metrics.errors.labels("redis").inc()
        self.health.redis_failed(where, getattr(outcome, "exception", lambda: None)())


def _runs(released: list[Released], size: int) -> list[list[Released]]:
    """Released batches in runs of one kind (on time, partial, late) of at most ``size``
    mentions (or heartbeats), so that each run's alerts can say how they were judged."""
    runs: list[list[Released]] = []
    weight = 0
    for item in released:
        n = max(1, len(item.batch.mentions))
        run = runs[-1] if runs else None
        if (
            run is None
            or (run[0].partial, run[0].late) != (item.partial, item.late)
            or (weight + n > size)
        ):
            runs.append([item])
            weight = n
        else:
            run.append(item)
            weight += n
    return runs


def position_of(released: Released) -> Position:
    """A released batch's place in its partition's canonical order (its token is the
    Faust event it came in)."""
    batch = released.batch
    return batch.event_time, batch.article_id, released.token.message.offset


def _labelled(alert: Alert, run: list[Released]) -> Alert:
    """An alert judged while an articles partition was idle, or from a late article,
    says so: it may differ from what a complete, on-time stream fires."""
    labels = dict(alert.labels)
    if run[0].partial:
        labels["watermark"] = "partial"
    if run[0].late:
        labels["late"] = "true"
    return alert.model_copy(update={"labels": labels}) if labels != alert.labels else alert


def _observe(metrics: Metrics, stage: str, run: list[Released]) -> list[float]:
    """Receipt -> ``stage`` for each article of the run with mentions here (the tag stage
    stamped each mentions message with its article's broker timestamp); the receipts."""
    now = time.time()
    received = [r.token.message.timestamp for r in run if r.batch.mentions]
    histogram = metrics.pipeline_latency.labels(stage)
    for stamp in received:
        histogram.observe(max(0.0, now - stamp))
    return received


def _latencies(metrics: Metrics, run: list[Released], *, fired: bool) -> None:
    """Receipt -> counted for each article of the run with mentions here, and receipt of
    its newest article -> alerted when the run fired."""
    received = _observe(metrics, "counted", run)
    if fired and received:
        metrics.pipeline_latency.labels("alerted").observe(max(0.0, time.time() - max(received)))


def attach_count_agent(
    app: faust.App,
    stage: CountStage,
    topics: dict[str, faust.TopicT],
    metrics: Metrics,
    health: Health,
) -> None:
    """Register the ``count`` agent (and its idle timer) on ``app``."""
    alerts_topic = topics["alerts"]
    size = stage.settings.batch_size

    async def send_all(alerts: list[Alert]) -> None:
        """Send and wait for the broker's acknowledgement of every alert event."""
        pending = [
            await alerts_topic.send(key=alert.subject.encode(), value=dumps(alert))
            for alert in alerts
        ]
        await asyncio.gather(*pending)
        for alert in alerts:
            metrics.alerts_fired.labels(alert.rule, alert.status).inc()

    @app.agent(topics["mentions"], name="count")
    @health.supervised("count")
    async def count(stream: faust.StreamT[bytes]) -> None:
        taken = cast(Stream, stream).take_events(size, within=BATCH_WITHIN_S)
        async for events in taken:  # StreamT does not declare take_events; Stream does
            started = time.perf_counter()
            for event in events:
                msg = event.message
                if msg.generation_id != app.consumer_generation_id:
                    # taken before a rebalance: its partition's owner reads it again
                    # from the commit; never acknowledged here, so never committed
                    msg.incref()
                    continue
                stage.read(event, event.value)
            await stage.judge_released(send_all)
            metrics.batch_seconds.observe(time.perf_counter() - started)
