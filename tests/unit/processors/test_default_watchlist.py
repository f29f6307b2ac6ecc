"""The shipped watchlist: its coverage of the theatre, and its names on real-style sentences.

The per-phenomenon files check the tagger's mechanics on a small watchlist; this file checks
the data operators actually run (cases in tests/data/tagging/default_watchlist.yaml): country
adjectives count as the country, ambiguous aliases stay quiet in everyday Arabic and speak up
in the news.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from processors.pipeline import Pipeline
from processors.tagger import Tagger
from processors.watchlist import Watchlist, load_watchlist
from tests.unit.processors.tagging import cases, check

THEATRE = (
    "iran", "syria", "iraq", "lebanon", "yemen", "turkey", "russia", "united-states", "israel",
    "saudi-arabia", "qatar", "bashar-al-assad", "ahmed-al-sharaa", "ali-khamenei", "irgc",
    "quds-force", "hezbollah", "houthis", "hts", "sdf", "isis", "hamas", "jabhat-al-nusra",
    "aleppo", "idlib", "damascus", "deir-ez-zor", "al-hol",
)  # fmt: skip


@pytest.fixture(scope="module")
def watchlist() -> Watchlist:
    return load_watchlist()


@pytest.fixture(scope="module")
def tagger(watchlist: Watchlist) -> Tagger:
    return Tagger(watchlist)


def test_it_covers_the_theatre(watchlist: Watchlist) -> None:
    entities = watchlist.entities
    assert len(entities) >= 150
    types = Counter(e.type for e in entities)
    assert set(types) == {"PER", "ORG", "GPE", "LOC", "FAC"}
    assert min(types.values()) >= 5
    qids = [e.wikidata for e in entities if e.wikidata]
    assert len(qids) == len(set(qids)), "one Wikidata item names one entity"
    assert not set(THEATRE) - {e.id for e in entities}


@pytest.mark.parametrize("case", cases("default_watchlist"))
def test_default_watchlist(tagger: Tagger, case: dict[str, Any]) -> None:
    check(tagger, case)


def test_outlets_are_tagged_media_so_default_rules_can_skip_them(watchlist: Watchlist) -> None:
    pipeline = Pipeline(watchlist)
    for outlet in ("tasnim", "sana", "afp", "okaz", "al-jazeera"):
        assert pipeline.tags(f"entity:{outlet}") == ("media",)
    assert pipeline.tags("entity:amir-hatami") == ()
    assert pipeline.tags("pair:amir-hatami+tasnim") == ("media",)
    assert pipeline.tags("topic:sanctions") == ()
