"""The one-pass topic matcher finds what the tree walk it replaced found, evidence included.

:class:`ReferenceMatcher` below is the matcher as it was before issue 15 (every topic's tree
walked for every article, each keyword looked up in a per-field index of word readings),
kept here only to be compared with: on every seed, every item of every review set, the
topic cases, hand-made trees that reach each kind of condition, and random articles.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.clean import clean_body
from processors.normalize import normalize_with_offsets
from processors.pipeline import Pipeline
from processors.tagger import Tag, Tagger
from processors.topics import (
    AnyOf,
    EntityTerm,
    InTitle,
    KeywordTerm,
    NoneOf,
    TopicMatcher,
    TopicsFile,
    TypeTerm,
    _leaves,
    load_topics,
)
from processors.watchlist import load_watchlist
from processors.wordforms import KeywordParts, keyword_parts, readings
from producers.seeds import load_seed_dir
from raqib.messages import TopicMatch, parse_article

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "tests" / "data"
WORD = re.compile(r"\w+")
HEH = "\u0647"  # ARABIC LETTER HEH


@dataclass
class _Words:
    words: list[str]
    heh: list[bool] = field(default_factory=list)
    entities: dict[str, list[int]] = field(default_factory=dict)
    stems: dict[str, list[int]] | None = None

    def find(self, parts: KeywordParts, wanted: frozenset[str]) -> list[int]:
        if self.stems is None:
            self.stems = {}
            for i, word in enumerate(self.words):
                for reading in readings(word, self.heh[i]):
                    if reading in wanted:
                        self.stems.setdefault(reading, []).append(i)
        firsts, rest = parts
        starts = sorted({i for first in firsts for i in self.stems.get(first, ())})
        words, heh = self.words, self.heh
        return [
            i
            for i in starts
            if not rest
            or i + len(rest) < len(words)
            and all(w in readings(words[i + 1 + k], heh[i + 1 + k]) for k, w in enumerate(rest))
        ]


def _near(groups: list[list[int]], span: int) -> bool:
    """Some window of ``span`` words holds a position of every group: the definition, not
    the compiled sliding window under test."""
    starts = {p for positions in groups for p in positions}
    return any(all(any(a <= p <= a + span for p in g) for g in groups) for a in starts)


def _words_of(text: str, mentions: list[tuple[str, str, int]]) -> _Words:
    norm, offsets = normalize_with_offsets(text)
    spans = [(m.start(), m.end(), m.group()) for m in WORD.finditer(norm)]
    starts = [offsets.index(s) for s, _, _ in spans]
    heh = [w.endswith(HEH) and text[offsets.index(e - 1)] == HEH for _, e, w in spans]
    out = _Words(words=[w for _, _, w in spans], heh=heh)
    for entity, kind, start in mentions:
        word = max(0, bisect_right(starts, start) - 1)
        out.entities.setdefault(entity, []).append(word)
        out.entities.setdefault(f"type:{kind}", []).append(word)
    return out


class ReferenceMatcher:
    """The matcher before issue 15: a tree walk per topic and field."""

    def __init__(self, topics: TopicsFile) -> None:
        self.topics = topics
        self.keywords = {
            leaf.keyword: keyword_parts(leaf.keyword)
            for t in topics.topics
            for leaf in _leaves(t.match)
            if isinstance(leaf, KeywordTerm)
        }
        self.firsts = frozenset(f for p in self.keywords.values() if p for f in p[0])

    def match(self, *, title: str, body: str, entities: list[Tag]) -> list[TopicMatch]:
        in_body = [(m.id, str(m.type), m.start) for m in entities if m.field == "body"]
        in_title = [(m.id, str(m.type), m.start) for m in entities if m.field == "title"]
        body_words = _words_of(body, in_body)
        if title:
            shift = len(title) + 1
            both = [*in_title, *((i, t, s + shift) for i, t, s in in_body)]
            whole = _words_of(f"{title}\n{body}", both)
        else:
            whole = body_words
        title_words = _words_of(title, in_title)
        self.title, self.whole = title_words, whole
        places = [body_words, title_words] + ([whole] if title and body else [])
        found = []
        for topic in self.topics.topics:
            for where in places:
                evidence: list[str] = []
                if self._eval(topic.match, where, evidence) is not None:
                    found.append(TopicMatch(id=topic.id, evidence=sorted(set(evidence))))
                    break
        return found

    def _eval(self, node: Any, where: _Words, evidence: list[str]) -> list[int] | None:
        if isinstance(node, EntityTerm | TypeTerm):
            key = node.entity if isinstance(node, EntityTerm) else f"type:{node.type.value}"
            positions = where.entities.get(key)
            if positions:
                evidence.append(f"entity:{key}" if isinstance(node, EntityTerm) else key)
            return positions or None
        if isinstance(node, KeywordTerm):
            parts = self.keywords[node.keyword]
            positions = where.find(parts, self.firsts) if parts else []
            if positions:
                evidence.append(node.keyword)
            return positions or None
        if isinstance(node, InTitle):
            return self._eval(node.title, self.title, evidence)
        if isinstance(node, AnyOf):
            got = [self._eval(child, where, evidence) for child in node.any]
            held = [g for g in got if g is not None]
            return sorted(p for g in held for p in g) if held else None
        if isinstance(node, NoneOf):
            scratch: list[str] = []
            if any(self._eval(c, self.whole, scratch) is not None for c in node.none):
                return None
            return []
        groups: list[list[int]] = []
        for child in node.all:
            positions = self._eval(child, where, evidence)
            if positions is None:
                return None
            if positions:
                groups.append(positions)
        if node.within is not None and groups and not _near(groups, node.within):
            return None
        return sorted(p for g in groups for p in g)


def _same(matcher: TopicMatcher, tagger: Tagger, title: str, body: str, clean: bool) -> None:
    """Both matchers on one article, tagged and cleaned as the pipeline does it."""
    cleaned = clean_body(body, title=title) if clean else None
    tags = tagger.tag(title=title, body=body, cleaned=cleaned)
    masked = cleaned.masked(body) if cleaned is not None else body
    new = matcher.match(title=title, body=masked, entities=tags)
    old = ReferenceMatcher(matcher.topics).match(title=title, body=masked, entities=tags)
    assert new == old
    found = tagger.find(title=title, body=body, cleaned=cleaned)
    assert matcher.match_tagged(found, _leaves_of(matcher, tagger)) == new  # the pipeline's way


_LEAVES: dict[tuple[TopicMatcher, Tagger], npt.NDArray[np.int64]] = {}


def _leaves_of(matcher: TopicMatcher, tagger: Tagger) -> npt.NDArray[np.int64]:
    """The topics' leaves of the tagger's patterns, as a :class:`Pipeline` keeps them."""
    if (matcher, tagger) not in _LEAVES:
        _LEAVES[matcher, tagger] = matcher.leaves(tagger.pattern_entities)
    return _LEAVES[matcher, tagger]


@pytest.fixture(scope="module")
def default() -> Pipeline:
    watchlist = load_watchlist()
    return Pipeline(watchlist, load_topics(None, watchlist))


@pytest.fixture(scope="module")
def small() -> Pipeline:
    watchlist = load_watchlist(DATA / "watchlist_small.yaml")
    return Pipeline(watchlist, load_topics(DATA / "topics_small.yaml", watchlist))


def _review_items() -> list[tuple[str, str]]:
    items = []
    for path in sorted((DATA / "review").glob("*.yaml")):
        cases = yaml.safe_load(path.read_text(encoding="utf-8"))["cases"]
        items.extend((case.get("title") or "", case["text"]) for case in cases)
    cases = yaml.safe_load((DATA / "topics_cases.yaml").read_text(encoding="utf-8"))["cases"]
    items.extend(("", case["text"]) for case in cases)
    return items


REVIEW = _review_items()


def test_every_seed(default: Pipeline, small: Pipeline) -> None:
    seeds = load_seed_dir(ROOT / "seeds")
    for seed in seeds:
        article = parse_article(json.dumps(seed).encode(), fallback_time=None)
        for pipeline in (default, small):
            _same(pipeline.matcher, pipeline.tagger, article.title, article.body, clean=True)
            _same(pipeline.matcher, pipeline.tagger, "", article.body, clean=False)


def test_every_review_item(default: Pipeline, small: Pipeline) -> None:
    assert len(REVIEW) > 700  # 691 review items and the 25 topic cases
    for title, text in REVIEW:
        for pipeline in (default, small):
            _same(pipeline.matcher, pipeline.tagger, title, text, clean=True)
            _same(pipeline.matcher, pipeline.tagger, "", text, clean=False)
            if not title:  # the text's first sentence as a headline over the rest
                head, _, rest = text.partition("،")
                _same(pipeline.matcher, pipeline.tagger, head, rest or text, clean=False)


TREES = yaml.safe_load(
    """
