"""``raqib poll``: RSS and Atom feeds, polled politely, their new entries published.

* Conditional GET: each feed's ``ETag`` and ``Last-Modified`` are sent back
  (``If-None-Match``, ``If-Modified-Since``); a ``304`` costs the feed nothing.
* Each feed on its own interval; after an error it waits twice as long each time (up to
  an hour), and goes back to its interval after a success.
* The entry's full text where the feed carries it (``content:encoded``, Atom
  ``content``), else its summary; with ``fetch_page: true`` the linked page's main text
  (trafilatura). ``source`` is the feed's title unless configured.
* An entry is offered once: the ids of the entries last seen are kept per feed, with the
  validators, in a state file (``RAQIB_DATA_DIR/feeds-state.json``); what a restart or
  another producer already sent is suppressed by the sink's deduplication.
* Health per feed in ``/metrics``: last success, consecutive errors, items published.

feeds.yaml (validated at start: file, line and cause on error)::

    feeds:
      - url: https://www.example.org/rss/syria.xml
        name: example-syria          # the metric label (default: host and path)
        source: المثال               # default: the feed's own title
        interval: 5m                 # default 5m
        timeout: 20s                 # default 20s
        fetch_page: false            # true: the page's main text instead of the entry's
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from calendar import timegm
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import feedparser
from pydantic import BaseModel, ConfigDict, Field, model_validator

from producers.exceptions import FeedsFailed, ProducerError
from producers.html_text import html_to_text
from producers.sink import Sink
from raqib.config import load_model
from raqib.durations import Duration
from raqib.exceptions import InvalidArticle
from raqib.ids import article_id

log = logging.getLogger(__name__)

USER_AGENT = "raqib-poll/0.1 (+news monitor; conditional GET)"
MAX_FEED_BYTES = 20 * 1024 * 1024
MAX_BACKOFF = timedelta(hours=1)


class Feed(BaseModel):
    """One feed to poll."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(pattern=r"^https?://\S+$")
    name: str | None = Field(None, pattern=r"^[\w.:/-]{1,100}$")
    source: str | None = Field(None, min_length=1, max_length=200)
    interval: Duration = timedelta(minutes=5)
    timeout: Duration = timedelta(seconds=20)
    fetch_page: bool = False
    lang: str | None = Field(None, min_length=2, max_length=35)

    @property
    def label(self) -> str:
        """The name in logs and metric labels: ``name``, else host and path."""
        if self.name:
            return self.name
        parts = urlsplit(self.url)
        return f"{parts.hostname}{parts.path}"[:100]


class FeedsFile(BaseModel):
    """feeds.yaml: the feeds to poll."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    feeds: tuple[Feed, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> FeedsFile:
        labels = [f.label for f in self.feeds]
        if dupes := sorted({x for x in labels if labels.count(x) > 1}):
            raise ValueError(f"feeds named twice: {', '.join(dupes)} (give each a `name`)")
        return self


def load_feeds(path: Path) -> FeedsFile:
    """Read and validate feeds.yaml (:class:`raqib.exceptions.ConfigError` on error)."""
    return load_model(path, FeedsFile)


@dataclass(slots=True)
class FeedState:
    """What raqib remembers of a feed between polls (and runs: the state file)."""

    etag: str | None = None
    modified: str | None = None
    seen: list[str] = field(default_factory=list)
    errors: int = 0
    last_success: float | None = None
    published: int = 0


class FeedStates:
    """Every feed's :class:`FeedState`, by URL, kept in a JSON file."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.states: dict[str, FeedState] = {}
        if path is not None and path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                self.states = {url: FeedState(**s) for url, s in data["feeds"].items()}
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ProducerError(
                    f"{path}: unreadable feed state ({exc}); delete it to start afresh"
                ) from exc

    def of(self, feed: Feed) -> FeedState:
        return self.states.setdefault(feed.url, FeedState())

    def save(self) -> None:
        """Write atomically: a crash leaves the previous state whole."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        data = {"feeds": {url: asdict(s) for url, s in sorted(self.states.items())}}
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, self.path)


class FeedError(ProducerError):
    """One poll of one feed failed (HTTP status, timeout, not a feed)."""


def backoff(interval: timedelta, errors: int) -> timedelta:
    """The wait before the next poll: the interval, doubled for each error in a row."""
    return min(interval * 2 ** min(errors, 16), max(MAX_BACKOFF, interval))


def _time(entry: Any) -> str | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if not parsed:
        return None
    return datetime.fromtimestamp(timegm(parsed), UTC).isoformat()


def _oldest_first(entry: Any) -> tuple[bool, str]:
    """Sort key: dated entries oldest first (event time goes forward), undated last."""
    when = _time(entry)
    return when is None, when or ""


def entry_text(entry: Any) -> str:
    """The entry's full text where the feed has it, else its summary (as plain text)."""
    contents = [c.get("value", "") for c in entry.get("content") or []]
    full = max(contents, key=len, default="")
    return html_to_text(full) or html_to_text(entry.get("summary", ""))


def entry_article(entry: Any, feed: Feed, feed_title: str) -> dict[str, Any]:
    """An article dict for one feed entry."""
    article: dict[str, Any] = {
        "source": feed.source or feed_title or urlsplit(feed.url).hostname or "",
        "url": entry.get("link", ""),
        "title": html_to_text(entry.get("title", "")),
        "body": entry_text(entry),
        "feed": feed.label,
    }
    if (published := _time(entry)) is not None:
        article["published_at"] = published
    if feed.lang:
        article["lang"] = feed.lang
    return article


def page_text(html: str, url: str) -> str | None:
    """A web page's main text (trafilatura), None when it finds none."""
    import trafilatura  # heavy (lxml and friends): only feeds with fetch_page load it

    return trafilatura.extract(html, url=url, include_comments=False, include_tables=False)


