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

Matching an article is one compiled pass over its words that finds every keyword of the
file (:class:`processors.wordforms.Vocabulary`), then one compiled call that places the
entities and keywords found and evaluates every topic (:mod:`processors.conditions`). The
result is the tree walk's, evidence included (tests/unit/processors/test_topic_identity.py).

>>> topic = Topic.model_validate({"id": "truce", "names": {"ar": "هدنة", "en": "Truce"},
...     "match": {"any": [{"keyword": "هدنة"}, {"keyword": "وقف إطلاق النار"}]}})
>>> matcher = TopicMatcher(TopicsFile(topics=(topic,)))
>>> [t.id for t in matcher.match(title="", body="دخلت الهدنة حيز التنفيذ.", entities=[])]
['truce']
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from itertools import chain, repeat
from operator import attrgetter
from pathlib import Path
from typing import Annotated, Any, Union

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from processors.conditions import (
    ALL,
    ANY,
    ARG,
    ELSEWHERE,
    END,
    FIRST,
    IN_BODY,
    IN_TITLE,
    KIND,
    LEAF,
    MASK,
    NODE_COLUMNS,
    NONE,
    TITLE,
    TOPIC_COLUMNS,
    WORD_BITS,
    match_topics,
)
from processors.tagger import Found
from processors.tagger import Tag as EntityTag
from processors.watchlist import EntityType, Names, Watchlist
from processors.wordforms import KeywordParts, Vocabulary, keyword_parts
from raqib.config import line_of, load_model_text, packaged_text, read_text
from raqib.exceptions import ConfigError
from raqib.messages import EntityMention, TopicMatch, trusted

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


class _Leaves:
    """Every leaf of a topics file (an entity, type or keyword term), numbered: its number
    stands for it in the compiled conditions (:mod:`processors.conditions`), its label is
    its evidence. And the keywords that have words."""

    def __init__(self, topics: Sequence[Topic]) -> None:
        self.labels: list[str] = []
        self.numbers: dict[tuple[str, bool], int] = {}  # (key, keyword?) -> its number
        self.keywords: dict[str, KeywordParts] = {}  # the keywords that have words
        for topic in topics:
            for node in _leaves(topic.match):
                self.number(node)

    def number(self, node: EntityTerm | TypeTerm | KeywordTerm) -> int:
        """The number of a leaf (given on first sight); -1 for a keyword with no word in
        it, which is never found."""
        keyword = isinstance(node, KeywordTerm)
        key = node.keyword if isinstance(node, KeywordTerm) else _key(node)
        number = self.numbers.get((key, keyword))
        if number is None:
            number = self.numbers[key, keyword] = self._add(node, key)
        return number

    def _add(self, node: EntityTerm | TypeTerm | KeywordTerm, key: str) -> int:
        if isinstance(node, KeywordTerm):
            parts = keyword_parts(key)
            if parts is None:
                return -1
            self.keywords[key] = parts
            label = key
        else:
            label = f"entity:{key}" if isinstance(node, EntityTerm) else key
        self.labels.append(label)
        return len(self.labels) - 1


_FIELDS = {"body": IN_BODY, "title": IN_TITLE}
_NO_MENTIONS = np.zeros((4, 0), dtype=np.int64)


