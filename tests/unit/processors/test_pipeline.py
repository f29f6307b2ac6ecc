"""The pipeline's messages are the ones validation builds, field for field."""

from __future__ import annotations

import json
from pathlib import Path

from processors.pipeline import Pipeline, entity_messages
from processors.tagger import Tag
from processors.topics import load_topics
from processors.watchlist import load_watchlist
from producers.seeds import load_seed_dir
from raqib.messages import EntityMention, TaggedArticle, parse_article

ROOT = Path(__file__).resolve().parents[3]


def test_a_tag_has_the_fields_of_its_message_in_order() -> None:
    assert Tag._fields == tuple(EntityMention.model_fields)


def test_entity_messages_are_the_validated_messages() -> None:
    watchlist = load_watchlist()
    pipeline = Pipeline(watchlist, load_topics(None, watchlist))
    for seed in load_seed_dir(ROOT / "seeds"):
        article = parse_article(json.dumps(seed).encode(), fallback_time=None)
        tags = pipeline.tagger.tag(title=article.title, body=article.body)
        assert tags
        built, validated = entity_messages(tags), [tag.to_message() for tag in tags]
        assert built == validated
        assert [m.model_fields_set for m in built] == [m.model_fields_set for m in validated]
        assert [repr(m) for m in built] == [repr(m) for m in validated]
        tagged, _ = pipeline.process(article)
        assert tagged == TaggedArticle.model_validate_json(tagged.model_dump_json())
