"""The router against real servers on 127.0.0.1: Redis for its state, a recording HTTP
server for its webhook channels, and the fault table of issue 14.

Each test drives :class:`alerts.Router` as the worker does — ``accept`` per alert event,
``tick`` on a timer, one delivery task per channel — with a clock it moves by hand, so
``group_wait``, ``group_interval`` and the retry back-off are crossed on purpose rather
than waited out. The alerts are the real ones the drill fires (``raqib backtest`` on
``seeds/scenarios/drill.yaml``: 36 alerts of one story, 72 events); a ``dead_letter``
callable that collects into a list stands in for ``alerts.dlq``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from alerts import ChannelsFile, Router, RouterMetrics, RouterStore, Silences, load_rules
from alerts.channels.base import Context
from alerts.silences import Silence
from alerts.stories import due
from processors.backtest import backtest
from processors.pipeline import Pipeline
from processors.topics import load_topics
from processors.watchlist import load_watchlist
from producers.scenario import expand
from producers.seeds import load_seed_dir
from raqib.embedded import free_port
from raqib.messages import Alert, Evidence
from raqib.notifications import Notification
from raqib.settings import Settings
from tests.integration.channels.recording import Answer, Recorded, RecordingServer
from tests.unit.processors.test_backtest import STORY_SEED, steady, story

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

ROOT = Path(__file__).resolve().parents[2]
DRILL = ROOT / "seeds" / "scenarios" / "drill.yaml"
SECRET = "whsec-router-2b7e51"
T = TypeVar("T")
Event = tuple[str, str]
"""(alert_id, status): one alert event of the ``alerts`` topic."""


@dataclass(frozen=True)
class Fired:
    """What ``raqib backtest`` fires on a stream, and the names the worker would use."""

    alerts: list[Alert]
    names: Callable[[str], tuple[str, str]]

    @property
    def firing(self) -> list[Alert]:
        return [a for a in self.alerts if a.status == "firing"]

    @property
    def resolved(self) -> list[Alert]:
        return [a for a in self.alerts if a.status == "resolved"]


def fire(articles: list[dict[str, Any]], pipeline: Pipeline) -> list[Alert]:
    lines = [json.dumps(a, ensure_ascii=False, default=str).encode() for a in articles]
    return [a for a in asyncio.run(backtest(lines, pipeline, load_rules())) if isinstance(a, Alert)]


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    watchlist = load_watchlist()
    return Pipeline(watchlist, load_topics(None, watchlist))


@pytest.fixture(scope="module")
def drill(pipeline: Pipeline) -> Fired:
    """The drill's 72 alert events, in the order the worker publishes them."""
    alerts = fire(expand(DRILL), pipeline)
    assert len(alerts) == 72
    return Fired(alerts, pipeline.names)


@pytest.fixture(scope="module")
def two_days(pipeline: Pipeline) -> Fired:
    """Two steady days of seed news and a breaking story of 100 copies on day two (the
    stream of ``tests/unit/processors/test_backtest.py``)."""
    seeds = load_seed_dir(ROOT / "seeds")
    news = yaml.safe_load((ROOT / "tests" / "data" / "news_ar.yaml").read_text("utf-8"))
    outlets = list(news["sources"])
    rng = random.Random(13)
    days = steady(seeds, outlets[:6], 2, rng)
    breaking = story(seeds[STORY_SEED], outlets[2:], rng)
    stream = sorted(days + breaking, key=lambda a: str(a["published_at"]))
    return Fired(fire(stream, pipeline), pipeline.names)