class TopicMatcher:
    """Matches every topic of a file against a tagged article.

    One compiled pass reads the article's words under the forms the keywords use (a cached
    lookup per distinct word) and finds every keyword
    (:class:`processors.wordforms.Vocabulary`); one compiled call then places every leaf
    found in the body, the title and both, and walks every topic's condition there
    (:func:`processors.conditions.match_topics`): the topics and their evidence, the tree
    walk's (tests/unit/processors/test_topic_identity.py).
    """

    def __init__(self, topics: TopicsFile) -> None:
        self.topics = topics
        leaves = _Leaves(topics.topics)
        self._labels = leaves.labels
        self._ids = [t.id for t in topics.topics]
        self._vocabulary = Vocabulary(leaves.keywords)
        self._keywords = np.array(
            [
                [leaves.numbers[name, True] for name in leaves.keywords],
                [len(rest) for _, rest in leaves.keywords.values()],
            ],
            dtype=np.int64,
        ).reshape(2, len(leaves.keywords))
        named = {key: n for (key, keyword), n in leaves.numbers.items() if not keyword}
        self._entity_leaf = named  # by entity id (no id is a type key: ids have no ':')
        self._type_leaf = {
            k.removeprefix("type:"): n for k, n in named.items() if k.startswith("type:")
        }
        self._program = _Program(topics.topics, leaves)

    def match(
        self, *, title: str, body: str, entities: Sequence[EntityMention | EntityTag]
    ) -> list[TopicMatch]:
        """The topics the article is about: the body or the title satisfies the condition."""
        words = self._vocabulary.hits(f"{title}\n{body}" if title else body)
        return self._matched(words, self._mentions(entities), len(title), bool(body))

    def match_tagged(self, found: Found, leaves: npt.NDArray[np.int64]) -> list[TopicMatch]:
        """:meth:`match` of an article as the tagger read it (its body less what cleaning
        dropped): the words from the fields the tagger normalized, the mentions' leaves by
        their patterns (``leaves``: :meth:`leaves` of :attr:`Tagger.pattern_entities`) —
        neither the masked body normalized again nor a lookup per mention."""
        words = self._vocabulary.field_hits(found.title, found.body, found.kept)
        mentions = np.empty((4, len(found.patterns)), dtype=np.int64)
        mentions[:2] = leaves[:, found.patterns]
        mentions[2, : found.in_title] = IN_TITLE
        mentions[2, found.in_title :] = IN_BODY
        mentions[3] = found.starts
        title = len(found.title.original) if found.title is not None else 0
        return self._matched(words, mentions, title, found.body is not None)

    def leaves(self, entities: Sequence[tuple[str, str]]) -> npt.NDArray[np.int64]:
        """The entity leaf and the type leaf (-1: no topic has it) of each (entity id,
        type), as two rows: of a tagger's patterns, looked up once, not for every mention
        of every article."""
        rows = [
            [self._entity_leaf.get(ident, -1) for ident, _ in entities],
            [self._type_leaf.get(kind, -1) for _, kind in entities],
        ]
        return np.array(rows, dtype=np.int64).reshape(2, len(entities))

    def _matched(
        self,
        words: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]],
        mentions: npt.NDArray[np.int64],
        title: int,
        body: bool,
    ) -> list[TopicMatch]:
        """The topics, from the article's words (:meth:`Vocabulary.hits`) and mentions as
        :func:`match_topics` reads them (entity leaf, type leaf, field, start), the title's
        length and whether there is a body."""
        starts, keys, at = words
        program = self._program
        runs = match_topics(
            program.nodes,
            program.children,
            program.masks,
            program.topics,
            program.needs,
            self._keywords,
            program.uses,
            starts,
            keys,
            at,
            mentions,
            title,
            body,
        )
        found: list[TopicMatch] = []
        held, labels, i = runs.tolist(), self._labels, 0
        while i < len(held):  # a topic, the count of its evidence, its evidence
            end = i + 2 + held[i + 1]
            values = {
                "id": self._ids[held[i]],
                "evidence": sorted({labels[n] for n in held[i + 2 : end]}),
            }
            found.append(trusted(TopicMatch, values, values))
            i = end
        return found

    def _mentions(self, mentions: Sequence[EntityMention | EntityTag]) -> npt.NDArray[np.int64]:
        """The rows :func:`match_topics` takes: each mention's entity leaf, type leaf, field
        and start (-1: a leaf no topic has). The tagger's tags are tuples, read by columns
        at once; other mentions one attribute at a time."""
        if not mentions:
            return _NO_MENTIONS
        if set(map(type, mentions)) == {EntityTag}:
            columns = list(zip(*mentions, strict=False))  # tags: all of one length
            ids, kinds, starts, fields = columns[0], columns[1], columns[6], columns[8]
        else:
            ids, kinds, fields, starts = zip(
                *map(attrgetter("id", "type", "field", "start"), mentions), strict=True
            )
        rows = chain(
            map(self._entity_leaf.get, ids, repeat(-1)),
            map(self._type_leaf.get, kinds, repeat(-1)),
            map(_FIELDS.get, fields, repeat(ELSEWHERE)),
            starts,
        )
        return np.fromiter(rows, np.int64, 4 * len(mentions)).reshape(4, -1)


