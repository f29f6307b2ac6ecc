"""Tagging: page chrome in the seeds (tickers, teasers, related news) yields no mention."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from processors.pipeline import Pipeline
from processors.watchlist import load_watchlist
from producers.seeds import load_seed_dir
from raqib.messages import TaggedArticle, parse_article

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def tagged() -> dict[str, TaggedArticle]:
    pipeline = Pipeline(load_watchlist())
    out = {}
    for article in load_seed_dir(ROOT / "seeds"):
        raw = json.dumps(article).encode()
        out[article["id"][5:8]] = pipeline.process(parse_article(raw, fallback_time=None))[0]
    return out


def ids(article: TaggedArticle) -> set[str]:
    return {e.id for e in article.entities}


def test_the_ticker_of_other_headlines_is_not_tagged(tagged: dict[str, TaggedArticle]) -> None:
    # 000 opens with glued headlines about Trump, Qatar, Hamas, Gabbard and the SDF
    article = tagged["000"]
    assert not ids(article) & {"donald-trump", "hamas", "tulsi-gabbard", "sdf", "qatar"}
    ticker_end = article.body.index("\n")
    assert all(e.start > ticker_end for e in article.entities if e.field == "body")


def test_a_teaser_of_another_article_is_not_tagged(tagged: dict[str, TaggedArticle]) -> None:
    assert "recep-tayyip-erdogan" not in ids(tagged["003"])  # under "انظر ايضاً"


def test_related_news_are_not_tagged(tagged: dict[str, TaggedArticle]) -> None:
    # 004: the block under "أخبار أخرى.." is another article (Jeffrey, Biden, Pompeo)
    assert not ids(tagged["004"]) & {"james-jeffrey", "joe-biden", "mike-pompeo"}


def test_the_article_itself_is_tagged(tagged: dict[str, TaggedArticle]) -> None:
    assert {"iran", "aleppo", "mohammad-javad-zarif"} <= ids(tagged["000"])
    assert {"amir-hatami", "deir-ez-zor", "hezbollah"} <= ids(tagged["003"])
    assert {"alexander-lavrentiev", "astana-process", "isis"} <= ids(tagged["004"])


def test_the_source_and_byline_are_not_mentions(tagged: dict[str, TaggedArticle]) -> None:
    assert "thiqa-agency" not in ids(tagged["000"])  # the "وكالة ثقة" source line
    assert "al-amsar" not in ids(tagged["004"])  # the masthead's "الأمصار"
    assert "raed-al-azzawi" not in ids(tagged["004"])  # its chairman, under the masthead
    assert "ngoc-anh" not in ids(tagged["001"])  # "نغوك آنه (بحسب وكالة فرانس برس)"
