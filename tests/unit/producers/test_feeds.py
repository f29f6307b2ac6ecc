"""Feeds without a network: feeds.yaml validation, entries to articles, back-off."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import feedparser
import pytest

from producers.feeds import Feed, backoff, entry_article, load_feeds
from raqib.exceptions import ConfigError

FEEDS = Path(__file__).resolve().parents[2] / "data" / "feeds"


def test_feeds_yaml_is_validated_with_file_line_and_cause(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(
        "feeds:\n  - url: https://a.example.org/rss\n    interval: 5m\n"
        "  - url: https://b.example.org/rss\n    intervall: 10m\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_feeds(path)
    assert str(info.value).startswith(f"{path}:")
    assert info.value.line == 5 and "intervall" in info.value.cause
    path.write_text("feeds:\n  - url: ftp://a.example.org/rss\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r":2: feeds\.0\.url"):
        load_feeds(path)
    path.write_text(
        "feeds:\n  - {url: 'https://a.example.org/rss', name: x}\n"
        "  - {url: 'https://b.example.org/rss', name: x}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="feeds named twice: x"):
        load_feeds(path)


def test_a_valid_file_with_defaults(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(
        "feeds:\n  - url: https://thiqa.example.org/rss.xml\n"
        "  - {url: 'https://amsar.example.org/atom', name: amsar, source: الأمصار, "
        "interval: 1m, timeout: 5s, fetch_page: true}\n",
        encoding="utf-8",
    )
    first, second = load_feeds(path).feeds
    assert first.label == "thiqa.example.org/rss.xml"
    assert first.interval == timedelta(minutes=5) and first.timeout == timedelta(seconds=20)
    assert second.label == "amsar" and second.fetch_page and second.source == "الأمصار"


def test_full_text_from_content_encoded_else_the_summary() -> None:
    parsed = feedparser.parse((FEEDS / "rss_full.xml").read_bytes())
    feed = Feed(url="https://thiqa.example.org/rss.xml")
    full, summary_only = (entry_article(e, feed, parsed.feed.title) for e in parsed.entries)
    assert full["source"] == "وكالة ثقة"
    assert full["body"].startswith("التقى وزير الخارجية الإيراني عباس عراقجي")
    assert "\n\nوذكرت وكالة أنباء" in full["body"]  # paragraphs kept, tags gone
    assert full["published_at"] == "2024-12-02T06:00:00+00:00"
    russia = "أعلنت روسيا استعدادها لاستئناف الحوار مع إدارة ترامب بشأن سوريا."
    assert summary_only["body"] == russia


def test_atom_content_and_a_configured_source() -> None:
    parsed = feedparser.parse((FEEDS / "atom.xml").read_bytes())
    feed = Feed(url="https://amsar.example.org/atom", source="الأمصار (أبوظبي)", lang="ar")
    (article,) = (entry_article(e, feed, parsed.feed.title) for e in parsed.entries)
    assert article["source"] == "الأمصار (أبوظبي)" and article["lang"] == "ar"
    assert article["url"] == "https://amsar.example.org/news/4412#top"
    assert "ألكسندر لافرينتيف" in article["body"] and "<p>" not in article["body"]


def test_back_off_doubles_per_error_up_to_an_hour() -> None:
    five = timedelta(minutes=5)
    assert [backoff(five, n) for n in range(5)] == [five * k for k in (1, 2, 4, 8, 12)]
    assert backoff(timedelta(hours=2), 3) == timedelta(hours=2)  # never under the interval
