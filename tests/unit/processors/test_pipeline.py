"""The pipeline's messages are the ones validation builds, field for field."""

from __future__ import annotations

import json
from pathlib import Path

from processors.clean import clean_body
from processors.pipeline import Pipeline
from processors.tagger import Tag
from processors.topics import load_topics
from processors.watchlist import load_watchlist
from producers.seeds import load_seed_dir
from raqib.messages import EntityMention, TaggedArticle, parse_article

ROOT = Path(__file__).resolve().parents[3]


def test_a_tag_has_the_fields_of_its_message_in_order() -> None:
    assert Tag._fields == tuple(EntityMention.model_fields)


ARTICLES = [
    # diacritics, tatweel and clitics; an ambiguous alias kept by its cue and one dropped
    ("وصـــول الوزيرِ ظريف إلى دمشقَ", "قال رأس النظام الأسد إنّ وفداً إيرانياً وصل لحلب."),
    ("", "هرب الأسد من قفصه في حديقة الحيوان. وأكدت طهرانُ وموسكو دعمهما للحكومة السورية."),
    ("ظريف في دمشق", "اترك تعليقاً\nوالتقى ظريف بالأسد في دمشق.\nتصوير: وكالة فرانس برس"),
]


def test_found_messages_are_the_validated_messages() -> None:
    """:meth:`Tagger.find`'s messages are the tags' validated messages (equal, the same
    fields set, the same repr, their fields in the same order), and its columns say
    each one's pattern, start and field."""
    watchlist = load_watchlist()
    pipeline = Pipeline(watchlist, load_topics(None, watchlist))
    tagger = pipeline.tagger
    seeds = [
        parse_article(json.dumps(s).encode(), fallback_time=None)
        for s in load_seed_dir(ROOT / "seeds")
    ]
    articles = [(a.title, a.body) for a in seeds] + ARTICLES
    for title, body in articles:
        for cleaned in (None, clean_body(body, title=title)):
            tags = tagger.tag(title=title, body=body, cleaned=cleaned)
            found = tagger.find(title=title, body=body, cleaned=cleaned)
            built, validated = found.messages, [tag.to_message() for tag in tags]
            assert built
            assert built == validated
            assert [m.model_fields_set for m in built] == [m.model_fields_set for m in validated]
            assert [repr(m) for m in built] == [repr(m) for m in validated]
            assert [list(m.__dict__) for m in built] == [list(m.__dict__) for m in validated]
            entities = [tagger.pattern_entities[k] for k in found.patterns]
            assert entities == [(m.id, m.type) for m in built]
            assert found.starts == [m.start for m in built]
            assert found.in_title == sum(m.field == "title" for m in built)
    for seed in seeds:
        tagged, _ = pipeline.process(seed)
        assert tagged == TaggedArticle.model_validate_json(tagged.model_dump_json())
