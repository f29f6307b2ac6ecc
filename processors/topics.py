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
file (:class:`processors.wordforms.Vocabulary`), then, per field, a mask of the entities and
keywords found; a topic is evaluated only in a field that has some leaf of each part it
cannot hold without, and an ``any`` looks only at its leaves that are there. The result is
the tree walk's, evidence included (tests/unit/processors/test_topic_identity.py).

>>> topic = Topic.model_validate({"id": "truce", "names": {"ar": "هدنة", "en": "Truce"},
...     "match": {"any": [{"keyword": "هدنة"}, {"keyword": "وقف إطلاق النار"}]}})
>>> matcher = TopicMatcher(TopicsFile(topics=(topic,)))
>>> [t.id for t in matcher.match(title="", body="دخلت الهدنة حيز التنفيذ.", entities=[])]
['truce']
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NamedTuple, Union

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from processors.tagger import Tag as EntityTag
from processors.watchlist import EntityType, Names, Watchlist
from processors.wordforms import (
    KeywordParts,
    Vocabulary,
    keyword_parts,
    word_at,
)
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


Positions = list[int] | None
"""Word indices where a condition holds; [] holds without a place (``none``); None fails."""


class _Leaf(NamedTuple):
    """An entity, type or keyword term, numbered: bit ``1 << n`` stands for it in masks."""

    key: str  # entity id, ``type:<TYPE>``, or the keyword as written
    label: str  # its evidence
    keyword: bool


class _Leaves:
    """Every leaf of a topics file, numbered (a mask of leaves is an int), and the keywords
    each first-word reading can begin."""

    def __init__(self, topics: Sequence[Topic]) -> None:
        self.leaves: list[_Leaf] = []
        self.bits: dict[tuple[str, bool], int] = {}  # (key, keyword?) -> its bit
        self.keywords: dict[str, KeywordParts] = {}  # the keywords that have words
        self.by_reading: dict[str, list[str]] = {}  # first-word reading -> keywords
        for topic in topics:
            for node in _leaves(topic.match):
                self.bit(node)
        # the same bits by key alone, looked up per article without building tuples
        self.entity_bits = {k: b for (k, kw), b in self.bits.items() if not kw}
        self.keyword_bits = {k: b for (k, kw), b in self.bits.items() if kw}
        self.named_bits: dict[tuple[str, str], int] = {}  # (entity id, type) -> its bits

    def bit(self, node: EntityTerm | TypeTerm | KeywordTerm) -> int:
        """The bit of a leaf (numbered on first sight); 0 for a keyword with no word in it,
        which is never found."""
        keyword = isinstance(node, KeywordTerm)
        key = node.keyword if isinstance(node, KeywordTerm) else _key(node)
        bit = self.bits.get((key, keyword))
        if bit is None:
            bit = self.bits[key, keyword] = self._add(node, key)
        return bit

    def _add(self, node: EntityTerm | TypeTerm | KeywordTerm, key: str) -> int:
        if isinstance(node, KeywordTerm):
            parts = keyword_parts(key)
            if parts is None:
                return 0
            self.keywords[key] = parts
            for reading in parts[0]:
                self.by_reading.setdefault(reading, []).append(key)
            label = key
        else:
            label = f"entity:{key}" if isinstance(node, EntityTerm) else key
        self.leaves.append(_Leaf(key, label, isinstance(node, KeywordTerm)))
        return 1 << (len(self.leaves) - 1)

    def entity_mask(self, named: Named) -> int:
        """The entity and type leaves that hold in a field, from the entities named in it
        (each (id, type)'s bits worked out once per process: the watchlist bounds them)."""
        known, mask = self.named_bits, 0
        for key in named:
            bits = known.get(key)
            if bits is None:
                ident, kind = key
                entity_bits = self.entity_bits
                bits = known[key] = entity_bits.get(ident, 0) | entity_bits.get(f"type:{kind}", 0)
            mask |= bits
        return mask

    def keyword_mask(self, keywords: dict[str, list[int]]) -> int:
        """The keyword leaves that hold in a field."""
        keyword_bits, mask = self.keyword_bits, 0
        for key in keywords:
            mask |= keyword_bits[key]
        return mask


