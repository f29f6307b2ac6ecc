"""The router: alert events in, one notification thread per story and channel out.

:meth:`Router.accept` takes an alert event from ``alerts`` — silenced? routed where?
which story? — and records it in the group's state in Redis before it returns, so the
event's offset may be committed: from then on the router owns it (parked until sent).
:meth:`Router.hand_due` hands on at once what a batch of events made due (a page of a
route with no ``group_wait``), and :meth:`Router.tick` (every quarter second) what falls
due later. Each channel has worker tasks of its own (a webhook several, for different
stories), so a slow or dead channel never delays the others. A delivery is idempotent:
the notification id and the events it carried are marked in Redis once a channel took
it, so a router killed between the two does not send it again; a failure is retried with
jittered exponential back-off (tenacity's), and after the last attempt — or at once when
retrying cannot help — the notification goes to ``alerts.dlq`` with the error.

One router runs at a time (the worker that owns the single partition of ``alerts``); a
new owner loads the state from Redis and carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta

from tenacity import RetryCallState, wait_exponential_jitter

from alerts.channels import Channel, DeliveryError, build_channel
from alerts.channels.base import Context
from alerts.channels.render import sparkline
from alerts.metrics import RouterMetrics
from alerts.routing import ChannelsFile, Route
from alerts.silences import Silences
from alerts.stories import AlertKey, ChannelState, Group, Names, Pace, StoryBook, due, notification
from raqib.messages import Alert
from raqib.notifications import Notification
from raqib.redis_cluster import AsyncRedis, adopt_renamed

log = logging.getLogger(__name__)

SENT_TTL_S = 35 * 24 * 3600
DeadLetter = Callable[[Notification, str], Awaitable[None]]
Hours = Callable[[str, datetime], Awaitable[list[int]]]
"""subject, event time -> its mention counts in the 24 hours up to that time."""


class RouterStore:
    """The router's state in Redis: ``P:{router}:groups`` (group id -> JSON),
    ``P:{router}:alerts`` (alert id -> story), ``P:{router}:articles`` (article id -> story
    and last time) — one hash tag, one Redis Cluster slot, so that an event is recorded in
    one transaction — and ``P:router:sent:<notification id>`` (the events a delivered
    notification carried). The three hashes were ``P:router:…`` before they were
    hash-tagged: a new owner takes them over from there (:meth:`load`)."""

    def __init__(self, redis: AsyncRedis, prefix: str) -> None:
        self.redis = redis
        self.groups_key = f"{prefix}:{{router}}:groups"
        self.alerts_key = f"{prefix}:{{router}}:alerts"
        self.articles_key = f"{prefix}:{{router}}:articles"
        self.sent_prefix = f"{prefix}:router:sent"
        self._renamed = [
            (f"{prefix}:router:{name}", f"{prefix}:{{router}}:{name}")
            for name in ("groups", "alerts", "articles")
        ]

    async def load(self, book: StoryBook) -> dict[str, Group]:
        moved = await adopt_renamed(self.redis, self._renamed)
        if moved:
            log.info("router: took over %d hashes from their untagged names", moved)
        raw = await self.redis.hgetall(self.groups_key)
        groups = {}
        for value in raw.values():
            group = Group.model_validate_json(value)
            groups[group.group_id] = group
        book.alerts = {
            _text(k): _text(v) for k, v in (await self.redis.hgetall(self.alerts_key)).items()
        }
        for k, v in (await self.redis.hgetall(self.articles_key)).items():
            story, _, at = _text(v).partition("|")
            book.articles[_text(k)] = (story, datetime.fromisoformat(at))
        return groups

    async def save(self, groups: list[Group], alert: Alert, book: StoryBook) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            for group in groups:
                pipe.hset(self.groups_key, group.group_id, group.model_dump_json())
            pipe.hset(self.alerts_key, alert.alert_id, book.alerts[alert.alert_id])
            articles: dict[str | bytes | bytearray | memoryview[int] | int | float, str] = {
                a.id: f"{book.articles[a.id][0]}|{book.articles[a.id][1].isoformat()}"
                for a in alert.articles
                if a.id in book.articles
            }
            if articles:
                pipe.hset(self.articles_key, mapping=articles)
            await pipe.execute()

    async def save_group(self, group: Group) -> None:
        await self.redis.hset(self.groups_key, group.group_id, group.model_dump_json())

    async def forget(self, group_ids: list[str], alert_ids: list[str], articles: list[str]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            if group_ids:
                pipe.hdel(self.groups_key, *group_ids)
            if alert_ids:
                pipe.hdel(self.alerts_key, *alert_ids)
            if articles:
                pipe.hdel(self.articles_key, *articles)
            await pipe.execute()

    async def sent(self, notification_id: str) -> set[AlertKey] | None:
        raw = await self.redis.get(f"{self.sent_prefix}:{notification_id}")
        if raw is None:
            return None
        return {(a, s) for a, s in json.loads(raw)}

    async def mark_sent(self, notification_id: str, keys: set[AlertKey]) -> None:
        value = json.dumps(sorted(keys))
        await self.redis.set(f"{self.sent_prefix}:{notification_id}", value, ex=SENT_TTL_S)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def backoff(attempt: int, most: timedelta) -> float:
    """Seconds before retry ``attempt`` (1, 2, ...): tenacity's exponential with jitter."""
    state = RetryCallState(None, None, (), {})  # type: ignore[arg-type]
    state.attempt_number = attempt
    return float(wait_exponential_jitter(multiplier=1, max=most.total_seconds(), jitter=1)(state))


