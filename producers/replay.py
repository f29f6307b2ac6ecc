"""``raqib replay PATH...``: publish seed files, JSON-lines files and scenarios.

* a directory: its ``*.txt`` seeds (metadata from its ``manifest.yaml``) and ``*.jsonl``;
* ``*.txt``: one seed article;
* ``*.jsonl``: one message per line, sent verbatim (bad lines are the worker's to
  dead-letter, so nothing is lost or silently fixed here);
* ``*.yaml`` / ``*.yml``: a scenario, expanded into its timed copies.

A drill replays copies on purpose, so replay does not suppress duplicates. ``speed``
paces the stream by event time (:class:`Pacer`); ``loop`` plays it again and again,
each pass later in event time and with new ids (:func:`shifted`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

from producers.publisher import Publisher
from producers.scenario import expand
from producers.seeds import load_manifest, seed_article
from raqib.messages import as_utc

Item = tuple[bytes | None, bytes]  # (key, value)


def _encode(article: dict[str, Any]) -> Item:
    key = str(article["id"]).encode() if article.get("id") else None
    return key, json.dumps(article, ensure_ascii=False).encode("utf-8")


def _jsonl(path: Path) -> Iterator[Item]:
    with path.open("rb") as handle:
        for line in handle:
            line = line.rstrip(b"\r\n")
            if not line.strip():
                continue
            key: bytes | None = None
            try:
                data = json.loads(line)
                if isinstance(data, dict) and data.get("id"):
                    key = str(data["id"]).encode()
            except ValueError:
                pass
            yield key, line


def items(paths: list[Path]) -> Iterator[Item]:
    """The messages that ``paths`` stand for, in order."""
    for path in paths:
        if path.is_dir():
            manifest = load_manifest(path)
            for txt in sorted(path.glob("*.txt")):
                yield _encode(seed_article(txt, manifest))
            for jsonl in sorted(path.glob("*.jsonl")):
                yield from _jsonl(jsonl)
        elif path.suffix == ".txt":
            yield _encode(seed_article(path, load_manifest(path.parent)))
        elif path.suffix == ".jsonl":
            yield from _jsonl(path)
        elif path.suffix in (".yaml", ".yml"):
            for article in expand(path):
                yield _encode(article)
        else:
            raise ValueError(f"{path}: expected a directory, .txt, .jsonl or scenario .yaml")


def _article(value: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(value)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def event_time(value: bytes) -> datetime | None:
    """A message's ``published_at`` (UTC), or None when it has none that reads as a time."""
    data = _article(value)
    stamp = data.get("published_at") if data else None
    if not isinstance(stamp, str):
        return None
    try:
        return as_utc(datetime.fromisoformat(stamp))
    except ValueError:
        return None


class Pacer:
    """Sends a stream ``speed`` times faster than its event time went: the wall-clock gap
    between two articles is their event-time gap divided by ``speed`` (0: no waiting).

    The clock and the sleep are injected, so the arithmetic is tested without sleeping::

        pacer = Pacer(60.0)           # an hour of news in a minute
        pacer.wait(article_time)      # sleeps until that article is due
    """

    def __init__(
        self,
        speed: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if speed < 0:
            raise ValueError(f"speed must be 0 (as fast as possible) or more, got {speed}")
        self.speed = speed
        self.clock = clock
        self.sleep = sleep
        self._origin: tuple[datetime, float] | None = None

    def wait(self, when: datetime | None) -> float:
        """Sleep until the article of event time ``when`` is due; return the seconds slept.
        An article without a time, or one earlier than the first, goes at once."""
        if self.speed == 0 or when is None:
            return 0.0
        if self._origin is None:
            self._origin = (when, self.clock())
            return 0.0
        first, started = self._origin
        due = started + (when - first).total_seconds() / self.speed
        delay = due - self.clock()
        if delay <= 0:
            return 0.0
        self.sleep(delay)
        return delay


def loop_period(times: Iterable[datetime | None]) -> timedelta:
    """How much later each pass of a loop is: the stream's span plus its mean gap, so the
    passes follow one another at the stream's own pace (one second at least)."""
    known = sorted(t for t in times if t is not None)
    if len(known) < 2:
        return timedelta(seconds=1)
    span = known[-1] - known[0]
    return max(span + span / (len(known) - 1), timedelta(seconds=1))


def shifted(item: Item, n: int, period: timedelta) -> Item:
    """Pass ``n`` of a loop: the id made new (``<id>~<n>``), the event time ``n`` periods
    later. Pass 0, and a message that is not a JSON article, are sent as they are."""
    key, value = item
    data = _article(value) if n else None
    if data is None:
        return item
    if data.get("id"):
        data["id"] = f"{data['id']}~{n}"
    when = event_time(value)
    if when is not None:
        data["published_at"] = (when + n * period).isoformat()
    return _encode(data)


def replay(
    paths: list[Path],
    publisher: Publisher,
    *,
    speed: float = 0.0,
    loop: bool = False,
    pacer: Pacer | None = None,
    on_sent: Callable[[int, int | None], None] | None = None,
) -> int:
    """Publish everything (over and over with ``loop``, until interrupted) and wait for
    the broker's acks; return the count sent. ``on_sent(sent, total)`` hears each send
    (total is None in a loop)."""
    batch = list(items(paths))
    times = [event_time(value) for _, value in batch]
    period = loop_period(times)
    pacer = pacer or Pacer(speed)
    total = None if loop else len(batch)
    sent = 0
    for n in count() if loop else range(1):
        for item, when in zip(batch, times, strict=True):
            pacer.wait(None if when is None else when + n * period)
            key, value = shifted(item, n, period)
            publisher.raw(value, key=key)
            sent += 1
            if on_sent is not None:
                on_sent(sent, total)
    publisher.flush()
    return sent
