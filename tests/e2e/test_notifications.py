"""The drill through a live ``raqib worker`` into a webhook: one story, at most three
notifications, every alert event of ``alerts`` in one of them, each request signed.

The worker runs as an operator runs it (``python -m raqib worker``) with ``RAQIB_CHANNELS``
naming a channels file written here — issue 14's minimal file, its URL pointed at a
recording HTTP server on 127.0.0.1 — and the webhook secret in its environment. The drill
goes in twice: at full speed (all 68 articles in a second: the story may reach the channel
as its resolution alone), and paced over some twenty seconds of wall time, as a live feed
brings it, where the thread is a page, at most one update and the resolution.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from producers.publisher import Publisher
from producers.scenario import expand
from raqib.embedded import WorkerProcess, free_port
from raqib.messages import Alert
from raqib.notifications import Notification
from raqib.settings import Settings
from raqib.topics import ensure_topics
from tests.e2e.test_resilience import scrape
from tests.integration.channels.recording import Recorded, RecordingServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]

DRILL = Path(__file__).resolve().parents[2] / "seeds" / "scenarios" / "drill.yaml"
SECRET = "whsec-drill-8c2f4a"
MINIMAL = """\
channels:
  - name: ops-hook
    type: webhook
    url: {url}/hook
    secret_env: RAQIB_HOOK_SECRET
routes:
  - channels: [ops-hook]
"""
PACED = MINIMAL + "    group_wait: 2s\n    group_interval: 5s\n"
Event = tuple[str, str]


class Receiver:
    """The recording HTTP server on an event loop of its own, in a thread: the worker that
    posts to it is another process, and the test waits in plain blocking code."""

    def __init__(self) -> None:
        self.server = RecordingServer()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def requests(self) -> list[Recorded]:
        return list(self.server.requests)

    def __enter__(self) -> Receiver:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.__aenter__(), self._loop).result(10)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        closing = self.server.__aexit__(None, None, None)
        asyncio.run_coroutine_threadsafe(closing, self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


class AlertsTopic:
    """Every alert event the worker published to ``alerts`` (one partition), read as it comes."""

    def __init__(self, settings: Settings) -> None:
        self.consumer = KafkaConsumer(bootstrap_servers=settings.kafka_servers)
        part = TopicPartition(settings.topic_names.alerts, 0)
        self.consumer.assign([part])
        self.consumer.seek_to_beginning(part)
        self.alerts: list[Alert] = []

    def poll(self) -> list[Alert]:
        for batch in self.consumer.poll(timeout_ms=200).values():
            for record in batch:
                with contextlib.suppress(ValueError):  # what a test wrote there on purpose
                    self.alerts.append(Alert.model_validate_json(record.value))
        return self.alerts

    def close(self) -> None:
        self.consumer.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def settings_for(kafka_broker: Any, redis_server: Any, tmp_path: Path, channels: str) -> Settings:
    tag = uuid.uuid4().hex[:8]
    path = tmp_path / "channels.yaml"
    path.write_text(channels, encoding="utf-8")
    settings = Settings(
        kafka=kafka_broker.bootstrap,
        redis=redis_server.url,
        app_id=f"raqib-notify-{tag}",
        topic_prefix=f"notify-{tag}.",
        redis_prefix=f"notify-{tag}",
        partitions=1,
        web_port=free_port(),
        alerts_file=tmp_path / "alerts.jsonl",
        data_dir=tmp_path / "worker",
        channels=path,
    )
    ensure_topics(settings)
    return settings


def notifications(requests: list[Recorded]) -> list[Notification]:
    return [Notification.model_validate_json(r.body) for r in requests]


def carried(notes: list[Notification]) -> Counter[Event]:
    return Counter((a.alert_id, a.status) for n in notes for a in n.alerts)


def run_drill(
    settings: Settings,
    receiver: Receiver,
    tmp_path: Path,
    publish: Callable[[Publisher, list[dict[str, Any]]], None],
    timeout_s: float = 60.0,
    metrics: dict[str, float] | None = None,
) -> tuple[list[Alert], list[Recorded]]:
    """Start a worker, publish the drill with ``publish``, and wait until the webhook got
    every alert event the worker fired (72 of them: the backtest's count), then a little
    longer, so that a notification too many would show; ``metrics``, when given, gets the
    worker's /metrics samples of then (``test_resilience.scrape``'s keys)."""
    worker = WorkerProcess(settings, tmp_path / "worker-process").start()
    topic = AlertsTopic(settings)
    try:
        with Publisher(settings) as publisher:
            publish(publisher, expand(DRILL))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            alerts = topic.poll()
            got = carried(notifications(receiver.requests))
            if len(alerts) >= 72 and set(got) >= {(a.alert_id, a.status) for a in alerts}:
                break
        else:
            raise AssertionError(
                f"{len(topic.alerts)} alert events, {sum(got.values())} delivered in time"
            )
        time.sleep(3)  # three more delivery ticks: nothing else may come
        if metrics is not None:
            metrics.update(scrape(settings.web_port))
        return topic.poll(), receiver.requests
    finally:
        topic.close()
        worker.stop()


def check_delivery(alerts: list[Alert], requests: list[Recorded]) -> list[Notification]:
    """One story, every alert event of the topic in exactly one notification, each
    request signed with the secret and keyed by its notification id."""
    notes = notifications(requests)
    assert len({n.story_id for n in notes}) == 1, [n.story_id for n in notes]
    assert carried(notes) == Counter((a.alert_id, a.status) for a in alerts)
    for request, note in zip(requests, notes, strict=True):
        mac = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
        assert request.headers["X-Raqib-Signature"] == f"sha256={mac}"
        assert request.headers["Idempotency-Key"] == note.notification_id
        assert request.headers["X-Raqib-Kind"] == note.kind
    assert len({n.notification_id for n in notes}) == len(notes)
    last = max(notes, key=lambda n: n.seq)  # the thread's order, not the order they landed
    assert last.kind == "resolved" and last.status == "resolved", [(n.seq, n.kind) for n in notes]
    return notes


def at_once(publisher: Publisher, articles: list[dict[str, Any]]) -> None:
    """The drill as fast as the publisher sends it."""
    for article in articles:
        publisher.article(article)


def test_the_drill_at_full_speed_is_at_most_three_notifications(
    kafka_broker: Any,
    redis_server: Any,
    receiver: Receiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    report: Callable[[str], None],
) -> None:
    """Issue 14's minimal channels file, as written (its URL aside)."""
    monkeypatch.setenv("RAQIB_HOOK_SECRET", SECRET)
    settings = settings_for(kafka_broker, redis_server, tmp_path, MINIMAL.format(url=receiver.url))

    alerts, requests = run_drill(settings, receiver, tmp_path, at_once)
    notes = check_delivery(alerts, requests)
    report(
        f"drill through the worker at full speed, webhook ops-hook: {len(alerts)} alert events "
        f"({len({a.alert_id for a in alerts})} alerts) = {len(alerts)} messages before, "
        f"{len(notes)} notifications now ({', '.join(n.kind for n in notes)})"
    )
    assert len(alerts) == 72
    assert len(notes) <= 3
    assert [n.kind for n in notes[:-1]] in ([], ["page"], ["page", "update"])


