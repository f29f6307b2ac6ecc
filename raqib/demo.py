"""``raqib demo``: the whole pipeline on this machine, from nothing, in about a minute.

It starts the embedded broker and Redis, runs ``raqib worker`` and ``raqib replay`` as
child processes (exactly as an operator would), and watches ``articles.tagged``,
``articles.dlq`` and ``alerts`` to show what happens. It stops when every published
message is accounted for and every mention counted, then stops all it started.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.markup import escape

from raqib.embedded import WorkerProcess, embedded_stack, free_port
from raqib.exceptions import RaqibError
from raqib.security import kafka_auth
from raqib.settings import Settings
from raqib.topics import ensure_topics


@dataclass
class Summary:
    articles: int = 0
    mentions: int = 0
    alerts: int = 0
    resolved: int = 0
    dead_letters: int = 0
    notifications: int = 0
    stories: int = 0

    def line(self) -> str:
        return (
            f"demo: {self.articles} articles, {self.mentions} mentions, {self.alerts} alerts "
            f"in {self.stories} stories ({self.notifications} notifications)"
        )


def _scrape(url: str) -> dict[str, float]:
    """Sum each sample name over its labels: all the demo needs from /metrics."""
    with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - local worker
        text = response.read().decode()
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


def _run(cmd: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RaqibError(f"{' '.join(cmd[2:])} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout


def _notifications(path: Path) -> list[dict[str, Any]]:
    """What the jsonl channel wrote: one story notification a line."""
    try:
        with path.open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except FileNotFoundError:
        return []


def _show_stories(console: Console, notes: list[dict[str, Any]]) -> None:
    """What the person on duty was told: the stories, as the console channel prints them."""
    import asyncio

    from alerts.channels.console import ConsoleChannel, ConsoleConfig
    from raqib.notifications import Notification

    channel = ConsoleChannel(ConsoleConfig(name="console", type="console"), console=console)
    console.print("[bold]what the duty desk was told[/] (one thread per story and channel):")
    for note in notes:
        asyncio.run(channel.deliver(Notification.model_validate(note), None))


def _events(path: Path) -> int:
    """Alert events delivered to the jsonl channel, across its notifications."""
    return sum(len(n["alerts"]) for n in _notifications(path))


class _Display:
    """Shows tagged articles, dead letters and alerts as they arrive."""

    def __init__(self, console: Console, summary: Summary) -> None:
        self.console = console
        self.summary = summary

    def tagged(self, value: dict[str, Any]) -> None:
        self.summary.articles += 1
        names: list[str] = []
        for e in value.get("entities", []):
            if e["name"] not in names:
                names.append(e["name"])
        when = str(value.get("published_at", ""))[:16]
        title = escape(str(value.get("title") or value.get("id"))[:60])
        source = escape(str(value.get("source", ""))[:20])
        self.console.print(
            f"[dim]{when} {source}[/] [bold]{title}[/] [cyan]{escape('، '.join(names[:6]))}[/]"
            + (f" [dim]+{len(names) - 6}[/]" if len(names) > 6 else ""),
            markup=True,
        )

    def dead_letter(self, headers: list[tuple[str, bytes]]) -> None:
        self.summary.dead_letters += 1
        reason = dict(headers).get("raqib-reason", b"?").decode("utf-8", "replace")
        self.console.print(f"[magenta]DEAD LETTER[/] {escape(reason)}", markup=True)

    def alert(self, value: dict[str, Any]) -> None:
        if value["status"] == "firing":
            self.summary.alerts += 1
            style = "bold red"
        else:
            self.summary.resolved += 1
            style = "green"
        self.console.print(
            f"[{style}]ALERT {value['status'].upper()}[/] {escape(value['summary'])}", markup=True
        )


_INTERRUPTED = threading.Event()
"""Ctrl-C seen: a client library that swallows KeyboardInterrupt must not make the demo
finish as if nothing happened (it stops everything and exits non-zero)."""


def _on_sigint(signum: int, frame: object) -> None:
    _INTERRUPTED.set()
    raise KeyboardInterrupt


def _check_interrupted() -> None:
    if _INTERRUPTED.is_set():
        raise KeyboardInterrupt


def run_demo(seeds_dir: Path, scenario: Path, *, timeout_s: float = 100.0) -> Summary:
    """Run the demo; Ctrl-C stops everything it started and exits non-zero."""
    previous = signal.signal(signal.SIGINT, _on_sigint)
    try:
        summary = _run_demo(seeds_dir, scenario, timeout_s=timeout_s)
        _check_interrupted()
        return summary
    finally:
        signal.signal(signal.SIGINT, previous)


def _run_demo(seeds_dir: Path, scenario: Path, *, timeout_s: float = 100.0) -> Summary:
    """Run the demo; raise :class:`RaqibError` if the pipeline does not finish in time."""
    console = Console(highlight=False)
    summary = Summary()
    with tempfile.TemporaryDirectory(prefix="raqib-demo-") as tmp:
        data = Path(tmp)
        console.print("[bold]raqib demo[/]: starting Kafka-compatible broker and Redis…")
        with embedded_stack(data) as (broker, redis):
            settings = Settings(
                kafka=broker.bootstrap,
                redis=redis.url,
                # One partition: events reach the rules in publication order, so the demo
                # fires the same alerts every run (docs/design.md: live equals backtest there).
                partitions=1,
                web_port=free_port(),
                alerts_file=data / "alerts.jsonl",
                data_dir=data / "worker",
            )
            env = {**os.environ, **settings.to_env()}
            ensure_topics(settings)
            worker = WorkerProcess(settings, data / "worker")
            worker.start()
            try:
                _watch(console, settings, env, seeds_dir, scenario, summary, timeout_s, worker)
            except RaqibError:
                console.print(f"[red]worker log (tail):[/]\n{worker.log_tail(3000)}", markup=True)
                raise
            finally:
                worker.stop()
            notes = _notifications(settings.alerts_file)
            _show_stories(console, notes)
            summary.notifications = len(notes)
            summary.stories = len({n["story_id"] for n in notes})
            console.print(
                f"alerts file: {_events(settings.alerts_file)} alert events in "
                f"{len(notes)} story notifications ({settings.alerts_file.name})"
            )
    return summary


def _watch(
    console: Console,
    settings: Settings,
    env: dict[str, str],
    seeds_dir: Path,
    scenario: Path,
    summary: Summary,
    timeout_s: float,
    worker: WorkerProcess,
) -> None:
    topics = settings.topic_names
    metrics_url = f"http://127.0.0.1:{settings.web_port}/metrics"
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_servers,
        enable_auto_commit=False,  # a viewer only
        **kafka_auth(settings),
    )
    parts = [
        TopicPartition(t, p)
        for t in (topics.tagged, topics.dlq, topics.alerts)
        for p in range(settings.partitions)
    ]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    display = _Display(console, summary)
    replay = [sys.executable, "-m", "raqib", "replay", "--json"]
    sent = json.loads(_run([*replay, str(seeds_dir)], env))["sent"]
    sent += json.loads(_run([*replay, str(scenario)], env))["sent"]
    console.print(f"replayed {sent} articles (5 seeds + drill {scenario.name}); worker at work…")
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            _check_interrupted()
            if worker.process is None or worker.process.poll() is not None:
                raise RaqibError("the worker exited")
            for batch in consumer.poll(timeout_ms=300).values():
                for record in batch:
                    if record.topic == topics.tagged:
                        display.tagged(json.loads(record.value))
                    elif record.topic == topics.dlq:
                        display.dead_letter(list(record.headers or []))
                    else:
                        display.alert(json.loads(record.value))
            if summary.articles + summary.dead_letters < sent:
                continue
            try:
                m = _scrape(metrics_url)
            except OSError:
                continue
            published = m.get("raqib_mentions_published_total", 0.0)
            counted = m.get("raqib_mentions_counted_total", 0.0)
            fired = m.get("raqib_alerts_fired_total", 0.0)
            written = _events(settings.alerts_file)
            seen = summary.alerts + summary.resolved
            if counted >= published > 0 and seen >= fired and written >= fired:
                summary.mentions = int(counted)
                console.print(f"metrics: {metrics_url}")
                return
        raise RaqibError(f"pipeline did not finish within {timeout_s:.0f}s")
    finally:
        consumer.close()
