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

from processors.clean import clean_body
from processors.mentions import PAIR_ENTITIES, mentions
from processors.tagger import Tag, Tagger
from processors.topics import TopicMatcher, TopicsFile
from processors.watchlist import Entity, Watchlist
from raqib.messages import Article, Mention, TaggedArticle, TopicMatch


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
        self._topic_names = {t.subject: (t.names.ar, t.names.en) for t in self.topics.topics}

    def process(self, article: Article) -> tuple[TaggedArticle, list[Mention]]:
        cleaned = clean_body(article.body, title=article.title, source=article.source)
        tags = self.tagger.tag(title=article.title, body=article.body, cleaned=cleaned)
        found = self.matcher.match(
            title=article.title, body=cleaned.masked(article.body), entities=tags
        )
        tagged = TaggedArticle(
            **article.model_dump(),
            clean_body=cleaned.text,
            entities=[tag.to_message() for tag in tags],
            topics=found,
        )
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