class Clock:
    """The router's wall clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1_764_489_600.0  # 2025-11-30 08:00 UTC

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def webhook(name: str, url: str, **options: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": "webhook",
        "url": url,
        "secret_env": "RAQIB_HOOK_SECRET",
        **options,
    }


@dataclass
class Rig:
    """A router on real Redis with webhook channels, its clock, metrics and dead letters."""

    router: Router
    clock: Clock
    store: RouterStore
    registry: CollectorRegistry
    dead: list[tuple[Notification, str]] = field(default_factory=list)

    async def accept(self, *alerts: Alert) -> None:
        for alert in alerts:
            await self.router.accept(alert)

    def busy(self) -> bool:
        """Whether a thread is due now (handed to its channel and not yet done with)."""
        router = self.router
        return any(
            due(state, self.clock(), router.pace(router.routes[g.route], name)) is not None
            for g in router.groups.values()
            for name, state in g.channels.items()
        )

    async def settle(self, until: Callable[[], bool] | None = None, timeout_s: float = 5.0) -> None:
        """Tick, and let the channel tasks run, until ``until`` holds (by default: until
        nothing is due any more); then a moment more, so that a bookkeeping write that
        follows a delivery lands before the test moves the clock again."""
        done = until or (lambda: not self.busy())
        await self.router.tick()
        if until is None and done():
            return  # nothing was due
        deadline = time.monotonic() + timeout_s
        while True:
            await asyncio.sleep(0.01)
            if done():
                break
            if time.monotonic() > deadline:
                raise AssertionError("the router did not settle in time")
            await self.router.tick()
        for _ in range(5):
            await asyncio.sleep(0.01)

    async def at(self, seconds: float) -> None:
        """Move the clock ``seconds`` on and deliver whatever that makes due."""
        self.clock.advance(seconds)
        await self.settle()

    def outcomes(self, channel: str) -> Counter[str]:
        """The channel's notifications by result (delivered, retried, dead_lettered, repeat)."""
        found: Counter[str] = Counter()
        for family in self.registry.collect():
            for sample in family.samples:
                if (
                    sample.name == "raqib_notifications_total"
                    and sample.labels["channel"] == channel
                ):
                    found[sample.labels["result"]] += int(sample.value)
        return found


@asynccontextmanager
async def rigged(
    redis_url: str,
    prefix: str,
    channels: list[dict[str, Any]],
    names: Callable[[str], tuple[str, str]],
    *,
    route: dict[str, Any] | None = None,
    silences: bool = False,
    **options: Any,
) -> AsyncIterator[Rig]:
    """A rig whose Redis keys (``prefix:*``) are deleted when it closes."""
    config = ChannelsFile.model_validate(
        {
            "channels": channels,
            "routes": [{"channels": [c["name"] for c in channels]} | (route or {})],
            **options,
        }
    )
    redis = Redis.from_url(redis_url)
    store = RouterStore(redis, prefix)
    rig = await make_rig(
        config, store, names, silences=Silences(redis, prefix) if silences else None
    )
    try:
        yield rig
    finally:
        await rig.router.close()
        keys = [k async for k in redis.scan_iter(match=f"{prefix}:*", count=10_000)]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


async def make_rig(
    config: ChannelsFile,
    store: RouterStore,
    names: Callable[[str], tuple[str, str]],
    *,
    clock: Clock | None = None,
    silences: Silences | None = None,
) -> Rig:
    registry = CollectorRegistry()
    dead: list[tuple[Notification, str]] = []

    async def dead_letter(notification: Notification, error: str) -> None:
        dead.append((notification, error))

    clock = clock or Clock()
    router = Router.build(
        config,
        Context(settings=Settings()),
        store=store,
        names=names,
        dead_letter=dead_letter,
        metrics=RouterMetrics.create(registry),
        silences=silences,
        clock=clock,
    )
    await router.start()
    return Rig(router, clock, store, registry, dead)


def notifications(requests: list[Recorded]) -> list[Notification]:
    return [Notification.model_validate_json(r.body) for r in requests]


def events(notes: list[Notification]) -> Counter[Event]:
    """How many notifications carried each alert event."""
    return Counter((a.alert_id, a.status) for n in notes for a in n.alerts)


def keys(alerts: list[Alert]) -> Counter[Event]:
    return Counter((a.alert_id, a.status) for a in alerts)


def unrelated(alert: Alert, news_ar: dict[str, Any]) -> Alert:
    """An alert about something else: another headline, no article in common."""
    title, outlet = news_ar["headlines"][1], news_ar["sources"][2]
    return alert.model_copy(
        update={
            "alert_id": "9d41c0b7e2a85f36a1c4",
            "subject": "entity:mohammad-javad-zarif",
            "articles": [
                Evidence(id=f"zarif-{i:05d}", title=title, source=outlet) for i in range(3)
            ],
        }
    )


