"""Find the watchlist's entities in Arabic and English text, with offsets as written.

One Aho-Corasick automaton holds every normalized name and alias. A candidate counts
only as a whole token, optionally led by Arabic proclitics (و ف ب ل ك, and ل + ال
written لل); a name inside a longer watched name belongs to the longer one; an alias
that is also an ordinary word counts only with context (see :class:`Entity`).

>>> from processors.watchlist import load_watchlist
>>> tagger = Tagger(load_watchlist())
>>> [(m.id, m.surface) for m in tagger.tag_text("ووصل الوزير ظريف إلى دمشقَ")]
[('mohammad-javad-zarif', 'ظريف'), ('damascus', 'دمشقَ')]
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from operator import itemgetter
from typing import NamedTuple

import ahocorasick

from processors.clean import Cleaned
from processors.normalize import ATTACHED, normalize_ar, normalize_with_offsets
from processors.watchlist import Entity, Watchlist, names_of
from raqib.exceptions import ConfigError
from raqib.messages import EntityMention

WAW = "\u0648"  # ARABIC LETTER WAW: "and"
FEH = "\u0641"  # ARABIC LETTER FEH: "so, then"
BEH = "\u0628"  # ARABIC LETTER BEH: "in, with"
LAM = "\u0644"  # ARABIC LETTER LAM: "to, for"
KAF = "\u0643"  # ARABIC LETTER KAF: "like"
DEFINITE_ARTICLE = "\u0627\u0644"  # ال

_CONJUNCTIONS = ("", WAW, FEH)
PREFIXES_BARE = frozenset(c + p for c in _CONJUNCTIONS for p in ("", BEH, LAM, KAF))
"""Proclitics allowed before a name without the article: وإيران، بدمشق، لطهران، فبحلب."""
PREFIXES_DEFINITE = frozenset(c + p for c in _CONJUNCTIONS for p in ("", BEH, KAF))
"""Before a name with ال: والأسد، بالحرس. ل + ال is spelled لل and gets its own pattern."""
PREFIXES_LAM_DEFINITE = frozenset(_CONJUNCTIONS)
"""Before the لل form (للأسد): only a conjunction (وللحرس)."""
PREFIXES_AMBIGUOUS_BARE = frozenset(_CONJUNCTIONS)
"""An ambiguous alias without ال takes only a conjunction: with ب ل ك a common word
turns up inside other words (كامل = ك + امل "hope"), and بحماس is "with enthusiasm"."""
PREFIXES_AMBIGUOUS_DEFINITE = frozenset(c + p for c in _CONJUNCTIONS for p in ("", BEH))
MAX_PREFIX = 2

_SENTENCE_END = re.compile(r"[.!?\u061f\u061b]")  # . ! ? ARABIC QUESTION MARK, ARABIC SEMICOLON


@dataclass(frozen=True, slots=True)
class _Pattern:
    entity: Entity
    ambiguous: bool
    prefixes: frozenset[str]
    skip: int = 0  # leading characters that are a proclitic, not the name (ل of لل)
    info: tuple[str, str, str, str, str | None] = field(init=False)
    """The fields of a :class:`Tag` that come from the entity, built once."""

    def __post_init__(self) -> None:
        e = self.entity
        object.__setattr__(self, "info", (e.id, e.type.value, e.names.ar, e.names.en, e.wikidata))


class Tag(NamedTuple):
    """One occurrence of a watched entity: the fields of :class:`EntityMention`.

    A named tuple, because building a pydantic model (or a frozen dataclass) per hit
    costs more than finding the hit; :meth:`to_message` builds the message at the edge.
    """

    id: str
    type: str
    name: str
    name_en: str
    wikidata: str | None
    surface: str
    start: int
    end: int
    field: str

    def to_message(self) -> EntityMention:
        return EntityMention(
            id=self.id,
            type=self.type,
            name=self.name,
            name_en=self.name_en,
            wikidata=self.wikidata,
            surface=self.surface,
            start=self.start,
            end=self.end,
            field="title" if self.field == "title" else "body",
        )


class _Hit(NamedTuple):
    pattern: _Pattern
    field: str
    start: int  # original text
    end: int
    norm_start: int  # normalized text, for finding its sentence


def _is_arabic(text: str) -> bool:
    return any("\u0600" <= ch <= "\u06ff" for ch in text)


class Tagger:
    """Tags entities of one watchlist; build once, reuse for every article.

    >>> from processors.watchlist import load_watchlist
    >>> Tagger(load_watchlist()).tag_text("Iran's envoy").pop().surface
    'Iran'
    """

    def __init__(self, watchlist: Watchlist) -> None:
        self.watchlist = watchlist
        self._automaton = ahocorasick.Automaton()
        patterns: dict[str, _Pattern] = {}
        for entity in watchlist.entities:
            for _, alias, ambiguous in names_of(entity):
                for key, pattern in self._variants(alias, entity, ambiguous):
                    self._add(patterns, key, pattern)
        for key, pattern in patterns.items():
            self._automaton.add_word(key, (len(key), pattern))
        self._automaton.make_automaton()
        self._cues = {
            e.id: tuple(_cue_regex(normalize_ar(c).strip()) for c in e.cues if c.strip())
            for e in watchlist.entities
        }

    @staticmethod
    def _variants(alias: str, entity: Entity, ambiguous: bool) -> Iterator[tuple[str, _Pattern]]:
        key = normalize_ar(alias).strip()
        if not key:
            return
        if not _is_arabic(key):
            yield key, _Pattern(entity, ambiguous, frozenset({""}))
        elif key.startswith(DEFINITE_ARTICLE) and len(key) > 3:
            prefixes = PREFIXES_AMBIGUOUS_DEFINITE if ambiguous else PREFIXES_DEFINITE
            yield key, _Pattern(entity, ambiguous, prefixes)
            yield LAM + LAM + key[2:], _Pattern(entity, ambiguous, PREFIXES_LAM_DEFINITE, skip=1)
        else:
            prefixes = PREFIXES_AMBIGUOUS_BARE if ambiguous else PREFIXES_BARE
            yield key, _Pattern(entity, ambiguous, prefixes)

    @staticmethod
    def _add(patterns: dict[str, _Pattern], key: str, pattern: _Pattern) -> None:
        other = patterns.get(key)
        if other is None or (other.entity.id == pattern.entity.id and other.ambiguous):
            patterns[key] = pattern
        elif other.entity.id != pattern.entity.id:
            raise ConfigError(
                "watchlist",
                None,
                f"alias {key!r} is claimed by both {other.entity.id!r} and {pattern.entity.id!r}",
            )

    def _candidates(self, norm: str) -> list[tuple[int, int, int, _Pattern]]:
        """Whole-token hits as (-length, start, end, pattern): sorted, longest come first."""
        found: list[tuple[int, int, int, _Pattern]] = []
        size = len(norm)
        for last, (length, pattern) in self._automaton.iter(norm):
            end = last + 1
            if end < size and norm[end].isalnum():
                continue  # the token goes on: حلب in حلبة
            start = end - length
            if start and norm[start - 1].isalnum():  # letters before: proclitics or a longer word
                token_start = start - 1
                while token_start and norm[token_start - 1].isalnum():
                    token_start -= 1
                    if start - token_start > MAX_PREFIX:
                        break
                if norm[token_start:start] not in pattern.prefixes:
                    continue
            found.append((-length, start, end, pattern))
        return found

    @staticmethod
    def _longest(
        cands: list[tuple[int, int, int, _Pattern]], size: int
    ) -> list[tuple[int, int, int, _Pattern]]:
        """Longest match wins; among equals, the earlier one (an occupancy map, O(n log n))."""
        chosen: list[tuple[int, int, int, _Pattern]] = []
        taken = bytearray(size)
        cands.sort()
        for cand in cands:
            _, start, end, _ = cand
            if taken.find(1, start, end) == -1:
                chosen.append(cand)
                taken[start:end] = b"\x01" * (end - start)
        chosen.sort(key=itemgetter(1))
        return chosen

    def _field_hits(self, text: str, field: str, keep: Cleaned | None) -> tuple[list[_Hit], str]:
        norm, offsets = normalize_with_offsets(text)
        chosen = self._longest(self._candidates(norm), len(norm))
        if not chosen:
            return [], norm
        sources = offsets.sources.tolist()  # list indexing beats numpy scalars per hit
        hits: list[_Hit] = []
        size = len(text)
        for _, start, end, pattern in chosen:
            o_start = sources[start + pattern.skip]
            o_end = sources[end - 1] + 1
            while o_end < size and text[o_end] in ATTACHED:  # a trailing mark belongs to it
                o_end += 1
            if keep is not None and not keep.keeps(o_start, o_end):
                continue
            hits.append(_Hit(pattern, field, o_start, o_end, start))
        return hits, norm

    def tag(self, *, title: str = "", body: str = "", cleaned: Cleaned | None = None) -> list[Tag]:
        """Tag an article's title and body; ``cleaned`` limits the body to kept spans."""
        hits: list[_Hit] = []
        norms: dict[str, str] = {}
        texts = {"title": title, "body": body}
        for name, text, keep in (("title", title, None), ("body", body, cleaned)):
            if text:
                field_hits, norms[name] = self._field_hits(text, name, keep)
                hits.extend(field_hits)
        if any(h.pattern.ambiguous for h in hits):
            hits = self._resolve(hits, norms)
        return [
            Tag(*h.pattern.info, texts[h.field][h.start : h.end], h.start, h.end, h.field)
            for h in hits
        ]

    def tag_text(self, text: str) -> list[Tag]:
        """Tag one plain text (no cleaning), as ``raqib tag`` does for a file."""
        return self.tag(body=text)

    def _resolve(self, hits: list[_Hit], norms: dict[str, str]) -> list[_Hit]:
        """Keep an ambiguous alias only with context; unambiguous hits always stay.

        Sentences are found only here, and only when an ambiguous alias lacks its
        entity's unambiguous name elsewhere in the article (most articles never get here).
        """
        strong = {h.pattern.entity.id for h in hits if not h.pattern.ambiguous}
        if all(h.pattern.entity.id in strong for h in hits if h.pattern.ambiguous):
            return hits
        bounds = {f: [m.end() for m in _SENTENCE_END.finditer(n)] for f, n in norms.items()}

        def sentence(h: _Hit) -> tuple[str, int]:
            return h.field, bisect_right(bounds[h.field], h.norm_start)

        strong_in_sentence: dict[tuple[str, int], set[str]] = {}
        for h in hits:
            if not h.pattern.ambiguous:
                strong_in_sentence.setdefault(sentence(h), set()).add(h.pattern.entity.id)
        kept = []
        for h in hits:
            entity = h.pattern.entity
            if not h.pattern.ambiguous or entity.id in strong:
                kept.append(h)
                continue
            where = sentence(h)
            others = strong_in_sentence.get(where, set()) - {entity.id}
            if entity.context:
                others &= set(entity.context)
            if others or self._cued(entity.id, norms[h.field], bounds[h.field], where[1]):
                kept.append(h)
        return kept

    def _cued(self, entity_id: str, norm: str, bounds: list[int], index: int) -> bool:
        start = bounds[index - 1] if index > 0 else 0
        end = bounds[index] if index < len(bounds) else len(norm)
        return any(cue.search(norm, start, end) for cue in self._cues[entity_id])

    @cached_property
    def alias_count(self) -> int:
        return len(self._automaton)


def _cue_regex(cue: str) -> re.Pattern[str]:
    """A cue word as a whole token, optionally with proclitics (والرئيس، بالنظام)."""
    return re.compile(r"(?<!\w)[\u0648\u0641\u0628\u0644\u0643]{0,2}" + re.escape(cue) + r"(?!\w)")
