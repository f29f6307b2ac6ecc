"""Mention events: one per (subject, article); pairs only among an article's main actors."""

from __future__ import annotations

from datetime import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.mentions import SNIPPET_CONTEXT, mentions, snippet, subjects
from raqib.messages import EntityMention, Mention, TaggedArticle


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


def _snippet_as_before(text: str, start: int, end: int) -> tuple[str, int, int]:
    """The snippet as first written: a walk to the word's end, then every blank run flattened."""
    first, last = max(0, start - SNIPPET_CONTEXT), min(len(text), end + SNIPPET_CONTEXT)
    while first > 0 and not text[first - 1].isspace() and start - first < SNIPPET_CONTEXT + 20:
        first -= 1
    while last < len(text) and not text[last].isspace() and last - end < SNIPPET_CONTEXT + 20:
        last += 1
    raw = text[first:last]
    flat = " ".join(raw.split())
    if flat == raw:
        return raw, start - first, end - first
    lead = " ".join(raw[: start - first].split())
    name = " ".join(raw[start - first : end - first].split())
    lead = lead + " " if lead and raw[: start - first][-1:].isspace() else lead
    return flat, len(lead), len(lead) + len(name)


BLANKS_AND_WORDS = st.sampled_from(
    ["a", "bc", "ايران", "قال", " ", "  ", "\n", "\n\n", "\t", "\u3000", "\xa0", "\u200f", "x" * 30]
)


@settings(max_examples=500, deadline=None)
@given(
    text=st.lists(BLANKS_AND_WORDS, min_size=1, max_size=120).map("".join),
    where=st.floats(0, 1),
    size=st.integers(0, 8),
)
def test_snippets_are_cut_and_flattened_as_before(text: str, where: float, size: int) -> None:
    start = min(int(where * len(text)), len(text) - 1)
    end = min(start + size, len(text))
    assert snippet(text, start, end) == _snippet_as_before(text, start, end)


def test_events_are_the_validated_events() -> None:
    """Events built from the shared fields validated once are the events validation builds:
    equal, with the same fields set (``seq`` unset), the same repr and the same JSON."""
    tagged = article(["iran", "syria", "iran"])
    tagged.title = "عنوان " * 80  # cut to 300 characters by validation
    tagged.url = "https://x.example/" + "a" * 1200
    tagged.published_at = datetime(2025, 1, 1, 12)  # naive: made UTC
    tagged.body = "ايران\nو  سوريا " * 40
    for event in mentions(tagged):
        fields = {f: getattr(event, f) for f in event.model_fields_set}
        validated = Mention(**fields)
        assert event == validated
        assert event.model_fields_set == validated.model_fields_set
        assert "seq" not in event.model_fields_set
        assert repr(event) == repr(validated)
        assert event.model_dump_json() == validated.model_dump_json()