class Poller:
    """Polls feeds into a :class:`Sink`.

    Example::

        poller = Poller(load_feeds(path).feeds, sink, FeedStates(state_file))
        errors = asyncio.run(poller.run_once())
    """

    def __init__(
        self,
        feeds: Iterable[Feed],
        sink: Sink,
        states: FeedStates,
        *,
        on_error: Callable[[Feed, str], None] = lambda feed, why: None,
    ) -> None:
        self.feeds = tuple(feeds)
        self.sink = sink
        self.states = states
        self.on_error = on_error
        self.metrics = sink.metrics
        for feed in self.feeds:  # every feed in /metrics from the start, healthy or not
            self.metrics.feed_errors.labels(feed=feed.label).set(states.of(feed).errors)
            self.metrics.feed_last_success.labels(feed=feed.label).set(
                states.of(feed).last_success or 0
            )

    async def _get(
        self, session: aiohttp.ClientSession, url: str, timeout: timedelta, headers: dict[str, str]
    ) -> tuple[int, bytes, Any]:
        seconds = timeout.total_seconds()
        try:
            async with session.get(
                url, headers=headers, timeout=aiohttp.ClientTimeout(total=seconds)
            ) as response:
                if response.content_length and response.content_length > MAX_FEED_BYTES:
                    raise FeedError(f"{response.content_length:,} bytes, over {MAX_FEED_BYTES:,}")
                return response.status, await response.read(), response.headers
        except TimeoutError:
            raise FeedError(f"timed out after {seconds:g}s") from None
        except aiohttp.ClientError as exc:
            raise FeedError(f"{type(exc).__name__}: {exc}") from None

    async def poll_once(self, session: aiohttp.ClientSession, feed: Feed) -> int:
        """Poll one feed; return the articles published (raise :class:`FeedError`)."""
        state = self.states.of(feed)
        headers = {"User-Agent": USER_AGENT}
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.modified:
            headers["If-Modified-Since"] = state.modified
        status, body, response_headers = await self._get(session, feed.url, feed.timeout, headers)
        if status == 304:
            return 0
        if status >= 400:
            raise FeedError(f"HTTP {status}")
        parsed = feedparser.parse(body)
        if not parsed.entries and parsed.get("bozo"):
            raise FeedError(f"not a feed: {parsed.get('bozo_exception')}")
        title = html_to_text(parsed.feed.get("title", ""))
        seen = set(state.seen)
        sent, ids = 0, []
        for entry in sorted(parsed.entries, key=_oldest_first):
            article = entry_article(entry, feed, title)
            ident = article_id(article["source"], article["url"], article["title"], article["body"])
            ids.append(ident)
            if ident in seen:
                continue
            if feed.fetch_page and article["url"]:
                deduper = self.sink.deduper
                if deduper is not None and deduper.seen(ident):
                    continue
                article["body"] = await self._page(session, feed, article)
            article["id"] = ident
            try:
                if self.sink.offer(article).sent:
                    sent += 1
            except InvalidArticle as exc:
                log.warning("feed %s: entry %s skipped: %s", feed.label, article["url"], exc)
        await asyncio.to_thread(self.sink.flush)
        state.etag = response_headers.get("ETag")
        state.modified = response_headers.get("Last-Modified")
        state.seen = ids
        return sent

    async def _page(
        self, session: aiohttp.ClientSession, feed: Feed, article: dict[str, Any]
    ) -> str:
        """The page's main text, or the entry's own when the page cannot be read."""
        try:
            status, html, _ = await self._get(
                session, article["url"], feed.timeout, {"User-Agent": USER_AGENT}
            )
        except FeedError as exc:
            log.warning("feed %s: page %s: %s", feed.label, article["url"], exc)
            return str(article["body"])
        if status >= 400:
            return str(article["body"])
        text = await asyncio.to_thread(page_text, html.decode("utf-8", "replace"), article["url"])
        return text or str(article["body"])

    async def poll(self, session: aiohttp.ClientSession, feed: Feed) -> str | None:
        """Poll one feed and record its health; return the error, None on success."""
        state = self.states.of(feed)
        label = feed.label
        try:
            sent = await self.poll_once(session, feed)
        except FeedError as exc:
            state.errors += 1
            self.metrics.feed_errors.labels(feed=label).set(state.errors)
            self.on_error(feed, str(exc))
            self.states.save()
            return str(exc)
        state.errors = 0
        state.last_success = time.time()
        state.published += sent
        self.metrics.feed_errors.labels(feed=label).set(0)
        self.metrics.feed_last_success.labels(feed=label).set(state.last_success)
        self.metrics.feed_items.labels(feed=label).inc(sent)
        self.states.save()
        return None

    async def run_once(self) -> dict[str, str]:
        """Poll every feed once, together; return the errors by feed (raise
        :class:`FeedsFailed` when every feed failed)."""
        async with aiohttp.ClientSession() as session:
            results = await asyncio.gather(*(self.poll(session, f) for f in self.feeds))
        errors = {f.label: why for f, why in zip(self.feeds, results, strict=True) if why}
        if len(errors) == len(self.feeds):
            raise FeedsFailed(errors)
        return errors

    async def run(self, stop: asyncio.Event) -> None:
        """Poll each feed on its own interval (backing off after errors) until ``stop``."""
        async with aiohttp.ClientSession() as session:

            async def loop(feed: Feed) -> None:
                while not stop.is_set():
                    await self.poll(session, feed)
                    wait = backoff(feed.interval, self.states.of(feed).errors)
                    try:
                        await asyncio.wait_for(stop.wait(), wait.total_seconds())
                    except TimeoutError:
                        pass

            await asyncio.gather(*(loop(f) for f in self.feeds))
