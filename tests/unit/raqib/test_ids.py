"""Stable ids: one article whatever link or producer brought it."""

from __future__ import annotations

import pytest

from raqib.ids import article_id, normalize_url


@pytest.mark.parametrize(
    ("url", "normalized"),
    [
        ("https://example.org/news/1", "https://example.org/news/1"),
        ("HTTPS://EXAMPLE.ORG/news/1", "https://example.org/news/1"),
        ("http://example.org/news/1", "https://example.org/news/1"),
        ("https://example.org:443/news/1#comments", "https://example.org/news/1"),
        ("https://example.org:8443/news/1", "https://example.org:8443/news/1"),
        (
            "https://example.org/a?utm_source=rss&utm_medium=feed&id=7&fbclid=x&gclid=y&p=2",
            "https://example.org/a?id=7&p=2",
        ),
        ("https://example.org/News/1", "https://example.org/News/1"),  # paths keep their case
        ("https://example.org", "https://example.org/"),
        ("https://ar.example.org/سوريا/خبر?UTM_Campaign=x", "https://ar.example.org/سوريا/خبر"),
    ],
)
def test_urls_are_normalized(url: str, normalized: str) -> None:
    assert normalize_url(url) == normalized


def test_the_id_comes_from_the_normalized_url_whatever_the_text() -> None:
    a = article_id("سانا", "https://sana.sy/?p=1&utm_source=telegram", "عنوان", "نص")
    b = article_id("SANA", "HTTP://SANA.SY/?p=1", "عنوان آخر", "نص آخر")
    assert a == b and a.startswith("u-") and len(a) == 22


def test_without_a_url_the_id_is_a_hash_of_source_title_and_body() -> None:
    a = article_id("سانا", "", "حلب", "نص الخبر")
    assert a == article_id("سانا", "", "حلب", "نص الخبر") and a.startswith("h-")
    assert a != article_id("تسنيم", "", "حلب", "نص الخبر")
    assert a != article_id("سانا", "", "حلب", "نص خبر آخر")
