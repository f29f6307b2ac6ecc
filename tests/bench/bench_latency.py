"""Latency at a fixed offered load: publish -> counted, -> alert event, -> alert delivered.

Run with ``make bench`` (or ``python tests/bench/bench_latency.py``). Starts the embedded
broker and Redis, then for each way of running the worker — one process with every stage,
and a tag process beside a count process — publishes seed copies at a fixed rate for a
fixed time, each send at its own due time (``start + i / rate``, never "sleep after each
send"), to fresh topics with the default four partitions. The stream is
``tests/data/streams/burst.yaml`` (steady news from six outlets, then two surges) played
again and again, each cycle right after the last in event time, so that the default rules
fire and resolve alerts throughout the run.

What is measured, all on this machine's wall clock (``time.time()``):

* publish: the producer's send call (kafka-python stamps the record's CreateTime then;
  the bench notes its own clock just before it);
* counted: the worker's ``raqib_pipeline_latency_seconds{stage="counted"}`` — for each
  article and ``mentions`` partition it has mentions on, the worker's clock once those
  mentions are recorded in Redis, judged, any alert they fired acknowledged on ``alerts``
  and the episodes written, less the article's CreateTime (which its mentions carry);
  read as the difference of two scrapes around the measured window (buckets: 10 ms ...
  250 ms ...; quantiles interpolated as Prometheus does, the share within 100 ms exact);
* the hops on the way, from the same histogram: ``tagged`` (the tag stage handed the
  article's mentions to its producer), ``read`` (the count stage read its mentions),
  ``aligned`` (released for judging: every ``articles`` partition got past it);
* the alignment floor, from the publisher's own log: for each article, the time from its
  publish until every ``articles`` partition has been sent an article dated after it
  (its partition is Kafka's murmur2 of its key, as the publisher's). Exact alignment
  (issue 9) cannot release an article sooner, however fast every stage is: the other
  partitions' next articles are what say that nothing older is coming. It is the least
  "counted" can be with these partitions at this rate, measured in the same run;
* alert event: a consumer of ``alerts`` in the bench (fetch wait 10 ms) receives it; the
  article that fired it is the one whose event time is the alert's ``event_time`` (the
  rules judge at the watermark, the time of the article being judged; every article of
  the stream has its own time);
* delivered: a webhook receiver in the bench gets the notification carrying the event,
  routed by a route of its own (``group_by: [alert_id]``, ``group_wait`` of
  ``BENCH_GROUP_WAIT``, 0s by default): the router hands a page on once the events read
  with it are recorded (what falls due later, on a quarter-second timer), and the webhook
  takes up to ``max_in_flight`` (4) notifications of different alerts at once.

Samples: articles published after ``BENCH_WARMUP_S`` (3) and within ``BENCH_DURATION_S``
(30) more; the publisher goes on for up to 5 s after it so that the last measured articles
are not judged at the end of the stream (where alignment waits ``RAQIB_ALIGN_IDLE_S`` for
the partitions to go idle). A worker that tagged or counted less than 90 % of what came
in over the window is reported SATURATED: its latencies grow with the length of the run.
``BENCH_RATE`` sets the offered rate (200 articles/s; a comma-separated list runs each),
``BENCH_LATENCY_MODES`` the ways of running (``all,tag+count``), ``BENCH_PARTITIONS`` the
topics' partitions (4).
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from benchkit import (
    ROOT,
    BenchTimeout,
    Histogram,
    cpu_s,
    histogram,
    percentile,
    record,
    start_workers,
    stop_workers,
    totals,
    wait_until,
)
from kafka import KafkaConsumer, TopicPartition

from processors.mentions import partition_of
from producers.publisher import Publisher
from producers.scenario import expand
from raqib.durations import parse_duration
from raqib.embedded import WorkerProcess, embedded_stack, free_port
from raqib.settings import Settings
from raqib.topics import ensure_topics

RATES = [float(r) for r in os.environ.get("BENCH_RATE", "200").split(",")]
DURATION_S = float(os.environ.get("BENCH_DURATION_S", "30"))
WARMUP_S = float(os.environ.get("BENCH_WARMUP_S", "3"))
GROUP_WAIT = os.environ.get("BENCH_GROUP_WAIT", "0s")
MODES = os.environ.get("BENCH_LATENCY_MODES", "all,tag+count").split(",")
COOLDOWN_S = 5.0
SATURATED_BELOW = 0.9
"""A stage that handled less than this share of what came in over the window is behind."""
PARTITIONS = int(os.environ.get("BENCH_PARTITIONS", "4"))
"""Of every topic (RAQIB_PARTITIONS' default): alignment waits for each ``articles`` one."""
STREAM = ROOT / "tests" / "data" / "streams" / "burst.yaml"
COUNTED_CEILING_S = 0.100  # issue 15: p99 publish -> counted
ALERT_CEILING_S = 0.250  # issue 15: p99 publish -> alert delivered
LATENCY = "raqib_pipeline_latency_seconds"
HOPS = ("tagged", "read", "aligned")
"""The worker's stages before ``counted``, in the order an article passes them."""


def stream(count: int) -> list[dict[str, Any]]:
    """``count`` articles: the burst stream's cycles end to end, each article with its own
    id and its own event time (whole seconds: the key an alert is traced back by)."""
    cycle = expand(STREAM)
    times = [datetime.fromisoformat(a["published_at"]) for a in cycle]
    step = times[-1] - times[0] + timedelta(seconds=83)
    out: list[dict[str, Any]] = []
    for k in range(math.ceil(count / len(cycle))):
        for article, at in zip(cycle, times, strict=True):
            when = (at + k * step).isoformat()
            out.append({**article, "id": f"{article['id']}-{k}", "published_at": when})
    return out[:count]


def event_second(value: str) -> int:
    return int(datetime.fromisoformat(value).timestamp())


class Pacer(threading.Thread):
    """Publishes ``articles`` at ``rate`` from ``start_at``: article i is due at
    ``start_at + i / rate``, sent at once when late, never before it is due."""

    def __init__(
        self, settings: Settings, articles: list[dict[str, Any]], rate: float, start_at: float
    ) -> None:
        super().__init__(name="bench-pacer", daemon=True)
        self.settings = settings
        self.articles = articles
        self.rate = rate
        self.start_at = start_at
        self.stop = threading.Event()
        self.sent: list[tuple[int, float, float]] = []
        """Per article sent: (event second, sent at, due at)."""
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with Publisher(self.settings) as publisher:
                for i, article in enumerate(self.articles):
                    due = self.start_at + i / self.rate
                    if self.stop.wait(max(0.0, due - time.time())):
                        break
                    sent = time.time()
                    publisher.article(article)
                    self.sent.append((event_second(article["published_at"]), sent, due))
        except BaseException as exc:  # reported by the main thread
            self.error = exc


class AlertReader(threading.Thread):
    """Reads ``alerts`` from its start: (alert_id, status) -> (event second, received at,
    record timestamp), the first time each is seen."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(name="bench-alerts", daemon=True)
        self.seen: dict[tuple[str, str], tuple[int, float, float]] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, fetch_max_wait_ms=10)
        part = TopicPartition(topic, 0)
        self.consumer.assign([part])
        self.consumer.seek_to_beginning(part)

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                for records in self.consumer.poll(timeout_ms=100).values():
                    now = time.time()
                    for record in records:
                        alert = json.loads(record.value)
                        key = (alert["alert_id"], alert["status"])
                        stamp = event_second(alert["event_time"])
                        with self.lock:
                            self.seen.setdefault(key, (stamp, now, record.timestamp / 1000))
        finally:
            self.consumer.close()


class Receiver(ThreadingHTTPServer):
    """A webhook receiver: (alert_id, status) -> when the first notification carrying
    it arrived."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", free_port()), _Hook)
        self.delivered: dict[tuple[str, str], float] = {}
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class _Hook(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        now = time.time()
        note = json.loads(body)
        with self.server.lock:
            for alert in note.get("alerts", []):
                self.server.delivered.setdefault((alert["alert_id"], alert["status"]), now)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        return


def channels_file(path: Path, url: str) -> Path:
    path.write_text(
        "channels:\n"
        f"  - {{name: bench-hook, type: webhook, url: '{url}', timeout_s: 5}}\n"
        "routes:\n"
        f"  - {{name: each-alert, channels: [bench-hook], group_by: [alert_id], "
        f"group_wait: {GROUP_WAIT}}}\n",
        encoding="utf-8",
    )
    return path


@dataclass
class Result:
    mode: str
    sent: int
    rate: float
    late_p99_s: float
    tag_kept: float
    """Articles tagged over the window / articles sent over it (under 1: falling behind)."""
    count_kept: float
    """Mentions counted over the window / mentions published over it."""
    hops: dict[str, Histogram]
    """Publish -> each of HOPS (worker histograms)."""
    floor: list[float]
    """Per article of the window: publish -> every articles partition sent a later one."""
    counted: Histogram
    alerted_by_worker: Histogram
    on_topic: list[float]
    topic_own_delay: list[float]
    delivered: list[float]
    undelivered: int
    untraced: int
    firing: int
    resolved: int
    startup_s: float
    cpu_ms_per_article: float
    """Worker CPU (children included) over the window per article sent in it."""


def run(tmp: Path, bootstrap: str, redis_url: str, mode: str, rate: float) -> Result:
    """One way of running the worker under the offered load; see the module docstring."""
    stages = ["all"] if mode == "all" else ["tag", "count"]
    name = f"{mode.replace('+', '-')}-{rate:g}"
    receiver = Receiver()
    serving = threading.Thread(target=receiver.serve_forever, args=(0.05,), daemon=True)
    serving.start()
    base = Settings(
        kafka=bootstrap,
        redis=redis_url,
        app_id=f"latency-{name}",
        topic_prefix=f"latency-{name}.",
        redis_prefix=f"latency-{name}",
        partitions=PARTITIONS,
        alerts_file=tmp / f"{name}.jsonl",
        channels=channels_file(tmp / f"{name}-channels.yaml", receiver.url),
    )
    ensure_topics(base)
    settings = [
        base.model_copy(
            update={"stages": s, "web_port": free_port(), "data_dir": tmp / f"{name}-{s}"}
        )
        for s in stages
    ]
    ports = [s.web_port for s in settings]
    total = math.ceil(rate * (WARMUP_S + DURATION_S + COOLDOWN_S)) + 1
    workers: list[WorkerProcess] = []
    reader: AlertReader | None = None
    pacer: Pacer | None = None
    try:
        workers, startup_s = start_workers(settings, tmp / name)
        reader = AlertReader(bootstrap, base.topic_names.alerts)
        reader.start()
        start = time.time() + 0.2
        pacer = Pacer(base, stream(total), rate, start)
        pacer.start()
        measured_from, measured_to = start + WARMUP_S, start + WARMUP_S + DURATION_S
        time.sleep(max(0.0, measured_from - time.time()))
        counted_before = histogram(ports, LATENCY, {"stage": "counted"})
        hops_before = {h: histogram(ports, LATENCY, {"stage": h}) for h in HOPS}
        sent_before, before = len(pacer.sent), totals(ports)
        cpu_before = sum(cpu_s(w.pid) for w in workers)
        alerted_before = histogram(ports, LATENCY, {"stage": "alerted"})
        time.sleep(max(0.0, measured_to - time.time()))
        window = [s for s in pacer.sent if measured_from <= s[1] < measured_to]
        sent_close, at_close = len(pacer.sent), totals(ports)
        cpu_ms = (sum(cpu_s(w.pid) for w in workers) - cpu_before) * 1000
        tag_kept = _grew(before, at_close, "raqib_articles_processed_total") / max(
            1, sent_close - sent_before
        )
        count_kept = _grew(before, at_close, "raqib_mentions_counted_total") / max(
            1.0, _grew(before, at_close, "raqib_mentions_published_total")
        )
        drained(ports, len(pacer.sent))
        counted = histogram(ports, LATENCY, {"stage": "counted"}) - counted_before
        hops = {h: histogram(ports, LATENCY, {"stage": h}) - hops_before[h] for h in HOPS}
        alerted = histogram(ports, LATENCY, {"stage": "alerted"}) - alerted_before
        sent_at = {second: sent for second, sent, _ in window}
        with reader.lock:
            seen = dict(reader.seen)
        traced = {k: v for k, v in seen.items() if v[0] in sent_at}
        sent_seconds = {second for second, _, _ in pacer.sent}
        untraced = sum(1 for v in seen.values() if v[0] not in sent_seconds)
        try:
            wait_until(
                lambda: traced.keys() <= receiver.delivered.keys(),
                _seconds(GROUP_WAIT) + 15,
                f"{len(traced)} alert events to reach the webhook",
            )
        except BenchTimeout as exc:
            print(f"  {mode}: {exc}")
        pacer.stop.set()
    finally:
        if pacer is not None:
            pacer.stop.set()
            pacer.join(30)
        if reader is not None:
            reader.stop.set()
            reader.join(10)
        stop_workers(workers)
        receiver.shutdown()
        receiver.server_close()
    if pacer.error is not None:
        raise RuntimeError("the publisher failed") from pacer.error
    delivered = receiver.delivered
    return Result(
        mode=mode,
        sent=len(window),
        rate=(len(window) - 1) / (window[-1][1] - window[0][1]) if len(window) > 1 else 0.0,
        late_p99_s=percentile([sent - due for _, sent, due in window], 0.99),
        tag_kept=tag_kept,
        count_kept=count_kept,
        hops=hops,
        floor=alignment_floor(
            pacer.sent,
            [partition_of(str(a["id"]), PARTITIONS) for a in pacer.articles[: len(pacer.sent)]],
            PARTITIONS,
            measured_from,
            measured_to,
        ),
        counted=counted,
        alerted_by_worker=alerted,
        on_topic=[seen - sent_at[second] for second, seen, _ in traced.values()],
        topic_own_delay=[seen - stamp for _, seen, stamp in traced.values()],
        delivered=[delivered[k] - sent_at[v[0]] for k, v in traced.items() if k in delivered],
        undelivered=sum(1 for k in traced if k not in delivered),
        cpu_ms_per_article=cpu_ms / max(1, sent_close - sent_before),
        untraced=untraced,
        firing=sum(1 for _, status in traced if status == "firing"),
        resolved=sum(1 for _, status in traced if status == "resolved"),
        startup_s=startup_s,
    )


def alignment_floor(
    sent: Sequence[tuple[int, float, float]],
    partitions: Sequence[int],
    count: int,
    start: float,
    end: float,
) -> list[float]:
    """For each article sent in [start, end) (``sent``: the pacer's log, in event-time
    order; ``partitions``: each article's, of ``count``): how long after its publish every
    partition had been sent an article dated after it (see the module docstring). Two
    partitions; the third article (second 12) waits for the sixth, since the fourth, on the
    other partition, is dated the same second:

    >>> log = [(10, .000, 0), (11, .005, 0), (12, .010, 0), (12, .015, 0), (13, .020, 0),
    ...        (14, .025, 0)]
    >>> [round(f, 3) for f in alignment_floor(log, [0, 1, 0, 1, 0, 1], 2, 0.0, 0.011)]
    [0.01, 0.01, 0.015]
    """
    later: dict[int, float] = {}  # partition -> earliest send of an article dated later
    floors: list[float] = []
    i = len(sent)
    while i > 0:  # backwards, a group of articles of one event second at a time
        second = sent[i - 1][0]
        j = i
        while j > 0 and sent[j - 1][0] == second:
            j -= 1
        if j > 0 and sent[j - 1][0] > second:
            raise ValueError("the stream is not in event-time order")
        group = range(j, i)
        for k in group:
            at = sent[k][1]
            if start <= at < end and len(later) == count:
                floors.append(max(later.values()) - at)
        for k in reversed(group):
            later[partitions[k]] = sent[k][1]
        i = j
    return floors[::-1]


def _grew(before: dict[str, float], after: dict[str, float], name: str) -> float:
    return after.get(name, 0.0) - before.get(name, 0.0)


def drained(ports: Sequence[int], sent_by_now: int) -> None:
    """Wait until every article sent by now is tagged and every mention published by
    then is counted (the publisher goes on meanwhile, for COOLDOWN_S at most)."""
    limit = 120 + 2 * DURATION_S
    wait_until(
        lambda: totals(ports).get("raqib_articles_processed_total", 0) >= sent_by_now,
        limit,
        f"the worker to tag the {sent_by_now} articles sent in the window",
    )
    published = totals(ports).get("raqib_mentions_published_total", 0)
    wait_until(
        lambda: totals(ports).get("raqib_mentions_counted_total", 0) >= published,
        limit,
        f"the worker to count {published:.0f} mentions",
    )


def _seconds(duration: str) -> float:
    return float(parse_duration(duration).total_seconds())


def ms(seconds: float) -> str:
    if math.isnan(seconds):
        return "-"
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.0f} s"


