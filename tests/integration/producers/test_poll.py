"""``raqib poll`` against a local HTTP server: RSS and Atom with ETag / Last-Modified and
304, a feed that errors, one that times out; ``--once`` twice publishes nothing new."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry

from producers.feeds import FeedStates, Poller, load_feeds
from producers.sink import open_sink
from raqib.cli import main
from raqib.settings import Settings

pytestmark = pytest.mark.integration
FEEDS = Path(__file__).resolve().parents[2] / "data" / "feeds"
LAST_MODIFIED = "Wed, 22 Dec 2021 15:00:00 GMT"
PAGES_FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>البناء</title>
<item><title>ظريف مستقبلاً المقداد</title><link>{base}/page.html</link>
<description>ظريف مستقبلاً المقداد</description></item></channel></rss>"""
PAGE = """<html><head><title>ظريف مستقبلاً المقداد</title></head><body>
<nav><a href="/">الرئيسية</a> | <a href="/politics">سياسة</a></nav>
<article><h1>ظريف مستقبلاً المقداد: التعاون الإيرانيّ السوريّ الروسيّ سيتواصل</h1>
<p>شدّد وزير الخارجية الإيرانيّ، محمد جواد ظريف، على ضرورة أن يكون التعاون الإيرانيّ السوريّ
الروسيّ في محاربة الإرهاب متواصلاً من دون أيّ انقطاع.</p>
<p>جاء ذلك خلال استقبال ظريف لفيصل المقداد، نائب وزير الخارجية السوريّ في طهران، أمس، حيث بحث
الطرفان تطوّرات الأزمة السورية على الصعيدين السياسي والعسكري، ولا سيّما الأوضاع في مدينة حلب.</p>
</article><footer>جميع الحقوق محفوظة</footer></body></html>"""


class FeedServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), FeedHandler)
        self.seen: list[tuple[str, str | None, str | None]] = []

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the slow feed's client has hung up: expected

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class FeedHandler(BaseHTTPRequestHandler):
    server: FeedServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", **headers: str) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        etag, since = self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since")
        self.server.seen.append((self.path, etag, since))
        if self.path == "/rss.xml":
            if etag == '"v1"':
                return self._send(304)
            body = (FEEDS / "rss_full.xml").read_bytes()
            return self._send(200, body, ETag='"v1"', Content_Type="application/rss+xml")
        if self.path == "/atom.xml":
            if since == LAST_MODIFIED:
                return self._send(304)
            body = (FEEDS / "atom.xml").read_bytes()
            return self._send(200, body, Last_Modified=LAST_MODIFIED)
        if self.path == "/pages.xml":  # an entry with a title only: its page has the text
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            return self._send(200, PAGES_FEED.format(base=base).encode())
        if self.path == "/page.html":
            return self._send(200, PAGE.encode(), Content_Type="text/html; charset=utf-8")
        if self.path == "/slow.xml":
            time.sleep(2)
        return self._send(500, b"oops")


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _feeds_yaml(tmp_path: Path, base: str) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(
        f"feeds:\n"
        f"  - {{url: '{base}/rss.xml', name: thiqa}}\n"
        f"  - {{url: '{base}/atom.xml', name: amsar, source: الأمصار}}\n"
        f"  - {{url: '{base}/broken.xml', name: broken}}\n"
        f"  - {{url: '{base}/slow.xml', name: slow, timeout: 0.3s}}\n",
        encoding="utf-8",
    )
    return path


def test_poll_once_twice_publishes_nothing_new(
    env: dict[str, str],
    settings: Settings,
    published: Any,
    feed_server: FeedServer,
    tmp_path: Path,
) -> None:
    feeds = _feeds_yaml(tmp_path, feed_server.url)
    first = CliRunner().invoke(main, ["poll", "--once", "--feeds", str(feeds)], env=env)
    assert first.exit_code == 0, first.output
    assert "feed broken: HTTP 500" in first.stderr
    assert "feed slow: timed out after 0.3s" in first.stderr
    assert "feed thiqa: 2 published, 0 errors in a row" in first.stdout
    sent = published(at_least=3)
    # articles are keyed by id: the topic's partitions interleave them in any order
    assert sorted(a["source"] for a in sent) == sorted(["وكالة ثقة", "وكالة ثقة", "الأمصار"])
    (first_item,) = [a for a in sent if a["title"] == "عراقجي يلتقي الأسد في دمشق"]
    assert first_item["lang"] == "ar" and first_item["source"] == "وكالة ثقة"
    assert first_item["published_at"] == "2024-12-02T06:00:00+00:00"

    # the second run: conditional GETs answered 304, health in /metrics
    registry = CollectorRegistry()
    with open_sink(settings, producer="poll", dedupe=True, registry=registry) as sink:
        states = FeedStates(settings.data_dir / "feeds-state.json")
        errors = asyncio.run(Poller(load_feeds(feeds).feeds, sink, states).run_once())
    assert set(errors) == {"broken", "slow"}
    assert ("/rss.xml", '"v1"', None) in feed_server.seen
    assert ("/atom.xml", None, LAST_MODIFIED) in feed_server.seen
    assert len(published(at_least=3)) == 3

    def sample(name: str, feed: str) -> float | None:
        return registry.get_sample_value(name, {"feed": feed})

    assert sample("raqib_feed_consecutive_errors", "broken") == 2.0
    assert sample("raqib_feed_consecutive_errors", "thiqa") == 0.0
    assert (sample("raqib_feed_last_success_timestamp_seconds", "thiqa") or 0) > time.time() - 60
    assert sample("raqib_feed_last_success_timestamp_seconds", "broken") == 0.0
    assert sample("raqib_feed_items_published_total", "thiqa") == 0.0  # 304 this time


def test_fetch_page_publishes_the_page_main_text(
    env: dict[str, str], published: Any, feed_server: FeedServer, tmp_path: Path
) -> None:
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(
        f"feeds:\n  - {{url: '{feed_server.url}/pages.xml', fetch_page: true}}\n", "utf-8"
    )
    result = CliRunner().invoke(main, ["poll", "--once", "--feeds", str(feeds)], env=env)
    assert result.exit_code == 0, result.output
    (article,) = published(at_least=1)
    assert article["source"] == "البناء" and article["title"] == "ظريف مستقبلاً المقداد"
    body = article["body"]
    assert "محمد جواد ظريف" in body and "ولا سيّما الأوضاع في مدينة حلب" in body
    assert "الرئيسية" not in body and "جميع الحقوق محفوظة" not in body


def test_poll_once_fails_when_every_feed_fails(
    env: dict[str, str], feed_server: FeedServer
) -> None:
    result = CliRunner().invoke(main, ["poll", "--once", f"{feed_server.url}/broken.xml"], env=env)
    assert result.exit_code == 1
    assert "every feed failed (1): 127.0.0.1/broken.xml: HTTP 500" in result.output
