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
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property
from itertools import chain
from typing import Any, NamedTuple

import numba
import numpy as np
import numpy.typing as npt

from processors.clean import Cleaned
from processors.matcher import Matcher, scan
from processors.normalize import (
    ATTACHED_MASK,
    CODE_MAP,
    Normalized,
    map_codes,
    normalize_ar,
    normalize_with_offsets,
    span_arrays,
)
from processors.watchlist import Entity, EntityType, Watchlist, names_of
from raqib.exceptions import ConfigError
from raqib.messages import EntityMention, Field_, trusted_many

WAW = "\u0648"  # ARABIC LETTER WAW: "and"
FEH = "\u0641"  # ARABIC LETTER FEH: "so, then"
BEH = "\u0628"  # ARABIC LETTER BEH: "in, with"
LAM = "\u0644"  # ARABIC LETTER LAM: "to, for"
KAF = "\u0643"  # ARABIC LETTER KAF: "like"
ALEF = "\u0627"  # ARABIC LETTER ALEF
YEH = "\u064a"  # ARABIC LETTER YEH: the nisba adjective's ending (إيراني)
DEFINITE_ARTICLE = "\u0627\u0644"  # ال
NISBA_ENDINGS = (
    "\u0627\u0646",
    "\u064a\u0646",
    "\u0648\u0646",
    "\u062a\u0627\u0646",
    "\u062a\u064a\u0646",
)
"""After a nisba adjective's ي: dual ان / ين, plural ون / ين, feminine dual تان / تين
(normalized: the feminine's ة is written ت before the dual ending)."""

_CONJUNCTIONS = ("", WAW, FEH)
PREFIXES_BARE = frozenset(c + p for c in _CONJUNCTIONS for p in ("", BEH, LAM, KAF))
"""Proclitics allowed before a name without the article: وإيران، بدمشق، لطهران، فبحلب."""
PREFIXES_DEFINITE = frozenset(c + p for c in _CONJUNCTIONS for p in ("", BEH, KAF))
"""Before a name with ال: والأسد، بالحرس. ل + ال is spelled لل and gets its own pattern."""
PREFIXES_LAM_DEFINITE = frozenset(_CONJUNCTIONS)
"""Before the لل form (للأسد): only a conjunction (وللحرس)."""
PREFIXES_AMBIGUOUS_BARE = frozenset(c + p for c in _CONJUNCTIONS for p in ("", LAM))
"""An ambiguous alias without ال takes a conjunction and ل (لحماس، لقطر), not ب or ك:
with them a common word turns up inside other words (كامل = ك + امل "hope"), and بحماس
is "with enthusiasm"."""
PREFIXES_AMBIGUOUS_PLACE = PREFIXES_AMBIGUOUS_BARE | {c + BEH for c in _CONJUNCTIONS}
"""A place also takes ب "in" (بتدمر، بجنين): a verb or a common noun rarely does."""
PREFIXES_LATIN = PREFIXES_BARE | {DEFINITE_ARTICLE, LAM + LAM}
"""A name in Latin script inside Arabic copy may carry Arabic proclitics glued to it:
الـYPG (tatweel removed: الYPG), وIRGC."""
PREFIXES_AMBIGUOUS_DEFINITE = frozenset(c + p for c in _CONJUNCTIONS for p in ("", BEH))
MAX_PREFIX = 2
_PLACES = frozenset({EntityType.GPE, EntityType.LOC, EntityType.FAC})

SENTENCE_ENDS = ".!?\u061f\u061b"  # . ! ? ARABIC QUESTION MARK, ARABIC SEMICOLON
_IS_SENTENCE_END = np.zeros(max(map(ord, SENTENCE_ENDS)) + 1, dtype=np.bool_)
_IS_SENTENCE_END[[ord(ch) for ch in SENTENCE_ENDS]] = True
INPUT_PATTERNS: tuple[re.Pattern[str], ...] = ()
"""The patterns every tagger applies to text: none of its own (sentences end at a character
of :data:`SENTENCE_ENDS`, found by a compiled pass, not a regex search: ~2 µs a body instead
of ~10); :attr:`Tagger.input_patterns` adds the cue patterns built from its watchlist.
Each runs in linear time (tests/unit/processors/test_regex_linear.py)."""


