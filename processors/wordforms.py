"""Arabic word forms for keyword matching: a keyword is found in any form news copy gives it.

A text word is read under every form it may be of a keyword: without its proclitics and
article (والعقوبات: عقوبات), the future prefix (سيزور: يزور), and pronoun, inflection and
feminine endings, stacked (قتلتهم: قتل، الدستورية: دستوري، هدنات: هدنه). Only readings some
keyword uses are kept, once per distinct word (news copy repeats its words), so one
compiled pass over an article's words (:class:`Vocabulary`) finds every keyword.

>>> sorted(readings("وقصفتها", real_heh=False) & {"قصف", "قصفت", "عقوبات"})
['قصف', 'قصفت']
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

from processors.normalize import (
    CODE_MAP,
    Normalized,
    alnum_table,
    map_codes,
    normalize_ar,
    normalize_with_offsets,
)

WORD = re.compile(r"\w+")
INPUT_PATTERNS = (WORD,)
"""Every pattern this module applies to text: each runs in linear time
(tests/unit/processors/test_regex_linear.py)."""
KeywordParts = tuple[tuple[str, ...], list[str]]
"""A keyword's first word as it may be looked up, and the words that must follow it."""
CLITICS = ("", "و", "ف", "ب", "ل", "ك", "وب", "ول", "وك", "فب", "فل", "فك")
ARTICLE_FORMS = frozenset(c + a for c in CLITICS for a in ("", "ال")) | {
    "لل",
    "ولل",
    "فلل",
    "س",  # the future: سيزور is يزور
    "وس",
    "فس",
}
"""What may precede a keyword inside its first word: proclitics and the article."""
MAX_FORM = max(len(f) for f in ARTICLE_FORMS)
ROOT_WAW = ("وزار", "وزير", "وزرا", "وكال", "ولاي", "وفد", "وفود", "وقف", "وطن", "وضع", "وسط")
"""Common news words whose first و is a root letter, not "and": وزارة is not و + زارة (the
reading زار "visited" would make every ministry a visit)."""


@dataclass
class Words:
    """One field's words (normalized) and where each entity is, by word index.

    ``heh`` marks the words whose final ه is a real ه (ضربه "his blow"), not a teh marbuta
    that normalization wrote as ه (ضربة "a blow"): only a real one can be a pronoun suffix.
    """

    words: list[str]
    heh: list[bool] = field(default_factory=list)
    entities: dict[str, list[int]] = field(default_factory=dict)


PRONOUNS = ("هما", "ها", "هم", "هن", "نا", "كم", "كما")
"""Object and possessive pronouns a word may end with (ه alone only where it is a real ه)."""
INFLECTIONS = ("وا", "ون", "ين", "ان", "ات", "ت", "ا", "ي")
"""Plural, dual, feminine, past-tense, accusative and construct (وزيري الخارجية) endings, tried
after any pronoun (قتلتهم:
قتل + ت + هم); before a pronoun the plural's وا is written و (هجّرونا: هجّروا + نا)."""
_HEH = "\u0647"  # ARABIC LETTER HEH (also a normalized teh marbuta)
_TEH = "\u062a"  # ARABIC LETTER TEH: a teh marbuta before a suffix (سيطرة + ه = سيطرته)
_WAW = "\u0648"  # ARABIC LETTER WAW
_FEMININE_PLURAL = "\u0627\u062a"  # ات
MIN_STEM = 3
NOT_FEMININE = frozenset({"دوريه"})
"""Nouns whose ة is not a feminine ending: دورية "patrol" is not دوري "league"."""
SOUND_PLURALS = (("ين", "ون"), ("ون", "ين"))


def _add_stem(out: set[str], stem: str, ending: str) -> None:
    """A stem, and the word it is the inflection of when its ة was written ت or dropped."""
    out.add(stem)
    if stem.endswith(_TEH):  # سيطرته: سيطرة + ه
        out.add(stem[:-1] + _HEH)
    elif ending == _FEMININE_PLURAL:  # هدنات: the plural of هدنة
        out.add(stem + _HEH)