topics:
  - id: title-only
    names: {ar: ع, en: Title}
    match: {title: {any: [{entity: iran}, {keyword: هدنة}, {type: PER}]}}
  - id: title-and-body-near
    names: {ar: ع, en: Near}
    match:
      all: [{title: {entity: syria}}, {keyword: قصف}, {any: [{entity: aleppo}, {type: GPE}]}]
      within: 5
  - id: nested-none
    names: {ar: ع, en: None}
    match:
      all:
        - any: [{keyword: هدنة}, {keyword: وقف إطلاق النار}, {keyword: هدنة}, {keyword: "..."}]
        - none: [{all: [{keyword: مباراة}, {none: [{keyword: الدوري}]}]}, {entity: qatar}]
  - id: none-alone
    names: {ar: ع, en: Lone}
    match: {none: [{keyword: حرب}, {title: {keyword: سلام}}]}
  - id: deep-within
    names: {ar: ع, en: Deep}
    match:
      any:
        - all: [{entity: iran}, {any: [{keyword: ميليشيا}, {keyword: نفوذ}]}]
          within: 3
        - all: [{type: ORG}, {keyword: بيان}, {title: {type: GPE}}]
          within: 40
  - id: empty-keyword
    names: {ar: ع, en: Empty}
    match: {any: [{keyword: "—"}, {all: [{keyword: "؟"}, {entity: syria}]}]}
