"""Watched topics: boolean combinations of entities and keywords, matched per article.

A topic is a tree of conditions (``topics.yaml``)::

    - id: iran-in-syria
      names: {ar: الوجود الإيراني في سوريا, en: Iranian presence in Syria}
      match:
        all:
          - entity: iran
          - entity: syria
          - any: [{keyword: ميليشيا}, {keyword: الحرس الثوري}, {keyword: نفوذ}]
        within: 40          # every part of this `all` within 40 words of each other

Leaves are ``entity: <watchlist id>``, ``type: <PER|ORG|GPE|LOC|FAC>`` and
``keyword: <words>``; ``all``, ``any`` and
``none`` combine them; ``title: <condition>`` looks at the title only. Keywords are
normalized like the text and match whole words, with proclitics and the article
(هدنة matches الهدنة, وبالهدنة, هدنه).

>>> topic = Topic.model_validate({"id": "truce", "names": {"ar": "هدنة", "en": "Truce"},
...     "match": {"any": [{"keyword": "هدنة"}, {"keyword": "وقف إطلاق النار"}]}})
>>> matcher = TopicMatcher(TopicsFile(topics=(topic,)))
>>> [t.id for t in matcher.match(title="", body="دخلت الهدنة حيز التنفيذ.", entities=[])]
['truce']
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from processors.tagger import Tag as EntityTag
from processors.watchlist import EntityType, Names, Watchlist
from processors.wordforms import Words, keyword_parts, words_of
from raqib.config import line_of, load_model_text, packaged_text, read_text
from raqib.exceptions import ConfigError
from raqib.messages import EntityMention, TopicMatch

log = logging.getLogger(__name__)

DEFAULT_FILE = "topics.yaml"


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EntityTerm(_Node):
    entity: str


class TypeTerm(_Node):
    """Any watched entity of a type: ``{type: PER}`` is "some named person"."""

    type: EntityType


class KeywordTerm(_Node):
    keyword: str = Field(min_length=1)


class AllOf(_Node):
    all: tuple[Condition, ...] = Field(min_length=1)
    within: int | None = Field(None, ge=1, description="words spanning all parts")


class AnyOf(_Node):
    any: tuple[Condition, ...] = Field(min_length=1)


class NoneOf(_Node):
    none: tuple[Condition, ...] = Field(min_length=1)


class InTitle(_Node):
    title: Condition


_KINDS: dict[type, str] = {
    EntityTerm: "entity",
    TypeTerm: "type",
    KeywordTerm: "keyword",
    AllOf: "all",
    AnyOf: "any",
    NoneOf: "none",
    InTitle: "title",
}


def _kind(value: Any) -> str | None:
    """Which condition a YAML mapping is, by its key (``entity``, ``all``, ...)."""
    if isinstance(value, dict):
        return next((k for k in _KINDS.values() if k in value), None)
    return _KINDS.get(type(value))


Condition = Annotated[
    Union[  # noqa: UP007 - a tagged union needs the Union spelling for Tag
        Annotated[EntityTerm, Tag("entity")],
        Annotated[TypeTerm, Tag("type")],
        Annotated[KeywordTerm, Tag("keyword")],
        Annotated[AllOf, Tag("all")],
        Annotated[AnyOf, Tag("any")],
        Annotated[NoneOf, Tag("none")],
        Annotated[InTitle, Tag("title")],
    ],
    Discriminator(_kind),
]
for _model in (AllOf, AnyOf, NoneOf, InTitle):
    _model.model_rebuild()


class Topic(BaseModel):
    """One watched topic."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    names: Names
    match: Condition

    @property
    def subject(self) -> str:
        return f"topic:{self.id}"


class TopicsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    topics: tuple[Topic, ...] = ()
    shared: dict[str, Any] = Field(
        default_factory=dict, description="conditions topics reuse as YAML anchors (&name, *name)"
    )

    @model_validator(mode="after")
    def _unique(self) -> TopicsFile:
        ids = [t.id for t in self.topics]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate topic ids: {', '.join(dupes)}")
        return self


@dataclass
class _Article:
    body: Words
    title: Words
    whole: Words  # title and body together: where ``none`` looks, whatever field matched


def _at(mentions: Sequence[EntityMention | EntityTag], name: str) -> list[tuple[str, str, int]]:
    """(id, type, start) of the mentions in one field."""
    return [(m.id, str(m.type), m.start) for m in mentions if m.field == name]


Positions = list[int] | None
"""Word indices where a condition holds; [] holds without a place (``none``); None fails."""