@dataclass(frozen=True, slots=True)
class _Pattern:
    entity: Entity
    ambiguous: bool
    prefixes: frozenset[str]
    skip: int = 0  # leading characters that are a proclitic, not the name (ل of لل)
    blocker: bool = False  # an ``excludes`` phrase: takes its span, reports nothing
    info: tuple[str, str, str, str, str | None] = field(init=False)
    """The fields of a :class:`Tag` that come from the entity, built once."""

    def __post_init__(self) -> None:
        e = self.entity
        object.__setattr__(self, "info", (e.id, e.type.value, e.names.ar, e.names.en, e.wikidata))


class Tag(NamedTuple):
    """One occurrence of a watched entity: the fields of :class:`EntityMention`.

    A named tuple, because building a pydantic model (or a frozen dataclass) per hit
    costs more than finding the hit; :meth:`to_message` is the message it stands for (the
    pipeline's are built straight from the hits, :meth:`Tagger.find`).
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


_ENTITY_FIELDS = ("id", "type", "name", "name_en", "wikidata")
"""The fields of an :class:`EntityMention` that come from the entity (a pattern's ``info``)."""
_MESSAGE_SET = frozenset(EntityMention.model_fields)


class _FieldHits(NamedTuple):
    """One field's chosen matches, as parallel lists in text order (a tuple: built twice
    an article, where a frozen dataclass's ``__init__`` costs a microsecond)."""

    field: Field_
    text: str
    read: Normalized  # the field normalized (decoded only to resolve ambiguity)
    keys: list[int]  # index into the tagger's patterns
    starts: list[int]  # original text
    ends: list[int]
    norm_starts: list[int]  # normalized text, for finding a hit's sentence
    ambiguous: bool  # whether any hit is of an ambiguous alias


class Found(NamedTuple):
    """What :meth:`Tagger.find` found in an article: the entity mentions as the tagged
    article carries them, and what the topic matcher reads, so that it need not read the
    messages one attribute at a time nor normalize the fields again: each mention's pattern
    (whose entity :attr:`Tagger.pattern_entities` names) and start, how many of them are
    the title's (they come first), the fields as normalized (None: empty), and the body's
    [start, end) rows that cleaning kept (None: all of it)."""

    messages: list[EntityMention]
    patterns: list[int]
    starts: list[int]
    in_title: int
    title: Normalized | None
    body: Normalized | None
    kept: npt.NDArray[np.int64] | None


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
        patterns: dict[str, _Pattern] = {}
        derived: list[tuple[str, _Pattern]] = []
        for entity in watchlist.entities:
            for _, alias, ambiguous in names_of(entity):
                for key, pattern in self._variants(alias, entity, ambiguous):
                    self._add(patterns, key, pattern)
                for form in self._inflections(alias, entity, ambiguous):
                    derived.extend(self._variants(form, entity, False))
            for phrase in entity.excludes:
                for key, pattern in self._variants(phrase, entity, False):
                    self._add(patterns, key, replace(pattern, blocker=True))
        for key, pattern in derived:  # a spelling written in the watchlist wins
            patterns.setdefault(key, pattern)
        if not patterns:
            raise ConfigError("watchlist", None, "no names to match")
        self._patterns = list(patterns.values())
        self._blocker = np.array([p.blocker for p in self._patterns], dtype=np.bool_)
        self._skip = np.array([p.skip for p in self._patterns], dtype=np.int64)
        self._infos = [p.info for p in self._patterns]
        self._ambiguous = [p.ambiguous for p in self._patterns]
        self._ambiguous_keys = np.array(self._ambiguous, dtype=np.bool_)
        self._ids = [p.entity.id for p in self._patterns]
        # each pattern's entity as the first fields of a message, copied for every hit
        self._message_bases: list[dict[str, Any]] = [
            dict(zip(_ENTITY_FIELDS, p.info, strict=True)) for p in self._patterns
        ]
        prefix_sets = sorted({p.prefixes for p in self._patterns}, key=sorted)
        class_of = {prefixes: i for i, prefixes in enumerate(prefix_sets)}
        self._matcher = Matcher(
            list(patterns), [class_of[p.prefixes] for p in self._patterns], prefix_sets
        )
        self._context = {e.id: frozenset(e.context) for e in watchlist.entities}
        self._cue_words = {
            e.id: [normalize_ar(c).strip() for c in e.cues if c.strip()]
            for e in watchlist.entities
            if any(c.strip() for c in e.cues)
        }
        self._cues: dict[str, re.Pattern[str]] = {}  # compiled when first needed

    @staticmethod
    def _variants(alias: str, entity: Entity, ambiguous: bool) -> Iterator[tuple[str, _Pattern]]:
        key = normalize_ar(alias).strip()
        if not key:
            return
        if not _is_arabic(key):
            yield key, _Pattern(entity, ambiguous, PREFIXES_LATIN)
        elif key.startswith(DEFINITE_ARTICLE) and len(key) > 3:
            prefixes = PREFIXES_AMBIGUOUS_DEFINITE if ambiguous else PREFIXES_DEFINITE
            yield key, _Pattern(entity, ambiguous, prefixes)
            yield LAM + LAM + key[2:], _Pattern(entity, ambiguous, PREFIXES_LAM_DEFINITE, skip=1)
            if key[2] == LAM:  # ل + اللجنة is written للجنة: the article's ل merges
                yield LAM + key[2:], _Pattern(entity, ambiguous, PREFIXES_LAM_DEFINITE, skip=1)
        elif not ambiguous:
            yield key, _Pattern(entity, ambiguous, PREFIXES_BARE)
        elif entity.type in _PLACES:
            yield key, _Pattern(entity, ambiguous, PREFIXES_AMBIGUOUS_PLACE)
        else:
            yield key, _Pattern(entity, ambiguous, PREFIXES_AMBIGUOUS_BARE)

    @staticmethod
    def _inflections(alias: str, entity: Entity, ambiguous: bool) -> list[str]:
        """A country's or city's nisba adjective in the forms news copy uses beside the
        listed ones: accusative (وفداً إيرانياً: إيراني + ا), dual (الطائرتين الإسرائيليتين)
        and sound plural (الجنود الروسيين); they count as the place like إيراني does."""
        key = normalize_ar(alias).strip()
        if (
            entity.type != EntityType.GPE
            or ambiguous
            or not _is_arabic(key)
            or " " in key
            or len(key) < 4
            or not key.endswith(YEH)
        ):
            return []
        endings = NISBA_ENDINGS if key.startswith(DEFINITE_ARTICLE) else (ALEF, *NISBA_ENDINGS)
        return [key + ending for ending in endings]

    @staticmethod
    def _add(patterns: dict[str, _Pattern], key: str, pattern: _Pattern) -> None:
        other = patterns.get(key)
        if other is None or (other.entity.id == pattern.entity.id and pattern.ambiguous):
            patterns[key] = pattern  # a spelling listed as ambiguous is, even if it is the name
        elif other.entity.id != pattern.entity.id:
            raise ConfigError(
                "watchlist",
                None,
                f"alias {key!r} is claimed by both {other.entity.id!r} and {pattern.entity.id!r}",
            )

    def _field_hits(
        self, text: str, field: Field_, keep: npt.NDArray[np.int64] | None
    ) -> _FieldHits:
        """The chosen matches of one field, mapped back to the text as written: normalized
        and scanned in one compiled call; ``keep``: the [start, end) rows of it to keep."""
        kept = keep if keep is not None else _EVERYTHING
        original = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        blocker, skip, tables = self._blocker, self._skip, self._matcher.tables
        codes, sources, keys, starts, o_starts, o_ends, ambiguous, expands = _normalized_chosen(
            original,
            CODE_MAP,
            ATTACHED_MASK,
            blocker,
            skip,
            self._ambiguous_keys,
            kept,
            keep is not None,
            *tables,
        )
        if expands:  # presentation forms: one character may become two, normalized in Python
            _, offsets = normalize_with_offsets(text)
            codes, sources = offsets.codes, offsets.sources
            keys, starts, o_starts, o_ends = _chosen(
                codes,
                offsets.sources,
                original,
                ATTACHED_MASK,
                blocker,
                skip,
                kept,
                keep is not None,
                *tables,
            )
            ambiguous = bool(self._ambiguous_keys[keys].any())
        return _FieldHits(
            field,
            text,
            Normalized(original, codes, sources),
            keys.tolist(),
            o_starts.tolist(),
            o_ends.tolist(),
            starts.tolist(),
            ambiguous,
        )

    def tag(self, *, title: str = "", body: str = "", cleaned: Cleaned | None = None) -> list[Tag]:
        """Tag an article's title and body; ``cleaned`` limits the body to kept spans."""
        infos = self._infos
        new = tuple.__new__  # Tag's own __new__ is Python code; this is the same tuple, faster
        return [
            new(Tag, infos[k] + (f.text[s:e], s, e, f.field))
            for f in self._kept(title, body, cleaned.bounds() if cleaned is not None else None)
            for k, s, e in zip(f.keys, f.starts, f.ends, strict=True)
        ]

    def find(self, *, title: str = "", body: str = "", cleaned: Cleaned | None = None) -> Found:
        """:meth:`tag` as the messages the tagged article carries (``to_message()`` of each
        tag), built straight from the hits: no tuple in between and no validation of what
        the tagger made (an article names dozens of entities); with what the topic matcher
        reads (:meth:`TopicMatcher.match_tagged`)."""
        bases = self._message_bases
        rows = []
        kept = cleaned.bounds() if cleaned is not None else None
        fields = self._kept(title, body, kept)
        for f in fields:
            text, name = f.text, f.field
            for k, s, e in zip(f.keys, f.starts, f.ends, strict=True):
                row = bases[k].copy()  # the entity's fields, then the hit's, in the model's order
                row["surface"], row["start"], row["end"], row["field"] = text[s:e], s, e, name
                rows.append(row)
        in_title = len(fields[0].keys) if fields and fields[0].field == "title" else 0
        read = {f.field: f.read for f in fields}
        return Found(
            trusted_many(EntityMention, rows, _MESSAGE_SET),
            list(chain.from_iterable(f.keys for f in fields)),
            list(chain.from_iterable(f.starts for f in fields)),
            in_title,
            read.get("title"),
            read.get("body"),
            kept,
        )

    def _kept(self, title: str, body: str, kept: npt.NDArray[np.int64] | None) -> list[_FieldHits]:
        """Each field's hits that stand, in text order: the matcher's choice less the
        ambiguous hits without context; ``kept``: the [start, end) rows of the body kept."""
        parts: tuple[tuple[Field_, str, npt.NDArray[np.int64] | None], ...] = (
            ("title", title, None),
            ("body", body, kept),
        )
        fields = [self._field_hits(text, name, keep) for name, text, keep in parts if text]
        if not any(f.ambiguous for f in fields):
            return fields
        dropped = self._resolve(fields)
        for n, f in enumerate(fields):
            stand = [i for i in range(len(f.keys)) if (n, i) not in dropped]
            if len(stand) < len(f.keys):
                fields[n] = f._replace(
                    keys=[f.keys[i] for i in stand],
                    starts=[f.starts[i] for i in stand],
                    ends=[f.ends[i] for i in stand],
                    norm_starts=[f.norm_starts[i] for i in stand],
                )
        return fields

    @property
    def pattern_entities(self) -> list[tuple[str, str]]:
        """The entity (id, type) of each pattern, by the numbers :class:`Found` gives."""
        return [(info[0], info[1]) for info in self._infos]

    def tag_text(self, text: str) -> list[Tag]:
        """Tag one plain text (no cleaning), as ``raqib tag`` does for a file."""
        return self.tag(body=text)

    def _resolve(self, fields: list[_FieldHits]) -> set[tuple[int, int]]:
        """The ambiguous hits to drop, as (field, hit) indexes: an ambiguous alias counts
        only with context; unambiguous hits always stay.

        Sentences are looked at only for an ambiguous alias whose entity is not named
        unambiguously elsewhere in the article: its sentence's bounds, then the strong hits
        inside them (hits are in text order, so two bisections find them).
        """
        ambiguous, entity_ids = self._ambiguous, self._ids
        strong = {entity_ids[k] for f in fields for k in f.keys if not ambiguous[k]}
        dropped: set[tuple[int, int]] = set()
        for n, f in enumerate(fields):
            needy = [
                i for i, k in enumerate(f.keys) if ambiguous[k] and entity_ids[k] not in strong
            ]
            if not needy:
                continue
            ends = _sentence_ends(f.read.codes, _IS_SENTENCE_END).tolist()
            norm: str | None = None  # the normalized text, decoded for the first cue search
            where = [f.norm_starts[i] for i, k in enumerate(f.keys) if not ambiguous[k]]
            ids = [entity_ids[k] for k in f.keys if not ambiguous[k]]
            # Decided once per entity and sentence: a long sentence repeating an ambiguous
            # alias would otherwise be read again for every repeat (quadratic time).
            counts: dict[tuple[str, int], bool] = {}
            for i in needy:
                index = bisect_right(ends, f.norm_starts[i])
                lo = ends[index - 1] if index > 0 else 0
                entity_id = entity_ids[f.keys[i]]
                known = counts.get((entity_id, lo))
                if known is None:
                    hi = ends[index] if index < len(ends) else len(f.read.codes)
                    known = bool(
                        self._context[entity_id].intersection(
                            ids[bisect_left(where, lo) : bisect_left(where, hi)]
                        )
                    )
                    cue = None if known else self._cue(entity_id)
                    if cue is not None:
                        norm = f.read.codes.tobytes().decode("utf-32-le") if norm is None else norm
                        known = cue.search(norm, lo, hi) is not None
                    counts[entity_id, lo] = known
                if not known:
                    dropped.add((n, i))
        return dropped

    def _cue(self, entity_id: str) -> re.Pattern[str] | None:
        """An entity's cue pattern, compiled the first time an ambiguous alias of it needs
        one (compiling every entity's alternation took a tenth of a second of each start)."""
        cue = self._cues.get(entity_id)
        if cue is None and entity_id in self._cue_words:
            cue = self._cues[entity_id] = _cue_regex(self._cue_words[entity_id])
        return cue

    @property
    def input_patterns(self) -> tuple[re.Pattern[str], ...]:
        """Every pattern this tagger applies to text, its watchlist's cue patterns included,
        so a test can hold each to linear time."""
        cues = (self._cue(entity_id) for entity_id in self._cue_words)
        return (*INPUT_PATTERNS, *(cue for cue in cues if cue is not None))

    @cached_property
    def alias_count(self) -> int:
        return len(self._matcher)


_EVERYTHING = np.zeros((0, 2), dtype=np.int64)


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def _chosen(
    codes: npt.NDArray[np.uint32],
    sources: npt.NDArray[np.int64],
    original: npt.NDArray[np.uint32],
    attached: npt.NDArray[np.bool_],
    blocker: npt.NDArray[np.bool_],
    skip: npt.NDArray[np.int64],
    kept: npt.NDArray[np.int64],
    cleaned: bool,
    *tables: npt.NDArray[Any],
) -> tuple[
    npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]
]:
    """One field's hits in one compiled pass: the matcher's choice (:func:`scan`), less the
    ``excludes`` phrases (which only took their span), mapped back to the text as written
    (the proclitic of a لل form skipped), less what cleaning dropped (``kept``: the [start,
    end) rows of the kept text, in order). Keys, normalized starts, original spans."""
    keys, starts, ends = scan(codes, *tables)
    real = np.flatnonzero(~blocker[keys])
    keys, starts, ends = keys[real], starts[real], ends[real]
    o_starts, o_ends = span_arrays(sources, original, starts + skip[keys], ends, attached)
    if not cleaned:
        return keys, starts, o_starts, o_ends
    inside = np.zeros(keys.shape[0], dtype=np.bool_)
    for i in range(keys.shape[0]):
        row = np.searchsorted(kept[:, 0], o_starts[i], side="right") - 1
        inside[i] = row >= 0 and o_ends[i] <= kept[row, 1]
    held = np.flatnonzero(inside)
    return keys[held], starts[held], o_starts[held], o_ends[held]


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def _normalized_chosen(
    original: npt.NDArray[np.uint32],
    table: npt.NDArray[np.uint32],
    attached: npt.NDArray[np.bool_],
    blocker: npt.NDArray[np.bool_],
    skip: npt.NDArray[np.int64],
    ambiguous: npt.NDArray[np.bool_],
    kept: npt.NDArray[np.int64],
    cleaned: bool,
    *tables: npt.NDArray[Any],
) -> tuple[
    npt.NDArray[np.uint32],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    bool,
    bool,
]:
    """A field normalized (:func:`map_codes`) and its hits chosen (:func:`_chosen`) in one
    call, since each call from Python costs microseconds of argument checks; with the
    normalized code points and their sources, and whether any hit is of an ambiguous alias.
    ``expands`` (the last value): the text has presentation forms, and nothing was scanned."""
    codes, sources, expands = map_codes(original, table)
    if expands:
        none = np.empty(0, dtype=np.int64)
        return codes, sources, none, none, none, none, False, True
    keys, starts, o_starts, o_ends = _chosen(
        codes, sources, original, attached, blocker, skip, kept, cleaned, *tables
    )
    hit = False
    for key in keys:
        if ambiguous[key]:
            hit = True
            break
    return codes, sources, keys, starts, o_starts, o_ends, hit, False


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def _sentence_ends(
    codes: npt.NDArray[np.uint32], is_end: npt.NDArray[np.bool_]
) -> npt.NDArray[np.int64]:
    """Where each sentence of a normalized text ends: just past each character ``is_end``
    marks (those of :data:`SENTENCE_ENDS`)."""
    out = np.empty(codes.shape[0], dtype=np.int64)
    count = 0
    for i in range(codes.shape[0]):
        code = codes[i]
        if code < is_end.shape[0] and is_end[code]:
            out[count] = i + 1
            count += 1
    return out[:count]


def _cue_regex(cues: list[str]) -> re.Pattern[str]:
    """An entity's cue words as one pattern: any of them as a whole token, optionally with
    proclitics (والرئيس، بالنظام); longest first, so a cue inside another cannot shadow it.
    Linear time: a start is tried only after a non-word character, and the proclitics and
    cues are bounded literals."""
    alternatives = "|".join(re.escape(c) for c in sorted(set(cues), key=len, reverse=True))
    return re.compile(
        r"(?<!\w)[\u0648\u0641\u0628\u0644\u0643]{0,2}(?:" + alternatives + r")(?!\w)"
    )