def resolution(alert: Alert, after: timedelta) -> Alert:
    return alert.model_copy(
        update={"status": "resolved", "articles": [], "event_time": alert.event_time + after}
    )


def run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(main())


# --- one notification thread per story ------------------------------------------------------


def test_a_story_is_one_page_at_most_one_update_per_interval_and_one_resolution(
    drill: Fired,
    news_ar: dict[str, Any],
    redis_server: Any,
    unique: str,
    monkeypatch: pytest.MonkeyPatch,
    report: Callable[[str], None],
) -> None:
    """36 alerts sharing evidence, arriving in waves over five minutes, then resolving:
    one page, one update, one resolution; an unrelated alert is a story of its own."""
    monkeypatch.setenv("RAQIB_HOOK_SECRET", SECRET)
    by_time = sorted({a.event_time for a in drill.firing})
    waves = [[a for a in drill.firing if a.event_time == t] for t in by_time]
    other = unrelated(drill.firing[0], news_ar)

    async def main() -> list[Recorded]:
        async with RecordingServer() as server:
            hook = webhook("ops-hook", f"{server.url}/hook")
            async with rigged(redis_server.url, unique, [hook], drill.names) as rig:
                await rig.accept(*waves[0], other)  # 4 "new" alerts, and something else
                await rig.at(9.5)
                assert server.requests == []  # group_wait: 10 s
                await rig.at(0.5)
                assert len(server.requests) == 2  # a page per story
                for wave in waves[1:]:
                    await rig.at(20)
                    await rig.accept(*wave)
                await rig.at(300 - 3 * 20 - 0.5)
                assert len(server.requests) == 2  # group_interval: 5 min since the page
                await rig.at(0.5)
                assert len(server.requests) == 3  # one update with every later alert
                await rig.at(30)
                await rig.accept(*drill.resolved, resolution(other, timedelta(minutes=40)))
                await rig.at(10.5)
                assert len(server.requests) == 5  # one resolution per story
                await rig.at(3600)
                await rig.at(60)
                assert rig.registry.get_sample_value("raqib_router_groups") == 0
                for key in (rig.store.groups_key, rig.store.alerts_key, rig.store.articles_key):
                    assert await rig.store.redis.hlen(key) == 0, key  # forgotten, all of it
                assert rig.router.book.alerts == {} and rig.router.book.articles == {}
            return server.requests

    requests = run(main)
    notes = notifications(requests)
    stories: dict[str, list[Notification]] = {}
    for n in notes:
        stories.setdefault(n.story_id, []).append(n)
    [story] = [s for s in stories.values() if len(s) == 3]
    [elsewhere] = [s for s in stories.values() if len(s) == 2]
    report(
        f"router, the drill's 72 alert events in 4 firing waves then resolved: "
        f"{len(story)} notifications ({', '.join(n.kind for n in story)}), "
        f"the unrelated alert {len(elsewhere)}"
    )
    assert [n.kind for n in story] == ["page", "update", "resolved"]
    assert [n.kind for n in elsewhere] == ["page", "resolved"]
    page, update, resolved = story
    assert events([page]) == keys(waves[0])  # the page carries every alert of the story so far
    assert update.created_at - page.created_at >= timedelta(minutes=5)
    assert events([update]) == keys([a for w in waves[1:] for a in w])
    assert events([resolved]) == keys(drill.resolved)
    assert resolved.status == "resolved" and {s.status for s in resolved.subjects} == {"resolved"}
    assert len(resolved.subjects) == 36
    # the resolution still names the story (its headline and outlets), not a subject
    assert resolved.title == page.title == update.title
    assert resolved.outlets and set(resolved.outlets) <= set(update.outlets)
    # every alert event in exactly one notification; none hidden, none twice
    assert events(notes) == keys([*drill.alerts, other, resolution(other, timedelta(0))])
    # the evidence once, and only the story's own
    assert len({e.id for e in page.evidence}) == len(page.evidence) > 0
    assert all(e.id.startswith("drill-surge-") for n in story for e in n.evidence)
    assert {e.id for n in elsewhere for e in n.evidence} == {f"zarif-{i:05d}" for i in range(3)}
    assert elsewhere[0].title == news_ar["headlines"][1] != page.title
    for request, note in zip(requests, notes, strict=True):
        assert request.headers["Idempotency-Key"] == note.notification_id
        assert request.headers["X-Raqib-Kind"] == note.kind
        mac = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
        assert request.headers["X-Raqib-Signature"] == f"sha256={mac}"
    assert len({n.notification_id for n in notes}) == len(notes)


