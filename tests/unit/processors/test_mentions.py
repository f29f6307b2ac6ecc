"""Mention events: one per (subject, article); pairs only among an article's main actors."""

from __future__ import annotations

from processors.mentions import mentions, subjects
from raqib.messages import EntityMention, TaggedArticle


def article(ids: list[str], source: str = "سانا") -> TaggedArticle:
    return TaggedArticle(
        id="a1",
        source=source,
        body="نص",
        entities=[
            EntityMention(id=i, type="GPE", name=i, surface=i, start=n, end=n + 1)
            for n, i in enumerate(ids)
        ],
    )


def test_pairs_join_the_most_named_entities_only() -> None:
    ids = ["iran", "syria", "iran", "aleppo", "hezbollah", "syria", "iran"]
    ids += ["russia", "turkey", "qatar", "egypt", "damascus", "hezbollah"]
    found = subjects(article(ids), pair_entities=4)
    entities = [s for s in found if s.startswith("entity:")]
    assert entities[:3] == ["entity:iran", "entity:syria", "entity:aleppo"]  # first named
    assert len(entities) == 9
    pairs = [s for s in found if s.startswith("pair:")]
    # iran 3, syria 2, hezbollah 2, then aleppo: first named among the ones named once
    assert pairs == [
        "pair:aleppo+hezbollah",
        "pair:aleppo+iran",
        "pair:aleppo+syria",
        "pair:hezbollah+iran",
        "pair:hezbollah+syria",
        "pair:iran+syria",
    ]
    assert found[-1] == "source:سانا"


def test_at_most_fifteen_pairs_by_default_and_none_when_turned_off() -> None:
    ids = [f"e{i:02d}" for i in range(30)]
    assert sum(s.startswith("pair:") for s in subjects(article(ids))) == 15
    assert not any(s.startswith("pair:") for s in subjects(article(ids), pair_entities=0))
    assert not any(s.startswith("pair:") for s in subjects(article(["iran", "iran"])))


def test_one_event_per_subject_with_the_article_time_and_outlet() -> None:
    events = mentions(article(["iran", "syria", "iran"]))
    assert [e.subject for e in events] == [
        "entity:iran",
        "entity:syria",
        "pair:iran+syria",
        "source:سانا",
    ]
    assert {(e.article_id, e.source) for e in events} == {("a1", "سانا")}
