"""The pure processing of one article: clean, tag, and derive its mention events.

The Faust agent, ``raqib tag`` and ``raqib backtest`` all call :meth:`Pipeline.process`.

>>> from processors.watchlist import load_watchlist
>>> pipeline = Pipeline(load_watchlist())
>>> article = Article(id="a", source="SANA", body="زار ظريف دمشق اليوم مع وفد")
>>> tagged, events = pipeline.process(article)
>>> [e.subject for e in events]
['entity:mohammad-javad-zarif', 'entity:damascus', 'source:SANA']
"""

from __future__ import annotations

from processors.clean import clean_body
from processors.mentions import mentions
from processors.tagger import Tagger
from processors.watchlist import Watchlist
from raqib.messages import Article, Mention, TaggedArticle


class Pipeline:
    """Everything between a valid article and its tagged form; no I/O."""

    def __init__(self, watchlist: Watchlist) -> None:
        self.watchlist = watchlist
        self.tagger = Tagger(watchlist)

    def process(self, article: Article) -> tuple[TaggedArticle, list[Mention]]:
        cleaned = clean_body(article.body, title=article.title, source=article.source)
        tags = self.tagger.tag(title=article.title, body=article.body, cleaned=cleaned)
        entities = [tag.to_message() for tag in tags]
        tagged = TaggedArticle(
            **article.model_dump(), clean_body=cleaned.text, entities=entities, topics=[]
        )
        return tagged, mentions(tagged)

    def names(self, subject: str) -> tuple[str, str]:
        """Arabic and English display names of a subject, for alert summaries."""
        kind, _, ident = subject.partition(":")
        if kind == "entity":
            entity = self.watchlist.by_id.get(ident)
            if entity is not None:
                return entity.names.ar, entity.names.en
        return ident, ident