class Router:
    """Stories and channels for one router process; see the module docstring."""

    def __init__(
        self,
        config: ChannelsFile,
        channels: dict[str, Channel],
        store: RouterStore,
        *,
        names: Callable[[str], tuple[str, str]],
        dead_letter: DeadLetter,
        metrics: RouterMetrics,
        hours: Hours | None = None,
        silences: Silences | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.channels = channels
        self.store = store
        self.names = names
        self.dead_letter = dead_letter
        self.metrics = metrics
        self.hours = hours
        self.silences = silences
        self.clock = clock
        self.book = StoryBook(config.story_interval)
        self.groups: dict[str, Group] = {}
        self.routes: dict[str, Route] = {r.name: r for r in config.effective_routes}
        self._timeouts = {c.name: c.timeout_s for c in config.channels}
        self._queues: dict[str, asyncio.Queue[str]] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._inflight: set[tuple[str, str]] = set()
        self.started = False

    @classmethod
    def build(cls, config: ChannelsFile, context: Context, **kw: object) -> Router:
        """A router with the channels the config describes (secrets read now: a missing
        one stops start-up with the channel and the variable named)."""
        channels = {c.name: build_channel(c, context) for c in config.channels}
        return cls(config, channels, **kw)  # type: ignore[arg-type]

    async def start(self) -> None:
        """Load the state from Redis and start the channels' delivery tasks (one each,
        or the channel's ``max_in_flight``)."""
        if self.started:
            return
        self.book = StoryBook(self.config.story_interval)
        self.groups = await self.store.load(self.book)
        self._queues = {name: asyncio.Queue() for name in self.channels}
        # a channel that takes several notifications at once gets as many tasks; one
        # story's thread is never handed to two of them (_inflight)
        self._workers = [
            asyncio.create_task(self._work(name), name=f"raqib-channel-{name}-{i}")
            for name, channel in self.channels.items()
            for i in range(getattr(channel, "max_in_flight", 1))
        ]
        self.started = True
        log.info(
            "router started: %d open groups, channels %s", len(self.groups), list(self.channels)
        )

    async def stop(self) -> None:
        """Stop delivering (another worker now owns the router); state stays in Redis."""
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers = []
        self._inflight.clear()
        self.started = False

    async def close(self) -> None:
        await self.stop()
        for channel in self.channels.values():
            await channel.close()

    async def accept(self, alert: Alert) -> list[str]:
        """Route one alert event into its groups, persisted before this returns; the ids
        of the groups it went to (for :meth:`hand_due`)."""
        if not self.started:
            await self.start()
        if self.silences is not None:
            silence = await self.silences.matching(alert)
            if silence is not None:
                self.metrics.silenced.labels(alert.rule).inc()
                log.info("alert %s %s silenced by %s", alert.alert_id, alert.status, silence.id)
                return []
        routes = self.config.routes_for(alert)
        if not routes:
            return []
        story = self.book.story_of(alert)
        now = self.clock()
        changed: dict[str, Group] = {}
        for route in routes:
            key = route.group_key(alert, story)
            group_id = f"{route.name}:{key}"
            group = self.groups.get(group_id) or Group.make(route.name, key, alert)
            group.record(alert)
            for name in route.channels:
                group.channels.setdefault(name, ChannelState()).add(alert, now)
            self.groups[group_id] = group
            changed[group_id] = group
        await self.store.save(list(changed.values()), alert, self.book)
        self.metrics.groups.set(len(self.groups))
        return list(changed)

    def pace(self, route: Route, channel: str) -> Pace:
        repeat = route.repeat_interval.total_seconds()
        resend = getattr(self.channels[channel], "resend_every_s", None)
        if resend:
            repeat = min(repeat, float(resend))
        return route.group_wait.total_seconds(), route.group_interval.total_seconds(), repeat

    async def tick(self) -> None:
        """Hand every thread that is due to its channel's task; forget finished groups."""
        if not self.started:
            return
        now = self.clock()
        finished = []
        for group_id, group in self.groups.items():
            if group.route not in self.routes:
                continue
            self._hand_due(group_id, group, now)
            if group.finished() and _quiet(group, now, self.config.story_interval):
                finished.append(group_id)
        if finished:
            await self._forget(finished)

    def hand_due(self, group_ids: Iterable[str]) -> None:
        """Hand what is due of these groups to the channels now, not at the next tick:
        what a batch of events just made due (a page, with no ``group_wait``). The events
        read together are accepted first, so that a wave of one story is one page."""
        now = self.clock()
        for group_id in group_ids:
            group = self.groups.get(group_id)
            if group is not None:
                self._hand_due(group_id, group, now)

    def _hand_due(self, group_id: str, group: Group, now: float) -> None:
        """Hand each of the group's threads that is due to its channel's task."""
        route = self.routes.get(group.route)
        if route is None or not self.started:
            return
        for name, state in group.channels.items():
            if (group_id, name) in self._inflight or name not in self._queues:
                continue
            if due(state, now, self.pace(route, name)) is not None:
                self._inflight.add((group_id, name))
                self._queues[name].put_nowait(group_id)

    async def _forget(self, group_ids: list[str]) -> None:
        alerts = [a for g in group_ids for a in self.groups[g].latest]
        articles = [
            e.id for g in group_ids for a in self.groups[g].latest.values() for e in a.articles
        ]
        for group_id in group_ids:
            del self.groups[group_id]
        still = {a for g in self.groups.values() for a in g.latest}
        gone = [a for a in alerts if a not in still]
        await self.store.forget(group_ids, gone, articles)
        for alert_id in gone:
            self.book.alerts.pop(alert_id, None)
        for article in articles:
            self.book.articles.pop(article, None)
        self.metrics.groups.set(len(self.groups))

    async def _work(self, name: str) -> None:
        queue = self._queues[name]
        while True:
            group_id = await queue.get()
            try:
                await self._deliver(group_id, name)
            except Exception:  # a bug or Redis gone: this thread backs off, the channel goes on
                log.exception("delivery to %s failed unexpectedly", name)
                group = self.groups.get(group_id)
                if group is not None and name in group.channels:
                    state = group.channels[name]
                    state.failures += 1
                    delay = backoff(state.failures, self.config.retry_max_delay)
                    state.retry_at = self.clock() + delay
            finally:
                self._inflight.discard((group_id, name))

    async def _describe(self, group: Group, name: str, kind: str) -> Notification:
        state = group.channels[name]
        routed = [group.latest[a] for a in state.routed if a in group.latest]
        names: Names = {a.subject: self.names(a.subject) for a in routed}
        lines: dict[str, str] = {}
        if self.hours is not None:
            for alert in routed:
                if alert.subject not in lines:
                    lines[alert.subject] = sparkline(
                        await self.hours(alert.subject, alert.event_time)
                    )
        return notification(
            group,
            name,
            kind,  # type: ignore[arg-type]
            now=datetime.fromtimestamp(self.clock(), tz=UTC),
            names=names,
            sparklines=lines,
            dashboard_url=self.config.dashboard_url,
        )

    async def _deliver(self, group_id: str, name: str) -> None:
        group = self.groups.get(group_id)
        if group is None:
            return
        route = self.routes[group.route]
        state = group.channels[name]
        kind = due(state, self.clock(), self.pace(route, name))
        if kind is None:
            return
        # a retry sends what failed, byte for byte: a receiver that took it and answered
        # too late dedupes it on the key, and the events that came since go next time
        note = state.attempt or await self._describe(group, name, kind)
        keys: set[AlertKey] = {(a.alert_id, str(a.status)) for a in note.alerts}
        done = await self.store.sent(note.notification_id)
        if done is not None:  # taken before a crash: record it, do not send it again
            state.delivered(done, kind, self.clock())
            self.metrics.notifications.labels(name, kind, "repeat").inc()
            await self.store.save_group(group)
            return
        channel = self.channels[name]
        timeout = self._timeouts.get(name, 30.0)
        try:
            ref = await asyncio.wait_for(channel.deliver(note, state.ref), timeout * 2)
        except (DeliveryError, TimeoutError, OSError) as exc:
            await self._failed(group, name, note, keys, exc)
            return
        await self.store.mark_sent(note.notification_id, keys)
        state.delivered(keys, kind, self.clock())
        if ref is not None:
            state.ref = ref
        await self.store.save_group(group)
        self.metrics.notifications.labels(name, kind, "delivered").inc()
        self.metrics.alert_events.labels(name).inc(len(note.alerts))
        now = datetime.now(UTC)
        for alert in note.alerts:
            self.metrics.latency.labels(name).observe(
                max(0.0, (now - alert.event_time).total_seconds())
            )

    async def _failed(
        self, group: Group, name: str, note: Notification, keys: set[AlertKey], exc: Exception
    ) -> None:
        state = group.channels[name]
        state.failures += 1
        retryable = getattr(exc, "retryable", True)
        reason = f"{type(exc).__name__}: {exc}"[:500]
        if retryable and state.failures < self.config.retry_attempts:
            delay = backoff(state.failures, self.config.retry_max_delay)
            state.retry_at = self.clock() + delay
            state.attempt = note
            self.metrics.notifications.labels(name, note.kind, "retried").inc()
            log.warning(
                "channel %s did not take %s (%s); retry %d in %.1fs",
                name,
                note.notification_id,
                reason,
                state.failures,
                delay,
            )
        else:
            await self.dead_letter(note, reason)
            state.delivered(keys, note.kind, self.clock())
            self.metrics.notifications.labels(name, note.kind, "dead_lettered").inc()
            log.error(
                "channel %s: %s sent to the dead-letter topic: %s",
                name,
                note.notification_id,
                reason,
            )
        await self.store.save_group(group)


def _quiet(group: Group, now: float, interval: timedelta) -> bool:
    sent = [s.last_sent_at for s in group.channels.values() if s.last_sent_at is not None]
    return bool(sent) and now - max(sent) > min(interval.total_seconds(), 3600.0)