@dataclass(slots=True)
class _Place:
    """Where a condition is looked for: the body, the title, or both (word indices counted
    from the field's start), with every entity and keyword found in it, and their mask.

    Entities are kept as found (``named``: the words of ``title + "\\n" + body``, one
    grouping per field here); the positions of an entity id or a type in this place are
    worked out the first time a ``within`` asks for them: each word less ``shift``, floored
    at 0, and capped at ``cap`` (the body after a title; the title's last word)."""

    named: tuple[Named, ...]
    keywords: dict[str, list[int]]
    mask: int
    shift: int = 0
    cap: int | None = None
    by_key: dict[str, list[int]] | None = None

    def collect(
        self, mask: int, leaves: list[_Leaf], evidence: list[str], out: list[int] | None
    ) -> bool:
        """Whether any of the leaves in ``mask`` holds here; their evidence, and their
        positions unless ``out`` is None (no ``within`` above will look at them)."""
        mask &= self.mask
        if not mask:
            return False
        while mask:
            low = mask & -mask
            mask ^= low
            leaf = leaves[low.bit_length() - 1]
            evidence.append(leaf.label)
            if out is None:
                continue
            if leaf.keyword:
                out.extend(self.keywords[leaf.key])
            else:
                out.extend(self._positions(leaf.key))
        return True

    def _positions(self, key: str) -> list[int]:
        """Where this place names an entity id or ``type:<TYPE>`` (once per key: only a
        few of the entities named are ever asked for)."""
        if self.by_key is None:
            self.by_key = {}
        found = self.by_key.get(key)
        if found is None:
            found = self.by_key[key] = _by_key(self.named, key, self.shift, self.cap)
        return found


@dataclass(frozen=True, slots=True)
class _Article:
    title: _Place
    whole: _Place  # title and body together: where ``none`` looks, whatever field matched


Check = Callable[[_Article, _Place, list[str]], Positions]
"""A compiled condition: where it holds in a place (in no order: only a ``within`` looks at
positions, and it sorts them), appending the evidence it looked at. A condition compiled
without ``placed`` (no ``within`` above it) gives [] where it holds: its positions would
never be read."""

Clause = tuple[int, int]
"""Leaves one of which a condition needs, in the place looked at and in the title (masks):
with none of them there, it cannot hold."""


@dataclass(frozen=True, slots=True)
class _Compiled:
    topic: Topic
    check: Check
    needs: list[Clause] | None  # None: it may hold with no leaf at all (``none`` alone)


class TopicMatcher:
    """Matches every topic of a file against a tagged article.

    One pass reads the article's words under the forms the keywords use (a cached lookup
    per distinct word) and finds every keyword whose first word occurs; a topic is then
    evaluated only in a field that has some leaf of each thing it needs, and an ``any``
    looks only at the leaves found (bit masks), not at each of its parts.
    """

    def __init__(self, topics: TopicsFile) -> None:
        self.topics = topics
        self._leaves = _Leaves(topics.topics)
        self._vocabulary = Vocabulary(self._leaves.keywords)
        self._compiled = [
            _Compiled(
                t, _compile(t.match, self._leaves, False), _needs(t.match, self._leaves, False)
            )
            for t in topics.topics
        ]

    def match(
        self, *, title: str, body: str, entities: Sequence[EntityMention | EntityTag]
    ) -> list[TopicMatch]:
        """The topics the article is about: the body or the title satisfies the condition."""
        body_at, title_at, whole = self._places(title, body, entities)
        places = [body_at, title_at, whole] if title and body else [body_at, title_at]
        article = _Article(title=title_at, whole=whole)
        found: list[TopicMatch] = []
        in_title = title_at.mask
        for compiled in self._compiled:
            needs = compiled.needs
            for where in places:
                if needs is not None and not _possible(needs, where.mask, in_title):
                    continue
                evidence: list[str] = []
                if compiled.check(article, where, evidence) is not None:
                    values = {"id": compiled.topic.id, "evidence": sorted(set(evidence))}
                    found.append(trusted(TopicMatch, values, values))
                    break
        return found

    def _places(
        self, title: str, body: str, mentions: Sequence[EntityMention | EntityTag]
    ) -> tuple[_Place, _Place, _Place]:
        """The body, the title and both together, each with where it names each entity (and
        each entity type) and each keyword, by word index. The words are read once, from
        ``title + "\\n" + body``: the title's come first (as if each field were read alone),
        the body's from ``split`` on."""
        found = self._vocabulary.find(f"{title}\n{body}" if title else body)
        keywords, starts = found.keywords, found.starts
        split = int(np.searchsorted(starts, len(title))) if title else 0
        leaves = self._leaves
        in_body, in_title = _named(starts, len(title) + 1 if title else 0, mentions)
        last = max(split - 1, 0)
        named_body, named_title = leaves.entity_mask(in_body), leaves.entity_mask(in_title)
        if not title:
            body_at = whole = _Place(
                (in_body,), keywords, named_body | leaves.keyword_mask(keywords)
            )
            title_at = _Place((in_title,), {}, named_title, cap=last)
            return body_at, title_at, whole
        body_words, title_words = {}, {}
        for keyword, at in keywords.items():
            tail = len(leaves.keywords[keyword][1])
            if at[-1] >= split:
                body_words[keyword] = [i - split for i in at if i >= split]
            if at[0] < split - tail:
                title_words[keyword] = [i for i in at if i < split - tail]
        body_mask = named_body | leaves.keyword_mask(body_words)
        body_at = _Place((in_body,), body_words, body_mask, shift=split)
        title_mask = named_title | leaves.keyword_mask(title_words)
        title_at = _Place((in_title,), title_words, title_mask, cap=last)
        whole_mask = named_body | named_title | leaves.keyword_mask(keywords)
        whole = _Place((in_title, in_body), keywords, whole_mask)
        return body_at, title_at, whole


