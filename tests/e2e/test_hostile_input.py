"""Hostile input against one running worker: every malformed message dead-lettered with a
reason a person understands, every valid (if hostile) article tagged, one process alive
throughout.

1,050 malformed messages of 18 classes are shuffled with 120 legal but hostile articles
(32,000 spaces in a paragraph, fields named like raqib's output, a 900 KB article, bidi
marks and Persian letters, ...) and sent to a real broker; the worker runs as an operator
runs it (``python -m raqib worker``) on the real broker and Redis.
"""

from __future__ import annotations

import json
import random
import time
import urllib.request
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from raqib.embedded import WorkerProcess, free_port
from raqib.settings import Settings
from raqib.topics import ensure_topics

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

SEED = 20261130
NOW = "2024-12-01T10:00:00Z"
Maker = Callable[[random.Random, dict[str, Any]], bytes]


def _article(rng: random.Random, news: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body = rng.choice(list(news["bodies"].values()))
    base = {
        "source": rng.choice(news["sources"]),
        "title": rng.choice(news["headlines"]),
        "body": body,
        "published_at": NOW,
    }
    return {**base, **fields}


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def _nested(levels: int) -> str:
    return "[" * levels + "]" * levels


MALFORMED: dict[str, Maker] = {
    "random bytes": lambda rng, news: bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 400))),
    "invalid UTF-8": lambda rng, news: _json(_article(rng, news)).replace(
        b'"body"', b'"b\xc3\x28dy"'
    ),
    "not JSON": lambda rng, news: rng.choice(
        [b'{"body": "', b"body=x&title=y", b"<rss><item/></rss>", b"{'body': 'x'}", b"{,}"]
    ),
    "not an object": lambda rng, news: rng.choice([b"[1, 2]", b"null", b'"body"', b"42", b"true"]),
    "wrong types": lambda rng, news: _json(
        _article(
            rng,
            news,
            **rng.choice(
                [
                    {"body": 5},
                    {"body": ["x"]},
                    {"title": {"a": 1}},
                    {"source": 7},
                    {"published_at": [2024]},
                ]
            ),
        )
    ),
    "missing body": lambda rng, news: _json({"source": "sana", "title": "x", "published_at": NOW}),
    "empty body": lambda rng, news: _json(
        _article(rng, news, body=rng.choice(["", "  \n\t ", "\u00a0"]))
    ),
    "deep nesting": lambda rng, news: (
        b'{"body": "x", "meta": ' + _nested(rng.choice([40, 5_000, 200_000])).encode() + b"}"
    ),
    "multi-MB body": lambda rng, news: _json(
        _article(rng, news, body="إيران " * rng.randint(200_000, 600_000))
    ),
    "multi-MB title": lambda rng, news: _json(
        _article(rng, news, title="سوريا" * rng.randint(220_000, 400_000))
    ),
    "NUL and control characters": lambda rng, news: _json(
        _article(
            rng,
            news,
            **rng.choice([{"body": "حلب\u0000دمشق"}, {"id": "a\u001bb"}, {"title": "x\u0000"}]),
        )
    ),
    "bidi controls in names": lambda rng, news: _json(
        _article(rng, news, **rng.choice([{"source": "سانا\u202e"}, {"id": "x\u2066y"}]))
    ),
    "far-future dates": lambda rng, news: _json(
        _article(
            rng, news, published_at=rng.choice(["2999-01-01T00:00:00Z", "2100-06-01T00:00:00Z"])
        )
    ),
    "unparseable dates": lambda rng, news: _json(
        _article(
            rng, news, published_at=rng.choice(["yesterday", "2024-13-45T99:00:00", "1e400", "ق.م"])
        )
    ),
    "duplicate keys": lambda rng, news: b'{"body": "\xd8\xad\xd9\x84\xd8\xa8", "body": "x"}',
    "100 KB ids": lambda rng, news: _json(_article(rng, news, id="i" * 100_000)),
    "lone surrogates": lambda rng, news: b'{"body": "\\ud800 \xd8\xad\xd9\x84\xd8\xa8"}',
    "oversized extra fields": lambda rng, news: _json(_article(rng, news, meta="x" * 80_000)),
}
HEAVY = {"multi-MB body", "multi-MB title"}
VIEWS = {"/metrics": 200, "/readyz": 200, "/router": 404, "/table": 404, "/": 404, "/graph": 404}