class _Program:
    """Every topic's condition as rows of :mod:`processors.conditions`: nodes numbered in
    pre-order, the leaves of each ``any`` and ``none`` as bits of a row of ``masks``, each
    topic's root and the range of its rows of ``needs``, and how often each leaf is named.

    ``needs``: what a topic cannot hold without, as clauses (two rows of ``masks``: leaves
    of the place looked at, leaves of the title) that must each have a leaf there; a place
    that fails one is not walked (most topics fail most articles)."""

    def __init__(self, topics: Sequence[Topic], leaves: _Leaves) -> None:
        self._leaves = leaves
        self._rows: list[list[int]] = []
        self._children: list[int] = []
        self._masks: list[list[int]] = []
        self.uses = np.zeros(len(leaves.labels), dtype=np.int64)
        rows: list[list[int]] = []
        clauses: list[list[int]] = []
        for topic in topics:
            needs = self._needs(topic.match, False) or []
            rows.append([self._add(topic.match, False), len(clauses), len(clauses) + len(needs)])
            clauses.extend([self._row(here), self._row(there)] for here, there in needs)
        self.topics = np.array(rows, dtype=np.int64).reshape(len(rows), TOPIC_COLUMNS)
        self.needs = np.array(clauses, dtype=np.int64).reshape(len(clauses), 2)
        self.nodes = np.array(self._rows, dtype=np.int64).reshape(len(self._rows), NODE_COLUMNS)
        self.children = np.array(self._children, dtype=np.int64)
        words = (len(leaves.labels) + WORD_BITS - 1) // WORD_BITS
        self.masks = np.array(self._masks, dtype=np.int64).reshape(len(self._masks), words)

    def _add(self, node: Any, placed: bool) -> int:
        """Number a node and its parts; ``placed``: a ``within`` above reads its positions."""
        number = len(self._rows)
        row = [LEAF, -1, 0, 0, -1, int(placed)]
        self._rows.append(row)
        if isinstance(node, EntityTerm | TypeTerm | KeywordTerm):
            row[ARG] = self._use(node)
            return number
        parts: Sequence[Any]
        if isinstance(node, InTitle):
            row[KIND], parts = TITLE, (node.title,)
        elif isinstance(node, AnyOf | NoneOf):
            row[KIND] = ANY if isinstance(node, AnyOf) else NONE
            placed = placed and isinstance(node, AnyOf)  # a ``none`` has no positions
            terms = (EntityTerm, TypeTerm, KeywordTerm)
            listed = node.any if isinstance(node, AnyOf) else node.none
            row[MASK] = self._mask([p for p in listed if isinstance(p, terms)])
            parts = [p for p in listed if not isinstance(p, terms)]
        else:
            assert isinstance(node, AllOf)  # noqa: S101 - the union is closed
            row[KIND], row[ARG], parts = ALL, -1 if node.within is None else node.within, node.all
            placed = placed or node.within is not None
        numbers = [self._add(part, placed) for part in parts]
        row[FIRST], row[END] = len(self._children), len(self._children) + len(numbers)
        self._children.extend(numbers)
        return number

    def _use(self, node: EntityTerm | TypeTerm | KeywordTerm) -> int:
        leaf = self._leaves.number(node)
        if leaf >= 0:
            self.uses[leaf] += 1
        return leaf

    def _mask(self, terms: list[Any]) -> int:
        """A row of ``masks`` with the bits of these leaves (-1: none of them is ever found)."""
        bits = 0
        for term in terms:
            leaf = self._use(term)
            if leaf >= 0:
                bits |= 1 << leaf
        return self._row(bits)

    def _row(self, bits: int) -> int:
        """A row of ``masks`` with these bits (-1 for none)."""
        if not bits:
            return -1
        words = (len(self._leaves.labels) + WORD_BITS - 1) // WORD_BITS
        signed = [(bits >> (WORD_BITS * w)) & ((1 << WORD_BITS) - 1) for w in range(words)]
        self._masks.append([b - (1 << WORD_BITS) if b >> (WORD_BITS - 1) else b for b in signed])
        return len(self._masks) - 1

    def _needs(self, node: Any, title: bool) -> list[tuple[int, int]] | None:
        """What a condition cannot hold without, as clauses of leaf bits (here, in the
        title) that must each have a leaf there (``all``: every part's; ``any``: a leaf of
        any part, each part's narrowest clause; ``none``: nothing, as None)."""
        if isinstance(node, EntityTerm | TypeTerm | KeywordTerm):
            leaf = self._leaves.number(node)
            bit = 1 << leaf if leaf >= 0 else 0
            return [(0, bit) if title else (bit, 0)]
        if isinstance(node, InTitle):
            return self._needs(node.title, True)
        if isinstance(node, NoneOf):
            return None
        if isinstance(node, AnyOf):
            options = [self._needs(part, title) for part in node.any]
            here = there = 0
            for option in options:
                if option is None:
                    return None
                h, t = min(option, key=lambda clause: (clause[0] | clause[1]).bit_count())
                here, there = here | h, there | t
            return [(here, there)]
        assert isinstance(node, AllOf)  # noqa: S101 - the union is closed
        clauses = [c for part in node.all for c in self._needs(part, title) or ()]
        return clauses or None


def _key(node: EntityTerm | TypeTerm) -> str:
    """The key of an entity or type term among a field's entities."""
    return node.entity if isinstance(node, EntityTerm) else f"type:{node.type.value}"


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