def test_the_drill_paced_as_a_live_feed_is_a_page_an_update_and_a_resolution(
    kafka_broker: Any,
    redis_server: Any,
    receiver: Receiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    report: Callable[[str], None],
) -> None:
    """The quiet day at once, the surge an article every 0.8 s (its alerts fire over some
    four seconds), then the aftermath an article every 0.5 s (its resolutions come in
    three waves): group_wait 2 s, group_interval 5 s."""
    monkeypatch.setenv("RAQIB_HOOK_SECRET", SECRET)
    settings = settings_for(kafka_broker, redis_server, tmp_path, PACED.format(url=receiver.url))

    def paced(publisher: Publisher, articles: list[dict[str, Any]]) -> None:
        phases: dict[str, list[dict[str, Any]]] = {}
        for article in articles:
            phases.setdefault(article["id"].split("-")[1], []).append(article)
        for phase, pause_s, after_s in (
            ("quiet", 0.0, 2.0),
            ("surge", 0.8, 4.0),
            ("aftermath", 0.5, 0),
        ):
            for article in phases[phase]:
                publisher.article(article)
                if pause_s:
                    publisher.flush()
                    time.sleep(pause_s)
            publisher.flush()
            time.sleep(after_s)

    started = time.monotonic()
    alerts, requests = run_drill(settings, receiver, tmp_path, paced)
    notes = check_delivery(alerts, requests)
    kinds = [n.kind for n in notes]
    offsets = [round((n.created_at - notes[0].created_at).total_seconds(), 1) for n in notes]
    report(
        f"drill through the worker, paced over {time.monotonic() - started:.0f} s (group_wait "
        f"2 s, group_interval 5 s): {len(alerts)} alert events = {len(alerts)} messages "
        f"before, {len(notes)} notifications now ({', '.join(kinds)}) at +{offsets} s, "
        f"carrying {[len(n.alerts) for n in notes]} events"
    )
    assert kinds[0] == "page" and kinds[-1] == "resolved"
    assert kinds.count("update") <= 1 and len(notes) <= 3
    if "update" in kinds:
        assert offsets[1] >= 5.0  # group_interval after the page


def test_unreadable_events_on_alerts_are_counted_and_the_story_still_pages_at_once(
    kafka_broker: Any,
    redis_server: Any,
    receiver: Receiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    report: Callable[[str], None],
) -> None:
    """Whatever else writes to ``alerts`` (not JSON, JSON that is no alert event) is logged
    and counted by the route agent, which goes on: the drill's story is still delivered,
    every event once, through a route with no ``group_wait`` (what the events read together
    made due is handed on at once)."""
    monkeypatch.setenv("RAQIB_HOOK_SECRET", SECRET)
    channels = MINIMAL.format(url=receiver.url) + "    group_wait: 0s\n"
    settings = settings_for(kafka_broker, redis_server, tmp_path, channels)
    garbage = [b"\xff\xfe not an alert", '{"alert_id": "x", "status": "نعم"}'.encode()]
    producer = KafkaProducer(bootstrap_servers=settings.kafka_servers)
    for value in garbage:
        producer.send(settings.topic_names.alerts, value=value, partition=0)
    producer.flush()
    producer.close()

    metrics: dict[str, float] = {}
    alerts, requests = run_drill(settings, receiver, tmp_path, at_once, metrics=metrics)
    notes = check_delivery(alerts, requests)
    errors = metrics.get("raqib_processing_errors_total|route", 0)
    report(
        f"alerts topic with {len(garbage)} unreadable messages before the drill: {errors:.0f} "
        f"counted as route errors, {len(notes)} notifications "
        f"({', '.join(n.kind for n in notes)}) carrying all {len(alerts)} alert events"
    )
    assert errors == len(garbage)
    assert len(alerts) == 72 and len(notes) <= 3