def within(values: Sequence[float], bound: float) -> float:
    return sum(v <= bound for v in values) / len(values) if values else float("nan")


def row(what: str, n: float, quantiles: Sequence[float], share: float, ceiling: str) -> None:
    p50, p95, p99 = (ms(q) for q in quantiles)
    print(f"  {what:46} {n:7.0f} {p50:>8} {p95:>8} {p99:>8}  {share:6.1%} <= {ceiling}")


def report(r: Result) -> None:
    label = "one process" if r.mode == "all" else "tag + count processes"
    print(
        f"\n{label}: {r.sent} articles at {r.rate:.1f}/s (publisher late p99 "
        f"{ms(r.late_p99_s)}), {PARTITIONS} partitions, {os.cpu_count()} cores, start-up "
        f"{r.startup_s:.1f} s; over the window it tagged {r.tag_kept:.0%} of the articles "
        f"sent and counted {r.count_kept:.0%} of the mentions published; worker CPU "
        f"{r.cpu_ms_per_article:.2f} ms per article"
    )
    if min(r.tag_kept, r.count_kept) < SATURATED_BELOW:
        print("  SATURATED: the worker falls behind this load; its latencies grow with the run")
    print(f"  {'from publish to':46} {'samples':>7} {'p50':>8} {'p95':>8} {'p99':>8}  within")
    qs = (0.5, 0.95, 0.99)
    c, a = r.counted, r.alerted_by_worker
    for hop, h in r.hops.items():
        row(
            f"{hop} (worker histogram, interpolated)",
            h.total,
            [h.quantile(q) for q in qs],
            h.share_within(COUNTED_CEILING_S),
            "100 ms",
        )
    row(
        "alignment floor (publish log, no stage time)",
        len(r.floor),
        [percentile(r.floor, q) for q in qs],
        within(r.floor, COUNTED_CEILING_S),
        "100 ms",
    )
    row(
        "counted (worker histogram, interpolated)",
        c.total,
        [c.quantile(q) for q in qs],
        c.share_within(COUNTED_CEILING_S),
        "100 ms (goal: p99)",
    )
    row(
        "alert acknowledged (worker histogram)",
        a.total,
        [a.quantile(q) for q in qs],
        a.share_within(ALERT_CEILING_S),
        "250 ms",
    )
    for what, values, goal in (
        ("alert event read off alerts (bench consumer)", r.on_topic, ""),
        (f"alert delivered (webhook, group_wait {GROUP_WAIT})", r.delivered, " (goal: p99)"),
    ):
        quantiles = [percentile(values, q) for q in qs]
        row(what, len(values), quantiles, within(values, ALERT_CEILING_S), f"250 ms{goal}")
    record(
        f"latency_{r.rate:.0f}_{PARTITIONS}p",
        **{
            f"{r.mode}_counted_p99_ms": c.quantile(0.99) * 1000,
            f"{r.mode}_delivered_p99_ms": percentile(r.delivered, 0.99) * 1000,
            f"{r.mode}_floor_p99_ms": percentile(r.floor, 0.99) * 1000,
        },
    )
    print(
        f"  alert events of the window: {r.firing} firing, {r.resolved} resolved; "
        f"{r.undelivered} not delivered in time, {r.untraced} not traced to an article; the "
        f"bench consumer read them {ms(percentile(r.topic_own_delay, 0.5))} (p50) after the "
        "worker stamped them"
    )


def main() -> int:
    print(
        f"latency: {DURATION_S:.0f} s at each offered load after {WARMUP_S:.0f} s of warm-up; "
        f"{STREAM.name} cycles, default rules; webhook route group_by [alert_id], "
        f"group_wait {GROUP_WAIT}; goals: p99 counted <= 100 ms, alert delivered <= 250 ms"
    )
    with tempfile.TemporaryDirectory() as tmp, embedded_stack(Path(tmp)) as (broker, redis):
        for rate in RATES:
            for mode in MODES:
                report(run(Path(tmp), broker.bootstrap, redis.url, mode, rate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