def test_a_wave_read_together_pages_at_once_as_one_page_when_there_is_no_group_wait(
    drill: Fired, redis_server: Any, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The route agent accepts the events it read together, then hands on what they made
    due: with no ``group_wait`` the drill's first wave (four alerts of one story) is one
    page at once, while nothing ticks and the clock stands still (the worker's timer,
    every quarter second, is what a page used to wait for); with a ``group_wait`` of
    10 s nothing is handed on."""
    monkeypatch.setenv("RAQIB_HOOK_SECRET", SECRET)
    first = min(a.event_time for a in drill.firing)
    wave = [a for a in drill.firing if a.event_time == first]

    async def accepted(rig: Rig) -> None:
        touched: list[str] = []
        for alert in wave:
            touched += await rig.router.accept(alert)
        rig.router.hand_due(touched)

    async def main() -> tuple[list[Recorded], list[Recorded]]:
        async with RecordingServer() as server:
            paging = webhook("duty-hook", f"{server.url}/page")
            async with rigged(
                redis_server.url, unique, [paging], drill.names, route={"group_wait": "0s"}
            ) as rig:
                await accepted(rig)
                deadline = time.monotonic() + 5
                while not server.requests and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
                await asyncio.sleep(0.2)
                paged = list(server.requests)
            async with rigged(redis_server.url, f"{unique}-wait", [paging], drill.names) as rig:
                await accepted(rig)
                await asyncio.sleep(0.3)
                return paged, server.requests[len(paged) :]

    paged, early = run(main)
    assert len(wave) > 1
    assert [n.kind for n in notifications(paged)] == ["page"]
    assert events(notifications(paged)) == keys(wave)
    assert early == []


def test_a_webhook_takes_pages_of_different_stories_at_once_and_one_story_in_order(
    drill: Fired,
    news_ar: dict[str, Any],
    redis_server: Any,
    unique: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A slow receiver (each answer 3 s late) does not make one story's page wait for
    another's: both POSTs arrive before either is answered (a channel delivering one
    notification at a time sends the second 3 s later). A story's resolution still
    waits for its own page to be answered."""
    monkeypatch.setenv("RAQIB_HOOK_SECRET", SECRET)
    slow = Answer(delay_s=3.0)
    first = drill.firing[0]
    other = unrelated(first, news_ar)

    async def main() -> list[Recorded]:
        async with RecordingServer(default=slow) as server:
            hook = webhook("ops-hook", f"{server.url}/hook", max_in_flight=2)
            async with rigged(
                redis_server.url, unique, [hook], drill.names, route={"group_wait": "0s"}
            ) as rig:
                began = time.monotonic()
                rig.router.hand_due(
                    [*await rig.router.accept(first), *await rig.router.accept(other)]
                )
                while len(server.requests) < 2 and time.monotonic() - began < 2.5:
                    await asyncio.sleep(0.01)
                assert len(server.requests) == 2, "one story's page waited for another's answer"
                ended = resolution(first, timedelta(minutes=40))
                rig.router.hand_due(await rig.router.accept(ended))
                await asyncio.sleep(0.5)
                assert len(server.requests) == 2  # the resolution waits for the page's answer
                await rig.settle(lambda: len(server.requests) == 3, timeout_s=10)
                return server.requests

    notes = notifications(run(main))
    assert [n.kind for n in notes] == ["page", "page", "resolved"]
    assert {n.story_id for n in notes[:2]} == {n.story_id for n in notes}


def test_alerts_that_share_no_article_but_share_a_third_are_one_story(
    drill: Fired, redis_server: Any, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Transitively linked: A and C share nothing, both share an article with B."""
    monkeypatch.setenv("RAQIB_HOOK_SECRET", SECRET)
    base = drill.firing[0]

    def alert(i: int, articles: list[str]) -> Alert:
        evidence = [Evidence(id=a, title=base.articles[0].title) for a in articles]
        return base.model_copy(
            update={"alert_id": f"link-{i}", "subject": f"entity:e{i}", "articles": evidence}
        )

    async def main() -> list[Recorded]:
        async with RecordingServer() as server:
            hook = webhook("ops-hook", f"{server.url}/hook")
            async with rigged(redis_server.url, unique, [hook], drill.names) as rig:
                await rig.accept(alert(1, ["x1", "x2"]), alert(2, ["x2", "x3"]))
                await rig.accept(alert(3, ["x3", "x4"]))
                await rig.at(10)
            return server.requests

    [note] = notifications(run(main))
    assert sorted(a.alert_id for a in note.alerts) == ["link-1", "link-2", "link-3"]


# --- the fault table ------------------------------------------------------------------------


def test_500_three_times_then_200_is_delivered_once(
    drill: Fired,
    redis_server: Any,
    unique: str,
    monkeypatch: pytest.MonkeyPatch,
    report: Callable[[str], None],
) -> None:
    monkeypatch.setenv("RAQIB_HOOK_SECRET", SECRET)
    wave = [a for a in drill.firing if a.event_time == drill.firing[0].event_time]

    async def main() -> tuple[list[Recorded], Rig, list[float]]:
        script = [Answer(500, "oops")] * 3
        async with RecordingServer(*script) as server:
            hook = webhook("ops-hook", f"{server.url}/hook")
            async with rigged(
                redis_server.url, unique, [hook], drill.names, retry_max_delay="4s"
            ) as rig:
                await rig.accept(*wave)
                await rig.at(10)
                sent_at = [rig.clock()]
                while len(server.requests) < 4:
                    n = len(server.requests)
                    await rig.at(0.5)  # back-off starts at 1 s: no retry yet
                    assert len(server.requests) == n
                    for _ in range(10):  # then, within the back-off's ceiling, one retry
                        await rig.at(0.5)
                        if len(server.requests) > n:
                            sent_at.append(rig.clock())
                            break
                    assert len(server.requests) == n + 1, "no retry within 5.5 s"
                await rig.at(3600)  # nothing more: it was taken
            return server.requests, rig, sent_at

    requests, rig, sent_at = run(main)
    gaps = [round(b - a, 1) for a, b in zip(sent_at, sent_at[1:], strict=False)]
    report(f"router, receiver answers 500 x3 then 200: {len(requests)} requests, gaps {gaps} s")
    assert len(requests) == 4  # three answered 500, one 200: delivered once
    assert len({r.headers["Idempotency-Key"] for r in requests}) == 1
    assert len({r.body for r in requests}) == 1  # the same notification each time
    assert rig.outcomes("ops-hook") == {"retried": 3, "delivered": 1}
    assert rig.dead == []


def test_a_retry_resends_what_failed_and_later_alerts_wait_for_the_next_notification(
    drill: Fired, redis_server: Any, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A receiver that took the page but answered too late dedupes the retry on its
    ``Idempotency-Key``: the retry must carry the same events, or those that arrived in
    between would be dropped with it."""
    monkeypatch.setenv("RAQIB_HOOK_SECRET", SECRET)
    by_time = sorted({a.event_time for a in drill.firing})
    first, later = ([a for a in drill.firing if a.event_time == t] for t in by_time[:2])

    async def main() -> list[Recorded]:
        async with RecordingServer(Answer(503, "busy")) as server:
            hook = webhook("ops-hook", f"{server.url}/hook")
            async with rigged(
                redis_server.url, unique, [hook], drill.names, retry_max_delay="2s"
            ) as rig:
                await rig.accept(*first)
                await rig.at(10)
                await rig.accept(*later)
                await rig.at(2)
                assert len(server.requests) == 2
                await rig.at(300)
            return server.requests

    requests = run(main)
    assert [r.headers["X-Raqib-Kind"] for r in requests] == ["page", "page", "update"]
    failed, retried, update = requests
    assert retried.body == failed.body  # byte for byte, signature and all
    assert retried.headers["X-Raqib-Signature"] == failed.headers["X-Raqib-Signature"]
    assert events(notifications([retried])) == keys(first)
    assert events(notifications([update])) == keys(later)


def test_a_receiver_that_is_down_is_retried_then_dead_lettered(
    drill: Fired,
    redis_server: Any,
    unique: str,
    monkeypatch: pytest.MonkeyPatch,
    report: Callable[[str], None],
) -> None:
    monkeypatch.setenv("RAQIB_HOOK_SECRET", SECRET)
    wave = [a for a in drill.firing if a.event_time == drill.firing[0].event_time]
    hook = webhook("ops-hook", f"http://127.0.0.1:{free_port()}/hook")  # nothing listens

    async def main() -> Rig:
        async with rigged(
            redis_server.url,
            unique,
            [hook],
            drill.names,
            retry_attempts=4,
            retry_max_delay="2s",
        ) as rig:
            await rig.accept(*wave)
            await rig.at(10)
            for _ in range(10):
                if rig.dead:
                    break
                await rig.at(2)
            attempts = rig.outcomes("ops-hook")
            await rig.at(3600)  # dead-lettered: not tried again
            assert rig.outcomes("ops-hook") == attempts
            return rig

    rig = run(main)
    [(note, error)] = rig.dead
    report(f"router, receiver down: {dict(rig.outcomes('ops-hook'))}; dead letter: {error}")
    assert rig.outcomes("ops-hook") == {"retried": 3, "dead_lettered": 1}
    assert note.kind == "page" and events([note]) == keys(wave)
    assert error.startswith("DeliveryError: webhook ops-hook") and "Connect" in error
    assert SECRET not in error


def test_a_400_is_dead_lettered_at_once(
    drill: Fired, redis_server: Any, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAQIB_HOOK_SECRET", SECRET)
    wave = [a for a in drill.firing if a.event_time == drill.firing[0].event_time]

    async def main() -> tuple[list[Recorded], Rig]:
        async with RecordingServer(Answer(400, "unknown field: subjects")) as server:
            hook = webhook("ops-hook", f"{server.url}/hook")
            async with rigged(redis_server.url, unique, [hook], drill.names) as rig:
                await rig.accept(*wave)
                await rig.at(10)
                await rig.at(3600)
            return server.requests, rig

    requests, rig = run(main)
    assert len(requests) == 1
    [(note, error)] = rig.dead
    assert "HTTP 400" in error and "unknown field" in error
    assert rig.outcomes("ops-hook") == {"dead_lettered": 1}


def test_a_router_killed_after_delivering_does_not_deliver_again(
    drill: Fired,
    redis_server: Any,
    unique: str,
    monkeypatch: pytest.MonkeyPatch,
    report: Callable[[str], None],
) -> None:
    """The kill lands between the delivery mark and the group's state: the write of the
    group after the channel took the page fails (as a process killed there never makes
    it), so Redis holds what a killed router leaves — the group as ``accept`` saved it,
    page pending, and the mark of the page. The router is stopped (its memory is gone)
    and a new one loads Redis."""
    monkeypatch.setenv("RAQIB_HOOK_SECRET", SECRET)
    by_time = sorted({a.event_time for a in drill.firing})
    first, later = ([a for a in drill.firing if a.event_time == t] for t in by_time[:2])

    async def main() -> tuple[list[Recorded], Rig]:
        async with RecordingServer() as server:
            hook = webhook("ops-hook", f"{server.url}/hook")
            async with rigged(redis_server.url, unique, [hook], drill.names) as rig:
                killed = rig.store.save_group

                async def dies(group: Any) -> None:
                    raise ConnectionError("killed after mark_sent, before save_group")

                monkeypatch.setattr(rig.store, "save_group", dies)
                await rig.accept(*first)
                await rig.at(10)
                assert len(server.requests) == 1
                await rig.router.stop()
                monkeypatch.setattr(rig.store, "save_group", killed)

                again = await make_rig(rig.router.config, rig.store, drill.names, clock=rig.clock)
                try:
                    await again.at(10)
                    await again.at(3600)
                    assert len(server.requests) == 1  # not sent again
                    await again.accept(*later)
                    await again.at(300)
                finally:
                    await again.router.close()
            return server.requests, again

    requests, again = run(main)
    notes = notifications(requests)
    report(
        f"router killed between the mark and the state, restarted: "
        f"{[n.kind for n in notes]} delivered, {dict(again.outcomes('ops-hook'))}"
    )
    assert again.outcomes("ops-hook") == {"repeat": 1, "delivered": 1}
    assert [n.kind for n in notes] == ["page", "update"]
    assert [n.seq for n in notes] == [1, 2]
    assert events(notes) == keys(first + later)


def test_a_router_killed_before_the_mark_resends_with_the_same_idempotency_key(
    drill: Fired, redis_server: Any, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one window left: the channel took it and the router died before marking it.
    The page goes again, under the same ``Idempotency-Key``, for the receiver to drop."""
    monkeypatch.setenv("RAQIB_HOOK_SECRET", SECRET)
    first = [a for a in drill.firing if a.event_time == drill.firing[0].event_time]

    async def main() -> list[Recorded]:
        async with RecordingServer() as server:
            hook = webhook("ops-hook", f"{server.url}/hook")
            async with rigged(redis_server.url, unique, [hook], drill.names) as rig:
                marks = rig.store.mark_sent

                async def dies(notification_id: str, keys: Any) -> None:
                    raise ConnectionError("killed after the channel took it")

                monkeypatch.setattr(rig.store, "mark_sent", dies)
                await rig.accept(*first)
                rig.clock.advance(10)
                await rig.settle(lambda: len(server.requests) == 1)
                await rig.router.stop()
                monkeypatch.setattr(rig.store, "mark_sent", marks)
                again = await make_rig(rig.router.config, rig.store, drill.names, clock=rig.clock)
                try:
                    await again.at(10)
                    await again.at(3600)
                finally:
                    await again.router.close()
            return server.requests

    requests = run(main)
    assert len(requests) == 2
    assert len({r.headers["Idempotency-Key"] for r in requests}) == 1


class Unanswering:
    """A listening socket that takes connections and never answers (a hung receiver)."""

    def __init__(self) -> None:
        self.connections = 0
        self.received = b""
        self._server: asyncio.Server | None = None
        self._held: list[asyncio.StreamWriter] = []
        self.port = 0

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._held.append(writer)
        self.received += await reader.read(65536)

    async def __aenter__(self) -> Unanswering:
        self._server = await asyncio.start_server(self._hold, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for writer in self._held:
            writer.close()
        if self._server is not None:
            self._server.close()


def test_one_channel_hung_the_other_delivers_on_time(
    drill: Fired,
    redis_server: Any,
    unique: str,
    monkeypatch: pytest.MonkeyPatch,
    report: Callable[[str], None],
) -> None:
    """Real time here (the worker's clock), with the tick every 50 ms: the healthy channel
    pages within group_wait and updates within group_interval while the other hangs."""
    monkeypatch.setenv("RAQIB_HOOK_SECRET", SECRET)
    by_time = sorted({a.event_time for a in drill.firing})
    waves = [[a for a in drill.firing if a.event_time == t] for t in by_time]
    wait_s, interval_s, slack_s = 1.0, 2.0, 0.5

    async def until(condition: Callable[[], bool], router: Router, timeout_s: float) -> float:
        started = time.monotonic()
        while not condition():
            if time.monotonic() - started > timeout_s:
                raise AssertionError("not delivered in time")
            await router.tick()
            await asyncio.sleep(0.05)
        return time.monotonic() - started

    async def main() -> tuple[float, float, int, Counter[str]]:
        async with RecordingServer() as server, Unanswering() as hung:
            channels = [
                webhook("hung-hook", f"http://127.0.0.1:{hung.port}/hook", timeout_s=5),
                webhook("ops-hook", f"{server.url}/hook"),
            ]
            route = {"group_wait": f"{wait_s}s", "group_interval": f"{interval_s}s"}
            async with rigged(redis_server.url, unique, channels, drill.names, route=route) as rig:
                rig.clock.now = time.time()
                rig.router.clock = time.time
                await rig.accept(*waves[0])
                page_s = await until(lambda: len(server.requests) == 1, rig.router, 5)
                paged = time.monotonic()
                await rig.accept(*waves[1])
                await until(lambda: len(server.requests) == 2, rig.router, 5)
                update_s = time.monotonic() - paged
                hung_outcomes = rig.outcomes("hung-hook")
                return page_s, update_s, hung.connections, hung_outcomes

    page_s, update_s, connections, hung_outcomes = run(main)
    report(
        f"router, one channel hung: the other paged in {page_s:.2f} s (group_wait {wait_s} s) "
        f"and updated {update_s:.2f} s after the page (group_interval {interval_s} s)"
    )
    assert connections == 1 and hung_outcomes == {}  # the hung channel still waits
    assert wait_s - 0.05 <= page_s <= wait_s + slack_s
    assert interval_s - 0.1 <= update_s <= interval_s + slack_s


def test_a_silenced_alert_is_counted_and_not_delivered(
    drill: Fired, redis_server: Any, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAQIB_HOOK_SECRET", SECRET)
    wave = [a for a in drill.firing if a.event_time == drill.firing[0].event_time]
    hatami = [a for a in wave if a.subject == "entity:amir-hatami"]
    assert len(hatami) == 1 and len(wave) == 4

    async def main() -> tuple[list[Recorded], Rig]:
        async with RecordingServer() as server:
            hook = webhook("ops-hook", f"{server.url}/hook")
            async with rigged(redis_server.url, unique, [hook], drill.names, silences=True) as rig:
                silence = Silence.create(
                    {"rule": "entity-*", "subject": "entity:amir-hatami"},
                    datetime.now(UTC),
                    timedelta(hours=2),
                    "known visit",
                )
                assert rig.router.silences is not None
                await rig.router.silences.add(silence)
                await rig.accept(*wave)
                await rig.at(10)
            return server.requests, rig

    requests, rig = run(main)
    [note] = notifications(requests)
    assert events([note]) == keys([a for a in wave if a not in hatami])
    assert "entity:amir-hatami" not in {s.subject for s in note.subjects}
    silenced = rig.registry.get_sample_value("raqib_alerts_silenced_total", {"rule": "entity-new"})
    assert silenced == 1


# --- the two-day stream's story -------------------------------------------------------------


async def replay(rig: Rig, alerts: list[Alert], speedup: float, step_s: float = 5.0) -> None:
    """Accept ``alerts`` as a live stream would bring them, event time divided by
    ``speedup`` (``inf``: all at once), ticking every ``step_s`` of the clock."""
    start = min(a.event_time for a in alerts)
    origin = rig.clock()
    queue = sorted(alerts, key=lambda a: a.event_time)

    def arrival(alert: Alert) -> float:
        if speedup == float("inf"):
            return origin
        return origin + (alert.event_time - start).total_seconds() / speedup

    while queue:
        while queue and arrival(queue[0]) <= rig.clock():
            await rig.accept(queue.pop(0))
        await rig.at(step_s)
    await rig.at(3600)


@pytest.mark.parametrize("speedup", [1.0, 60.0, float("inf")], ids=["live", "60x", "at-once"])
def test_the_two_day_streams_story_is_at_most_three_notifications(
    two_days: Fired,
    redis_server: Any,
    unique: str,
    monkeypatch: pytest.MonkeyPatch,
    report: Callable[[str], None],
    speedup: float,
) -> None:
    monkeypatch.setenv("RAQIB_HOOK_SECRET", SECRET)
    story_ids = {f"story-{i:03d}" for i in range(100)}
    about = {a.alert_id for a in two_days.alerts if {e.id for e in a.articles} & story_ids}
    told = [a for a in two_days.alerts if a.alert_id in about]
    assert len(told) >= 40

    async def main() -> list[Recorded]:
        async with RecordingServer() as server:
            hook = webhook("ops-hook", f"{server.url}/hook")
            async with rigged(redis_server.url, unique, [hook], two_days.names) as rig:
                await replay(rig, two_days.alerts, speedup)
            return server.requests

    notes = notifications(run(main))
    mine = [n for n in notes if {a.alert_id for a in n.alerts} & about]
    report(
        f"router, the two-day stream's story ({len(told)} alert events) at {speedup}x: "
        f"{len(mine)} notifications ({', '.join(n.kind for n in mine)}); "
        f"{len(notes)} in all for {len(two_days.alerts)} events"
    )
    assert len({n.story_id for n in mine}) == 1
    assert len(mine) <= 3
    assert events(mine) == keys(told)
    assert events(notes) == keys(two_days.alerts)