def _valid(rng: random.Random, news: dict[str, Any], i: int) -> dict[str, Any]:
    """Legal articles built to hurt: each must still be tagged."""
    body = rng.choice(list(news["bodies"].values()))
    kind = i % 8
    extra: dict[str, Any] = {}
    if kind == 0:
        body = body + "\n" + "قال " + " " * 32_000 + "المصدر"
    elif kind == 1:
        body = body + "\n" + "تصوير:" + "-" * 20_000 + "\n" + "( " * 10_000
    elif kind == 2:
        extra = {"entities": [{"id": "fake"}], "topics": "x", "clean_body": 5, "extra": {"a": 1}}
    elif kind == 3 and i < 8:  # one 900 KB article, legal under the 1 MB limit
        body = (body + "\n") * (450_000 // len(body))
    elif kind == 4:
        body = "\u200fقال\u200f الرئيس \u061cالإيراني إن \u202bطهران\u202c ستردّ" + "\n" + body
    elif kind == 5:
        body = "ایران و سوریه – گفت‌وگوی مقامات در تهران\n" + body
    elif kind == 6:
        body = "إيــــران تُـرَحِّـبُ " * 50 + "\n" + body
    return {"id": f"ok-{i}", **_article(rng, news, body=body), **extra}


def test_hostile_input_is_dead_lettered_or_tagged_by_one_live_worker(
    kafka_broker: Any, redis_server: Any, tmp_path: Path, news_ar: dict[str, Any], report: Any
) -> None:
    rng = random.Random(SEED)
    tag = uuid.uuid4().hex[:8]
    settings = Settings(
        kafka=kafka_broker.bootstrap,
        redis=redis_server.url,
        app_id=f"raqib-hostile-{tag}",
        topic_prefix=f"hostile-{tag}.",
        redis_prefix=f"h{tag}",
        partitions=2,
        web_port=free_port(),
        alerts_file=tmp_path / "alerts.jsonl",
        data_dir=tmp_path / "worker",
    )
    ensure_topics(settings)
    messages: list[tuple[bytes, bytes]] = []  # (key, value)
    classes = list(MALFORMED)
    per_class = {name: (10 if name in HEAVY else 0) for name in classes}
    light = [name for name in classes if name not in HEAVY]
    for i in range(1_050 - sum(per_class.values())):
        per_class[light[i % len(light)]] += 1
    for name, count in per_class.items():
        for i in range(count):
            messages.append((f"bad|{name}|{i}".encode(), MALFORMED[name](rng, news_ar)))
    valid = [_valid(rng, news_ar, i) for i in range(120)]
    messages += [(a["id"].encode(), _json(a)) for a in valid]
    rng.shuffle(messages)

    worker = WorkerProcess(settings, tmp_path / "worker-process").start()
    try:
        pid = worker.pid
        producer = KafkaProducer(
            bootstrap_servers=settings.kafka_servers, max_request_size=8_000_000, linger_ms=5
        )
        for key, value in messages:
            producer.send(settings.topic_names.articles, key=key, value=value)
        producer.flush()
        producer.close()
        dead, tagged = _collect(settings, expect=len(messages), timeout_s=180)
        health = _get(settings.web_port, "/healthz")
        views = {path: _get(settings.web_port, path) for path in VIEWS}
        alive = worker.process is not None and worker.process.poll() is None
    finally:
        worker.stop()

    outcome: dict[str, Counter[str]] = defaultdict(Counter)
    reasons: dict[str, str] = {}
    for key, headers in dead.items():
        _, name, _ = key.split("|")
        reason = headers.get("raqib-reason", b"").decode()
        assert reason and len(reason) < 1_000, (name, reason)
        outcome[name]["dead-lettered"] += 1
        reasons.setdefault(name, reason[:90])
    report(f"hostile input: {len(messages)} messages, one worker (pid {pid})")
    report(f"  {'class':<28} {'sent':>5} {'dead-lettered':>14}  first reason")
    for name in classes:
        report(
            f"  {name:<28} {per_class[name]:>5} {outcome[name]['dead-lettered']:>14}  "
            f"{reasons.get(name, '-')}"
        )
    report(f"  {'valid but hostile':<28} {len(valid):>5} {'tagged ' + str(len(tagged)):>14}")
    assert alive and health == 200, "the worker must survive all of it"
    assert views == VIEWS, "only /metrics, /healthz and /readyz are served"
    assert {n: per_class[n] for n in classes} == {n: outcome[n]["dead-lettered"] for n in classes}
    assert sorted(tagged) == sorted(a["id"] for a in valid)
    assert tagged["ok-2"]["entities"] and "fake" not in {
        e["id"] for e in tagged["ok-2"]["entities"]
    }
    assert tagged["ok-2"]["extra"]["entities"] == [{"id": "fake"}]
    big = tagged["ok-3"]
    assert big["trimmed"] == ["clean_body", "body", "entities"]  # cut by rule, in that order
    assert 0 < len(big["entities"]) < big["entities_total"]
    compact = json.dumps(big, ensure_ascii=False, separators=(",", ":")).encode()
    assert len(compact) < settings.max_message_bytes


def _collect(
    settings: Settings, *, expect: int, timeout_s: float
) -> tuple[dict[str, dict[str, bytes]], dict[str, dict[str, Any]]]:
    """Dead letters by key (with headers) and tagged articles by id, until all arrived."""
    topics = settings.topic_names
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_servers,
        fetch_max_bytes=16_000_000,
        max_partition_fetch_bytes=8_000_000,
    )
    parts = [TopicPartition(t, p) for t in (topics.tagged, topics.dlq) for p in range(2)]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    dead: dict[str, dict[str, bytes]] = {}
    tagged: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and len(dead) + len(tagged) < expect:
            for batch in consumer.poll(timeout_ms=500).values():
                for r in batch:
                    if r.topic == topics.dlq:
                        dead[r.key.decode()] = dict(r.headers)
                    else:
                        article = json.loads(r.value)
                        tagged[article["id"]] = article
    finally:
        consumer.close()
    return dead, tagged


def _get(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except urllib.error.URLError:
        return -1  # nothing listening: the worker is gone