def _possible(needs: list[Clause], mask: int, in_title: int) -> bool:
    """Whether each clause has a leaf in ``mask`` (the place) or in ``in_title``."""
    for here, there in needs:
        if not (here & mask or there & in_title):
            return False
    return True


Named = dict[tuple[str, str], list[int]]
"""Where each (entity id, entity type) is named in a field, by word index."""


def _named(
    starts: npt.NDArray[np.int64], shift: int, mentions: Sequence[EntityMention | EntityTag]
) -> tuple[Named, Named]:
    """Where the body and the title name each entity: the word of ``title + "\\n" + body``
    each mention starts in (the body's offsets shifted by ``shift``, past the title)."""
    body: Named = {}
    heading: Named = {}
    offsets = [m.start + shift if m.field == "body" else m.start for m in mentions]
    for m, word in zip(mentions, word_at(starts, offsets), strict=True):
        field_ = m.field
        if field_ == "body":
            here = body
        elif field_ == "title":
            here = heading
        else:
            continue
        key = (m.id, m.type)
        found = here.get(key)
        if found is None:
            here[key] = [word]
        else:
            found.append(word)
    return body, heading


def _by_key(named: tuple[Named, ...], key: str, shift: int, cap: int | None) -> list[int]:
    """Positions of an entity id or of ``type:<TYPE>``, each word less ``shift`` (floored at
    0) and capped at ``cap`` (the order within the list is moot: positions are only ever
    sorted, or tested for being there)."""
    of_type = key[len("type:") :] if key.startswith("type:") else None
    at: list[int] = []
    for field_ in named:
        for (ident, kind), words in field_.items():
            if ident == key:
                at.extend(words)
            if kind == of_type:
                at.extend(words)
    if cap is not None:
        return [min(w, cap) for w in at]
    if shift:
        return [max(w - shift, 0) for w in at]
    return at


def _needs(node: Any, leaves: _Leaves, title: bool) -> list[Clause] | None:
    """What a condition cannot hold without, as clauses that must each have a leaf possible
    (``all``: every part's; ``any``: a leaf of any part; ``none``: nothing)."""
    if isinstance(node, EntityTerm | TypeTerm | KeywordTerm):
        bit = leaves.bit(node)
        return [(0, bit) if title else (bit, 0)]
    if isinstance(node, InTitle):
        return _needs(node.title, leaves, True)
    if isinstance(node, NoneOf):
        return None
    if isinstance(node, AnyOf):
        options = [_needs(child, leaves, title) for child in node.any]
        if any(option is None for option in options):
            return None
        here = there = 0
        for option in options:  # one clause of each part will do: the narrowest
            h, t = min(option or (), key=lambda c: (c[0] | c[1]).bit_count())
            here, there = here | h, there | t
        return [(here, there)]
    assert isinstance(node, AllOf)  # noqa: S101 - the union is closed
    clauses = [c for child in node.all for c in _needs(child, leaves, title) or ()]
    return clauses or None


def _key(node: EntityTerm | TypeTerm) -> str:
    """The key of an entity or type term among a field's entities."""
    return node.entity if isinstance(node, EntityTerm) else f"type:{node.type.value}"