"""
)


def test_every_kind_of_condition(default: Pipeline) -> None:
    """Trees that reach each condition: title-only, a title part inside a distance, nested
    ``none``, a ``none`` alone (holds on an empty article), a keyword listed twice, and
    keywords with no word in them."""
    matcher = TopicMatcher(TopicsFile.model_validate(TREES))
    seeds = [s["body"] for s in load_seed_dir(ROOT / "seeds")]
    texts = [text for _, text in REVIEW[::7]] + seeds
    for i, text in enumerate(texts):
        title = texts[(i + 1) % len(texts)][:80] if i % 3 else ""
        _same(matcher, default.tagger, title, text, clean=bool(i % 2))
    _same(matcher, default.tagger, "", "", clean=False)
    _same(matcher, default.tagger, "سلام", "", clean=False)


def _pieces() -> list[str]:
    """Words the default topics and watchlist look for, and words around them."""
    topics = load_topics()
    leaves = [leaf for t in topics.topics for leaf in _leaves(t.match)]
    keywords = [leaf.keyword for leaf in leaves if isinstance(leaf, KeywordTerm)]
    names = [e.names.ar for e in load_watchlist().entities][:120]
    filler = "قال إن في على من مع اليوم أمس الذي التي بعد قبل وقد ثم".split()
    return keywords + names + filler


PIECES = _pieces()
CLITICS = ["", "", "", "و", "ب", "ل", "ال", "وال", "بال", "لل", "س"]
SUFFIXES = ["", "", "", "ه", "ها", "هم", "ات", "ين", "ون", "ت", "ة", "ية", "ا"]
MARKS = ["", "", "", "\u064e", "\u0651", "\u0640"]


@st.composite
def _article(draw: st.DrawFn) -> tuple[str, str]:
    def word() -> str:
        piece = draw(st.sampled_from(PIECES))
        return draw(st.sampled_from(CLITICS)) + piece + draw(st.sampled_from(SUFFIXES))

    def sentence(size: int) -> str:
        words = [word() for _ in range(draw(st.integers(0, size)))]
        return " ".join(w + draw(st.sampled_from(MARKS)) for w in words)

    seps = st.sampled_from([" ", "، ", ". ", "\n", "\n\n"])
    body = "".join(sentence(12) + draw(seps) for _ in range(draw(st.integers(1, 6))))
    return draw(st.sampled_from(["", sentence(6)])), body


@settings(max_examples=300, deadline=None)
@given(article=_article())
def test_random_articles(default: Pipeline, article: tuple[str, str]) -> None:
    title, body = article
    _same(default.matcher, default.tagger, title, body, clean=False)
    _same(default.matcher, default.tagger, title, body, clean=True)