@lru_cache(maxsize=1 << 16)
def readings(word: str, real_heh: bool) -> frozenset[str]:
    """A word's readings: with any proclitic/article cut off, then any suffix too (cached:
    news copy repeats its words)."""
    bases = {
        word[cut:]
        for cut in range(min(MAX_FORM, len(word) - 1) + 1)
        if word[:cut] in ARTICLE_FORMS
        and not (word[cut - 1 : cut] == _WAW and word[cut - 1 :].startswith(ROOT_WAW))
    }
    out = set(bases)
    if not real_heh:  # a teh marbuta: the feminine of a stem (الدستورية: دستوري)
        out.update(
            b[:-1]
            for b in bases
            if b.endswith(_HEH) and len(b) > MIN_STEM and b not in NOT_FEMININE
        )
    pronouns = (*PRONOUNS, _HEH) if real_heh else PRONOUNS
    for base in bases:
        for pronoun in ("", *pronouns):
            if not base.endswith(pronoun) or len(base) - len(pronoun) < MIN_STEM:
                continue
            bare = base[: len(base) - len(pronoun)]
            _add_stem(out, bare, "")
            for ending in (*INFLECTIONS, _WAW) if pronoun else INFLECTIONS:
                if bare.endswith(ending) and len(bare) - len(ending) >= MIN_STEM:
                    _add_stem(out, bare[: -len(ending)], ending)
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class Tokens:
    """A text's words (``\\w+`` runs of the normalized text), where each starts in the text
    as written, and whether its final ه is a real ه."""

    words: list[str]
    starts: npt.NDArray[np.int64]
    heh: npt.NDArray[np.bool_]


def word_at(starts: npt.NDArray[np.int64], offsets: Sequence[int]) -> list[int]:
    """The word each offset of the text as written falls in, by the words' ``starts``: the
    last word starting at or before it, the first word for an offset before every word."""
    found = np.searchsorted(starts, np.asarray(offsets, dtype=np.int64), side="right")
    at: list[int] = np.maximum(found - 1, 0).tolist()
    return at


def tokenize(text: str) -> Tokens:
    """A text's words in one compiled pass over its normalized code points."""
    norm, offsets = normalize_with_offsets(text)
    starts, ends, heh = _words(offsets.codes, offsets.sources, offsets.original_codes, _ALNUM())
    words = [norm[s:e] for s, e in zip(starts.tolist(), ends.tolist(), strict=True)]
    return Tokens(words, offsets.sources[starts], heh)