class TopicMatcher:
    """Matches every topic of a file against a tagged article."""

    def __init__(self, topics: TopicsFile) -> None:
        self.topics = topics
        self._keywords = {
            leaf.keyword: keyword_parts(leaf.keyword)
            for t in topics.topics
            for leaf in _leaves(t.match)
            if isinstance(leaf, KeywordTerm)
        }
        self._firsts = frozenset(
            first for parts in self._keywords.values() if parts for first in parts[0]
        )

    def match(
        self, *, title: str, body: str, entities: Sequence[EntityMention | EntityTag]
    ) -> list[TopicMatch]:
        """The topics the article is about: the body or the title satisfies the condition."""
        in_body, in_title = _at(entities, "body"), _at(entities, "title")
        body_words = words_of(body, in_body)
        if title:  # a headline naming the actor over a body naming the act
            shift = len(title) + 1
            both = [*in_title, *((i, t, s + shift) for i, t, s in in_body)]
            whole = words_of(f"{title}\n{body}", both)
        else:
            whole = body_words
        article = _Article(body=body_words, title=words_of(title, in_title), whole=whole)
        places = [article.body, article.title] + ([whole] if title and body else [])
        found: list[TopicMatch] = []
        for topic in self.topics.topics:
            for where in places:
                evidence: list[str] = []
                if self._eval(topic.match, article, where, evidence) is not None:
                    found.append(TopicMatch(id=topic.id, evidence=sorted(set(evidence))))
                    break
        return found

    def _eval(self, node: Any, article: _Article, where: Words, evidence: list[str]) -> Positions:
        if isinstance(node, EntityTerm):
            positions = where.entities.get(node.entity)
            if positions:
                evidence.append(f"entity:{node.entity}")
            return positions or None
        if isinstance(node, TypeTerm):
            positions = where.entities.get(f"type:{node.type.value}")
            if positions:
                evidence.append(f"type:{node.type.value}")
            return positions or None
        if isinstance(node, KeywordTerm):
            positions = self._keyword(node.keyword, where)
            if positions:
                evidence.append(node.keyword)
            return positions or None
        if isinstance(node, InTitle):
            return self._eval(node.title, article, article.title, evidence)
        if isinstance(node, AnyOf):
            merged: list[int] = []
            hit = False
            for child in node.any:
                got = self._eval(child, article, where, evidence)
                if got is not None:
                    hit = True
                    merged.extend(got)
            return sorted(merged) if hit else None
        if isinstance(node, NoneOf):  # excluded anywhere in the article, not just here
            scratch: list[str] = []
            if any(self._eval(c, article, article.whole, scratch) is not None for c in node.none):
                return None
            return []
        assert isinstance(node, AllOf)  # noqa: S101 - the union is closed
        groups: list[list[int]] = []
        for child in node.all:
            got = self._eval(child, article, where, evidence)
            if got is None:
                return None
            if got:
                groups.append(got)
        if node.within is not None and groups and not _within(groups, node.within):
            return None
        return sorted(p for g in groups for p in g)

    def _keyword(self, keyword: str, where: Words) -> list[int]:
        parts = self._keywords[keyword]  # every keyword of the file, parsed at start
        return where.find(parts, self._firsts) if parts else []


def _within(groups: list[list[int]], span: int) -> bool:
    """Is there one position from each group, all within ``span`` words? (sliding window)"""
    events = sorted((p, g) for g, positions in enumerate(groups) for p in positions)
    need = len(groups)
    counts = [0] * need
    covered = 0
    left = 0
    for pos, group in events:
        if counts[group] == 0:
            covered += 1
        counts[group] += 1
        while covered == need:
            if pos - events[left][0] <= span:
                return True
            g = events[left][1]
            counts[g] -= 1
            if counts[g] == 0:
                covered -= 1
            left += 1
    return False


def _leaves(node: Any) -> Iterator[Any]:
    """The entity, type and keyword terms of a condition tree."""
    if isinstance(node, EntityTerm | TypeTerm | KeywordTerm):
        yield node
    elif isinstance(node, InTitle):
        yield from _leaves(node.title)
    else:
        for child in getattr(node, "all", None) or getattr(node, "any", None) or node.none:
            yield from _leaves(child)


def _entities(node: Any) -> set[str]:
    return {leaf.entity for leaf in _leaves(node) if isinstance(leaf, EntityTerm)}


def load_topics(path: str | Path | None = None, watchlist: Watchlist | None = None) -> TopicsFile:
    """The packaged default topics, or the file given; entity ids checked against the watchlist.

    A topic file of one's own that names an entity the watchlist lacks is an error. The
    packaged topics are written for the packaged watchlist: beside a watchlist of one's
    own, those that name missing entities are left out, with a warning.
    """
    if path is None:
        text, display = packaged_text("processors", DEFAULT_FILE)
    else:
        text, display = read_text(path), str(path)
    topics = load_model_text(text, TopicsFile, path=display)
    if watchlist is None:
        return topics
    known = {e.id for e in watchlist.entities}
    kept: list[Topic] = []
    for index, topic in enumerate(topics.topics):
        missing = sorted(_entities(topic.match) - known)
        if not missing:
            kept.append(topic)
        elif path is None:
            log.warning("default topic %s left out: the watchlist lacks %s", topic.id, missing)
        else:
            line = line_of(text, ["topics", index, "match"])
            raise ConfigError(display, line, f"{topic.id}: unknown entities {missing}")
    return TopicsFile(topics=tuple(kept))