def _compile(node: Any, leaves: _Leaves, placed: bool) -> Check:
    """A condition as nested closures, so an article is not walked through ``isinstance``
    chains. The tree's order of evaluation is kept where it shows: an ``all`` stops at its
    first failing part (the evidence of the parts before it stays). The leaves of an
    ``any`` or a ``none`` are tried together, as a mask: each part of an ``any`` is
    evaluated whatever the others give, and evidence is a set, so order there is moot (and
    a part listed twice counts once: positions are compared, never counted). ``placed``:
    whether a ``within`` above will read the positions (else none are gathered)."""
    compile_kind: Callable[[Any, _Leaves, bool], Check] = _COMPILERS[type(node)]
    return compile_kind(node, leaves, placed)


def _leaf(node: EntityTerm | TypeTerm | KeywordTerm, leaves: _Leaves, placed: bool) -> Check:
    bit, table = leaves.bit(node), leaves.leaves

    def leaf(article: _Article, where: _Place, evidence: list[str]) -> Positions:
        positions: list[int] = []
        return positions if where.collect(bit, table, evidence, positions) else None

    def leaf_unplaced(article: _Article, where: _Place, evidence: list[str]) -> Positions:
        return [] if where.collect(bit, table, evidence, None) else None

    return leaf if placed else leaf_unplaced


def _in_title(node: InTitle, leaves: _Leaves, placed: bool) -> Check:
    child = _compile(node.title, leaves, placed)

    def in_title(article: _Article, where: _Place, evidence: list[str]) -> Positions:
        return child(article, article.title, evidence)

    return in_title


def _split(parts: Sequence[Any], leaves: _Leaves, placed: bool) -> tuple[int, list[Check]]:
    """The mask of the leaves among ``parts``, and the other parts compiled."""
    mask, others = 0, []
    for part in parts:
        if isinstance(part, EntityTerm | TypeTerm | KeywordTerm):
            mask |= leaves.bit(part)
        else:
            others.append(_compile(part, leaves, placed))
    return mask, others


def _any_of(node: AnyOf, leaves: _Leaves, placed: bool) -> Check:
    (mask, others), table = _split(node.any, leaves, placed), leaves.leaves

    def any_of(article: _Article, where: _Place, evidence: list[str]) -> Positions:
        merged: list[int] | None = [] if placed else None
        hit = where.collect(mask, table, evidence, merged)
        for other in others:
            got = other(article, where, evidence)
            if got is not None:
                hit = True
                if merged is not None:
                    merged.extend(got)
        return (merged or []) if hit else None

    return any_of


def _none_of(node: NoneOf, leaves: _Leaves, placed: bool) -> Check:
    mask, others = _split(node.none, leaves, False)  # a leaf's evidence is never kept here

    def none_of(article: _Article, where: _Place, evidence: list[str]) -> Positions:
        scratch: list[str] = []  # excluded anywhere in the article, not just here
        whole = article.whole
        if mask & whole.mask or any(other(article, whole, scratch) is not None for other in others):
            return None
        return []

    return none_of


def _all_of(node: AllOf, leaves: _Leaves, placed: bool) -> Check:
    within = node.within
    required = [_compile(c, leaves, placed or within is not None) for c in node.all]

    def all_of(article: _Article, where: _Place, evidence: list[str]) -> Positions:
        groups: list[list[int]] = []
        for part in required:
            got = part(article, where, evidence)
            if got is None:
                return None
            if got:
                groups.append(got)
        if within is not None and groups and not _within(groups, within):
            return None
        return [p for g in groups for p in g] if placed else []

    return all_of


_COMPILERS: dict[type, Callable[[Any, _Leaves, bool], Check]] = {
    EntityTerm: _leaf,
    TypeTerm: _leaf,
    KeywordTerm: _leaf,
    InTitle: _in_title,
    AnyOf: _any_of,
    NoneOf: _none_of,
    AllOf: _all_of,
}


def _within(groups: list[list[int]], span: int) -> bool:
    """Is there one position from each group, all within ``span`` words? (sliding window
    over the positions in order, each written ``position * groups + group``: ints sort
    several times faster than (position, group) pairs)"""
    need = len(groups)
    events = sorted([p * need + g for g, positions in enumerate(groups) for p in positions])
    counts = [0] * need
    covered = 0
    left = 0
    for event in events:
        group = event % need
        if counts[group] == 0:
            covered += 1
        counts[group] += 1
        while covered == need:
            if event // need - events[left] // need <= span:
                return True
            g = events[left] % need
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