_ALNUM = alnum_table
_UNDERSCORE = 0x5F  # LOW LINE: a word character of \w, not of str.isalnum
_HEH_CODE = ord(_HEH)


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def _words(
    codes: npt.NDArray[np.uint32],
    sources: npt.NDArray[np.int64],
    original: npt.NDArray[np.uint32],
    alnum: npt.NDArray[np.bool_],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """[start, end) of each ``\\w+`` run of the normalized text, and whether its last letter
    is ه both normalized and as written (a real ه, not a teh marbuta)."""
    n = codes.shape[0]
    starts = np.empty(n, dtype=np.int64)
    ends = np.empty(n, dtype=np.int64)
    heh = np.empty(n, dtype=np.bool_)
    count = 0
    i = 0
    while i < n:
        if not (alnum[codes[i]] or codes[i] == _UNDERSCORE):
            i += 1
            continue
        j = i + 1
        while j < n and (alnum[codes[j]] or codes[j] == _UNDERSCORE):
            j += 1
        starts[count] = i
        ends[count] = j
        heh[count] = codes[j - 1] == _HEH_CODE and original[sources[j - 1]] == _HEH_CODE
        count += 1
        i = j
    return starts[:count], ends[:count], heh[:count]


def words_of(text: str, mentions: Sequence[tuple[str, str, int]]) -> Words:
    """A text's words, with the word index of each (entity id, type, start offset)."""
    tokens = tokenize(text)
    out = Words(words=tokens.words, heh=tokens.heh.tolist())
    at = word_at(tokens.starts, [m[2] for m in mentions])
    for (entity, kind, _), word in zip(mentions, at, strict=True):
        out.entities.setdefault(entity, []).append(word)
        out.entities.setdefault(f"type:{kind}", []).append(word)
    return out


_NO_READINGS: frozenset[str] = frozenset()


class Vocabulary:
    """A set of keywords, and where each occurs in a text, in one compiled pass.

    Every distinct word of the text is read (:func:`readings`, kept to the readings some
    keyword uses) once per process and remembered in a table the compiled pass looks words
    up in (hash, then the code points compared); what a new word reads as is worked out in
    Python, once. A keyword is found where a word reads as its first word and each next word
    reads as the keyword's next word.

    >>> vocabulary = Vocabulary({"وقف إطلاق النار": keyword_parts("وقف إطلاق النار")})
    >>> starts, keys, at = vocabulary.hits("أعلنوا وقفاً لإطلاق النار، ثم خرقوا وقف إطلاق النار")
    >>> [(vocabulary.names[k], i) for k, i in zip(keys.tolist(), at.tolist())]
    [('وقف إطلاق النار', 1), ('وقف إطلاق النار', 6)]
    """

    MAX_WORDS = 1 << 18
    """Distinct words remembered; past it, the table starts again (memory stays bounded)."""

    def __init__(self, keywords: dict[str, KeywordParts]) -> None:
        self.names = list(keywords)
        wanted = sorted({r for firsts, rest in keywords.values() for r in (*firsts, *rest)})
        self.wanted = frozenset(wanted)
        self._reading_id = {r: i for i, r in enumerate(wanted)}
        starting: list[list[int]] = [[] for _ in wanted]
        for k, (firsts, _) in enumerate(keywords.values()):
            for r in dict.fromkeys(firsts):
                starting[self._reading_id[r]].append(k)
        self._first_ptr, self._first_keyword = _csr(starting)
        rests = [[self._reading_id[r] for r in rest] for _, rest in keywords.values()]
        self._rest_ptr, self._rest_reading = _csr(rests)
        self._set_id: dict[frozenset[str], int] = {_NO_READINGS: 0}  # readings -> number
        self._set_ptr = np.zeros(1 << 10, dtype=np.int64)  # set n: _set_reading[ptr[n]:ptr[n + 1]]
        self._set_reading = np.zeros(1 << 12, dtype=np.int64)
        self._table = _WordTable()
        self._lock = threading.Lock()

    def hits(
        self, text: str
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Where each word of ``text`` starts, and each keyword found (its number, in
        ``names``) and the word it starts at, in the order of the words."""
        original = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        result = _read_text(original, CODE_MAP, _ALNUM(), *self._tables())
        codes, expands, read = result[0], result[1], result[2:]
        if expands:  # presentation forms: one character may become two, normalized in Python
            _, offsets = normalize_with_offsets(text)
            codes = offsets.codes
            read = _read(codes, offsets.sources, original, _ALNUM(), *self._tables())
        return self._found(codes, read)

    def field_hits(
        self, title: Normalized | None, body: Normalized | None, kept: npt.NDArray[np.int64] | None
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """:meth:`hits` of ``title + "\\n" + body`` (the body alone without a title), the
        body's characters outside the ``kept`` rows blanked out, from the fields as another
        pass normalized them: the masked text is neither built nor normalized again."""
        result = _read_fields(
            *(title or _NOTHING),
            *(body or _NOTHING),
            kept if kept is not None else _NO_ROWS,
            title is not None,
            kept is not None,
            _ALNUM(),
            *self._tables(),
        )
        return self._found(result[0], result[1:])

    def _tables(self) -> tuple[npt.NDArray[Any], ...]:
        """The word table and the keywords' readings, as the compiled passes take them."""
        table = self._table
        return (
            table.slots,
            table.entries,
            table.pool,
            self._set_ptr,
            self._set_reading,
            self._first_ptr,
            self._first_keyword,
            self._rest_ptr,
            self._rest_reading,
        )

    def _found(
        self, codes: npt.NDArray[np.uint32], read: tuple[Any, ...]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """What :func:`_read` found in the normalized ``codes``; where it met words never
        seen, they are read in Python first, then the keywords looked for."""
        starts, ends, heh, ids, known, keys, at, written = read
        if not known:
            norm = codes.tobytes().decode("utf-32-le")
            self._learn(norm, codes, starts, ends, heh, ids, np.flatnonzero(ids < 0))
            keys, at = _keywords(
                ids,
                self._set_ptr,
                self._set_reading,
                self._first_ptr,
                self._first_keyword,
                self._rest_ptr,
                self._rest_reading,
            )
        return written, keys, at

    def _learn(
        self,
        norm: str,
        codes: npt.NDArray[np.uint32],
        starts: npt.NDArray[np.int64],
        ends: npt.NDArray[np.int64],
        heh: npt.NDArray[np.bool_],
        ids: npt.NDArray[np.int64],
        unknown: npt.NDArray[np.int64],
    ) -> None:
        """Read the words the table does not know, and remember them (one thread at a
        time; a lookup in another thread sees a word once its entry is whole)."""
        with self._lock:
            if self._table.size + len(unknown) > self.MAX_WORDS:
                self._table = _WordTable()
            seen: dict[tuple[str, bool], int] = {}
            for i in unknown.tolist():
                s, e, real = int(starts[i]), int(ends[i]), bool(heh[i])
                key = (norm[s:e], real)
                value = seen.get(key)
                if value is None:
                    value = seen[key] = self._set_of(readings(key[0], real) & self.wanted)
                    self._table.add(codes, s, e, real, value)
                ids[i] = value

    def _set_of(self, found: frozenset[str]) -> int:
        """The number of a set of readings (a new one is appended to the compiled lists)."""
        value = self._set_id.get(found)
        if value is None:
            value = self._set_id[found] = len(self._set_id)
            start = int(self._set_ptr[value])
            if value + 2 > len(self._set_ptr):
                self._set_ptr = np.concatenate((self._set_ptr, np.zeros_like(self._set_ptr)))
            while start + len(found) > len(self._set_reading):
                self._set_reading = np.concatenate(
                    (self._set_reading, np.zeros_like(self._set_reading))
                )
            self._set_reading[start : start + len(found)] = [self._reading_id[r] for r in found]
            self._set_ptr[value + 1] = start + len(found)
        return value


def _csr(rows: list[list[int]]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Rows of numbers as one flat array and where each row starts (row i: ptr[i]:ptr[i+1])."""
    ptr = np.zeros(len(rows) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(row) for row in rows])
    flat = np.fromiter((x for row in rows for x in row), dtype=np.int64, count=int(ptr[-1]))
    return ptr, flat


class _WordTable:
    """Distinct words (their code points, and whether the final ه is real) and the number of
    what each reads as: an open-addressing hash table in arrays, for the compiled pass. An
    entry is one row (hash, where its code points start in the pool, length and real-ه
    flag, value), so a lookup reads one row, not one element of five arrays (the table
    outgrows the cache: the scattered arrays cost a cache miss each per word)."""

    def __init__(self, slots: int = 1 << 16) -> None:
        self.slots = np.zeros(slots, dtype=np.int32)  # entry + 1; 0: empty
        self.entries = np.zeros((slots // 2, _ENTRY), dtype=np.int64)
        self.pool = np.zeros(slots * 4, dtype=np.uint32)
        self.size = 0
        self.used = 0  # of the pool

    def add(
        self, codes: npt.NDArray[np.uint32], start: int, end: int, real: bool, value: int
    ) -> None:
        """Remember a word (not in the table yet) and its value."""
        if (self.size + 1) * 2 > len(self.slots):
            self._grow()
        if self.used + (end - start) > len(self.pool):
            self.pool = np.concatenate(
                (self.pool, np.zeros(len(self.pool) + end - start, np.uint32))
            )
        n = self.size
        self.pool[self.used : self.used + end - start] = codes[start:end]
        key = _key(end - start, real)
        self.entries[n] = (_hash(codes, start, end, real), self.used, key, value)
        _place(self.slots, self.entries, n)
        self.size += 1
        self.used += end - start

    def _grow(self) -> None:
        """Twice the slots: the entries copied first, the new slots filled, then swapped in
        (a lookup running meanwhile reads the old arrays or the new ones, never half)."""
        grown = len(self.slots) * 2
        entries = np.zeros((grown // 2, _ENTRY), dtype=np.int64)
        entries[: len(self.entries)] = self.entries
        self.entries = entries
        slots = np.zeros(grown, dtype=np.int32)
        for n in range(self.size):
            _place(slots, self.entries, n)
        self.slots = slots


_ENTRY = 4
"""An entry's columns: hash, pool offset, key (length and real-ه flag), value."""
_HASH, _OFFSET, _KEY, _VALUE = range(_ENTRY)
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_HASH_BITS = np.uint64(0x7FFFFFFFFFFFFFFF)


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def _hash(codes: npt.NDArray[np.uint32], start: int, end: int, real: bool) -> np.int64:
    """FNV-1a over a word's code points and its real-ه flag (63 bits: an entry's column)."""
    h = _FNV_OFFSET
    for i in range(start, end):
        h = (h ^ np.uint64(codes[i])) * _FNV_PRIME
    return np.int64(((h ^ np.uint64(real)) * _FNV_PRIME) & _HASH_BITS)


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def _key(length: int, real: bool) -> int:
    """A word's length and real-ه flag in one number."""
    return length * 2 + int(real)


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def _place(slots: npt.NDArray[np.int32], entries: npt.NDArray[np.int64], entry: int) -> None:
    mask = slots.shape[0] - 1
    at = entries[entry, _HASH] & mask
    while slots[at] != 0:
        at = (at + 1) & mask
    slots[at] = entry + 1


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def _lookup(
    codes: npt.NDArray[np.uint32],
    starts: npt.NDArray[np.int64],
    ends: npt.NDArray[np.int64],
    heh: npt.NDArray[np.bool_],
    slots: npt.NDArray[np.int32],
    entries: npt.NDArray[np.int64],
    pool: npt.NDArray[np.uint32],
) -> npt.NDArray[np.int64]:
    mask = slots.shape[0] - 1
    found = np.full(starts.shape[0], -1, dtype=np.int64)
    for w in range(starts.shape[0]):
        start, end = starts[w], ends[w]
        h = _hash(codes, start, end, heh[w])
        key = _key(end - start, heh[w])
        at = h & mask
        while slots[at] != 0:
            entry = slots[at] - 1
            if entries[entry, _HASH] == h and entries[entry, _KEY] == key:
                same = True
                base = entries[entry, _OFFSET]
                for k in range(end - start):
                    if pool[base + k] != codes[start + k]:
                        same = False
                        break
                if same:
                    found[w] = entries[entry, _VALUE]
                    break
            at = (at + 1) & mask
    return found


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def _read_text(
    original: npt.NDArray[np.uint32],
    code_map: npt.NDArray[np.uint32],
    alnum: npt.NDArray[np.bool_],
    *tables: npt.NDArray[Any],
) -> tuple[
    npt.NDArray[np.uint32],
    bool,
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.bool_],
    npt.NDArray[np.int64],
    bool,
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
]:
    """A text as written normalized (:func:`map_codes`) and then :func:`_read`, in one call;
    the normalized code points first, and whether the text has presentation forms (then
    it was not read: :func:`_read` it normalized in Python)."""
    codes, sources, expands = map_codes(original, code_map)
    if expands:
        none = np.empty(0, dtype=np.int64)
        return codes, True, none, none, np.empty(0, dtype=np.bool_), none, False, none, none, none
    starts, ends, heh, ids, known, keys, at, written = _read(
        codes, sources, original, alnum, *tables
    )
    return codes, False, starts, ends, heh, ids, known, keys, at, written


_NOTHING = Normalized(
    np.empty(0, dtype=np.uint32), np.empty(0, dtype=np.uint32), np.empty(0, dtype=np.int64)
)
_NO_ROWS = np.zeros((0, 2), dtype=np.int64)


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def _read_fields(
    title_original: npt.NDArray[np.uint32],
    title_codes: npt.NDArray[np.uint32],
    title_sources: npt.NDArray[np.int64],
    body_original: npt.NDArray[np.uint32],
    body_codes: npt.NDArray[np.uint32],
    body_sources: npt.NDArray[np.int64],
    kept: npt.NDArray[np.int64],
    titled: bool,
    masked: bool,
    alnum: npt.NDArray[np.bool_],
    *tables: npt.NDArray[Any],
) -> tuple[
    npt.NDArray[np.uint32],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.bool_],
    npt.NDArray[np.int64],
    bool,
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
]:
    """:func:`_read` of ``title + "\\n" + body`` from the two fields normalized already;
    the normalized code points first. With ``masked``, only the body's code points from
    the ``kept`` rows of the body as written are read, a space where text between two rows
    was dropped: the words, and each word's code points, start and final letter, that
    normalizing the body with all else blanked out (:meth:`Cleaned.masked`) would give."""
    shift = title_original.shape[0] + 1 if titled else 0  # where the body starts
    size = title_codes.shape[0] + 1 + body_codes.shape[0] + kept.shape[0]
    codes = np.empty(size, dtype=np.uint32)
    sources = np.empty(size, dtype=np.int64)
    m = 0
    if titled:
        m = title_codes.shape[0]
        codes[:m] = title_codes
        sources[:m] = title_sources
        codes[m], sources[m] = 32, shift - 1  # SPACE: the line break between the two
        m += 1
    rows = kept.shape[0] if masked else 1
    for r in range(rows):
        lo, hi = 0, body_codes.shape[0]
        if masked:
            lo = np.searchsorted(body_sources, kept[r, 0])
            hi = np.searchsorted(body_sources, kept[r, 1])
            if r > 0 and kept[r, 0] > kept[r - 1, 1]:  # dropped text: a space
                codes[m], sources[m] = 32, kept[r, 0] + shift - 1
                m += 1
        codes[m : m + hi - lo] = body_codes[lo:hi]
        sources[m : m + hi - lo] = body_sources[lo:hi] + shift
        m += hi - lo
    if titled:
        original = np.empty(shift + body_original.shape[0], dtype=np.uint32)
        original[: shift - 1] = title_original
        original[shift - 1] = 10  # LINE FEED
        original[shift:] = body_original
    else:
        original = body_original.copy()
    starts, ends, heh, ids, known, keys, at, written = _read(
        codes[:m], sources[:m], original, alnum, *tables
    )
    return codes[:m], starts, ends, heh, ids, known, keys, at, written


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def _read(
    codes: npt.NDArray[np.uint32],
    sources: npt.NDArray[np.int64],
    original: npt.NDArray[np.uint32],
    alnum: npt.NDArray[np.bool_],
    slots: npt.NDArray[np.int32],
    entries: npt.NDArray[np.int64],
    pool: npt.NDArray[np.uint32],
    set_ptr: npt.NDArray[np.int64],
    set_reading: npt.NDArray[np.int64],
    first_ptr: npt.NDArray[np.int64],
    first_keyword: npt.NDArray[np.int64],
    rest_ptr: npt.NDArray[np.int64],
    rest_reading: npt.NDArray[np.int64],
) -> tuple[
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.bool_],
    npt.NDArray[np.int64],
    bool,
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
]:
    """A text's words (:func:`_words`), what the table says each reads as (-1: not known),
    whether it knew them all, and if so the keywords found (:func:`_keywords`); where each
    word starts in the text as written. One call instead of three (each call from Python
    costs microseconds of argument checks)."""
    starts, ends, heh = _words(codes, sources, original, alnum)
    ids = _lookup(codes, starts, ends, heh, slots, entries, pool)
    known = True
    for i in range(ids.shape[0]):
        if ids[i] < 0:
            known = False
            break
    if known:
        keys, at = _keywords(
            ids, set_ptr, set_reading, first_ptr, first_keyword, rest_ptr, rest_reading
        )
    else:
        keys, at = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    return starts, ends, heh, ids, known, keys, at, sources[starts]


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def _keywords(
    ids: npt.NDArray[np.int64],
    set_ptr: npt.NDArray[np.int64],
    set_reading: npt.NDArray[np.int64],
    first_ptr: npt.NDArray[np.int64],
    first_keyword: npt.NDArray[np.int64],
    rest_ptr: npt.NDArray[np.int64],
    rest_reading: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(keyword, word) for each word a keyword starts at: the word reads as one of the
    keyword's first words, and each next word as the keyword's next word."""
    n = ids.shape[0]
    keywords = rest_ptr.shape[0] - 1
    last = np.full(keywords, -1, dtype=np.int64)
    cap = 64
    out_keyword = np.empty(cap, dtype=np.int64)
    out_word = np.empty(cap, dtype=np.int64)
    count = 0
    for i in range(n):
        v = ids[i]
        for a in range(set_ptr[v], set_ptr[v + 1]):
            r = set_reading[a]
            for b in range(first_ptr[r], first_ptr[r + 1]):
                k = first_keyword[b]
                if last[k] == i:
                    continue  # two of its first words read here: one start
                last[k] = i
                ok = i + (rest_ptr[k + 1] - rest_ptr[k]) < n
                t = rest_ptr[k]
                while ok and t < rest_ptr[k + 1]:
                    j = ids[i + 1 + t - rest_ptr[k]]
                    ok = False
                    for c in range(set_ptr[j], set_ptr[j + 1]):
                        if set_reading[c] == rest_reading[t]:
                            ok = True
                            break
                    t += 1
                if ok:
                    if count == cap:
                        cap *= 2
                        out_keyword = np.concatenate((out_keyword, np.empty(cap - count, np.int64)))
                        out_word = np.concatenate((out_word, np.empty(cap - count, np.int64)))
                    out_keyword[count] = k
                    out_word[count] = i
                    count += 1
    return out_keyword[:count], out_word[:count]


def keyword_parts(keyword: str) -> KeywordParts | None:
    """A keyword's first word as it may be looked up (as written, and without its article:
    التهدئة also finds تهدئة and للتهدئة), and the words that must follow it, without their
    article (a following word is matched against every reading of the text's word: رئاسية
    and الرئاسية both read رئاسيه)."""
    words = WORD.findall(normalize_ar(keyword))
    if not words:
        return None
    first = bare(words[0])
    # a sound plural also finds its other case (النازحين: نازحون), not its singular (مستشارين
    # is advisers in the field; مستشار المرشد is one adviser in Tehran)
    other = first
    for ending, swapped in SOUND_PLURALS:
        if first.endswith(ending) and len(first) - 2 >= MIN_STEM:
            other = first[:-2] + swapped
    return tuple(dict.fromkeys((words[0], first, other))), [bare(w) for w in words[1:]]


def bare(word: str) -> str:
    """A word without its article, when what is left is still a word."""
    return word[2:] if word.startswith("\u0627\u0644") and len(word) - 2 >= MIN_STEM else word
