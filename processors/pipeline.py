"""The pure processing of one article: clean, tag, and derive its mention events.

The Faust agent, ``raqib tag`` and ``raqib backtest`` all call :meth:`Pipeline.process`.

>>> from processors.watchlist import load_watchlist
>>> pipeline = Pipeline(load_watchlist())
>>> article = Article(id="a", source="SANA", body="زار الوزير ظريف دمشق اليوم مع وفد")
>>> tagged, events = pipeline.process(article)
>>> [e.subject for e in events]  # doctest: +NORMALIZE_WHITESPACE
['entity:mohammad-javad-zarif', 'entity:damascus',
 'pair:damascus+mohammad-javad-zarif', 'source:SANA']
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from processors.clean import clean_body
from processors.mentions import PAIR_ENTITIES, mentions
from processors.tagger import Tag, Tagger
from processors.topics import TopicMatcher, TopicsFile
from processors.watchlist import Entity, Watchlist
from raqib.exceptions import InvalidArticle
from raqib.messages import (
    Article,
    EntityMention,
    Mention,
    TaggedArticle,
    TopicMatch,
    trusted,
)


@dataclass
class Budget:
    """CPU time one article may take, checked between steps: an article over it is
    dead-lettered (``over_budget``) instead of holding the stream. Every step is linear in
    the article's size, which the input limits bound, so no single step can run away; the
    check catches the article that is legal but pathological (a megabyte of names)."""

    seconds: float
    started: float = field(default_factory=time.thread_time)

    def check(self, step: str) -> None:
        spent = time.thread_time() - self.started
        if spent > self.seconds:
            raise InvalidArticle(
                f"processing took {spent:.2f}s of CPU by the end of {step}, "
                f"over the budget of {self.seconds:g}s per article",
                "over_budget",
            )


class Pipeline:
    """Everything between a valid article and its tagged form; no I/O."""

    def __init__(
        self,
        watchlist: Watchlist,
        topics: TopicsFile | None = None,
        *,
        pair_entities: int = PAIR_ENTITIES,
    ) -> None:
        self.watchlist = watchlist
        self.pair_entities = pair_entities
        self.tagger = Tagger(watchlist)
        self.topics = topics or TopicsFile()
        self.matcher = TopicMatcher(self.topics)
        self.pattern_leaves = self.matcher.leaves(self.tagger.pattern_entities)
        """The topics' leaves of each entity the tagger's patterns find (see
        :meth:`TopicMatcher.match_tagged`)."""
        self._topic_names = {t.subject: (t.names.ar, t.names.en) for t in self.topics.topics}

    def process(
        self, article: Article, budget: Budget | None = None
    ) -> tuple[TaggedArticle, list[Mention]]:
        cleaned = clean_body(article.body, title=article.title, source=article.source)
        if budget is not None:
            budget.check("cleaning")
        found = self.tagger.find(title=article.title, body=article.body, cleaned=cleaned)
        if budget is not None:
            budget.check("tagging")
        topics = self.matcher.match_tagged(found, self.pattern_leaves)
        if budget is not None:
            budget.check("topic matching")
        tagged = tagged_article(article, cleaned.text, found.messages, topics)
        return tagged, mentions(tagged, pair_entities=self.pair_entities)

    def tag_text(self, text: str, *, clean: bool = True) -> tuple[list[Tag], list[TopicMatch]]:
        """Entities and topics of a plain text, as ``raqib tag`` prints them."""
        cleaned = clean_body(text) if clean else None
        tags = self.tagger.tag(body=text, cleaned=cleaned)
        body = cleaned.masked(text) if cleaned is not None else text
        return tags, self.matcher.match(title="", body=body, entities=tags)

    def _entities_of(self, subject: str) -> list[Entity]:
        """The watched entities a subject names: one for an entity, two for a pair."""
        kind, _, ident = subject.partition(":")
        ids = ident.split("+", 1) if kind == "pair" else [ident] if kind == "entity" else []
        return [e for e in map(self.watchlist.by_id.get, ids) if e is not None]

    def types(self, subject: str) -> tuple[str, ...]:
        """Entity types a subject names: one for an entity, two for a pair, none else."""
        return tuple(e.type.value for e in self._entities_of(subject))

    def tags(self, subject: str) -> tuple[str, ...]:
        """Watchlist tags of a subject's entities (either entity of a pair), sorted."""
        return tuple(sorted({t for e in self._entities_of(subject) for t in e.tags}))

    def names(self, subject: str) -> tuple[str, str]:
        """Arabic and English display names of a subject, for alert summaries."""
        if subject in self._topic_names:
            return self._topic_names[subject]
        kind, _, ident = subject.partition(":")
        if kind == "pair":
            a, b = (self.names(f"entity:{part}") for part in ident.split("+", 1))
            return f"{a[0]} + {b[0]}", f"{a[1]} + {b[1]}"
        if kind == "entity":
            entity = self.watchlist.by_id.get(ident)
            if entity is not None:
                return entity.names.ar, entity.names.en
        return ident, ident


_ARTICLE_FIELDS = tuple(Article.model_fields)
_TAGGED_SET = frozenset((*_ARTICLE_FIELDS, "clean_body", "entities", "topics"))


def tagged_article(
    article: Article, clean_body: str, entities: list[EntityMention], topics: list[TopicMatch]
) -> TaggedArticle:
    """``TaggedArticle(**article.model_dump(), clean_body=..., entities=..., topics=...)``
    without validating again what was validated or built here: the article's fields as they
    are (``extra`` copied as ``model_dump`` copies it), the tagger's and matcher's messages."""
    fields = article.__dict__
    values = {name: fields[name] for name in _ARTICLE_FIELDS}
    if values["extra"]:
        values["extra"] = article.model_dump(include={"extra"})["extra"]
    else:
        values["extra"] = {}
    values |= {
        "clean_body": clean_body,
        "entities": entities,
        "topics": topics,
        "trimmed": [],
        "entities_total": None,
    }
    return trusted(TaggedArticle, values, _TAGGED_SET)
