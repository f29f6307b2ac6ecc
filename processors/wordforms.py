"""Arabic word forms for keyword matching: a keyword is found in any form news copy gives it.

A text word is read under every form it may be of a keyword: without its proclitics and
article (والعقوبات: عقوبات), the future prefix (سيزور: يزور), and pronoun, inflection and
feminine endings, stacked (قتلتهم: قتل، الدستورية: دستوري، هدنات: هدنه). Only readings some
keyword starts with are indexed, so a keyword is one lookup, not a scan of the text.

>>> sorted(readings("وقصفتها", real_heh=False) & {"قصف", "قصفت", "عقوبات"})
['قصف', 'قصفت']
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from processors.normalize import normalize_ar, normalize_with_offsets

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
    _stems: dict[str, list[int]] | None = None  # built once per field, on first use

    def stems_of(self, wanted: frozenset[str]) -> dict[str, list[int]]:
        """Each word under every reading of it without a leading proclitic or article and
        without a trailing pronoun or inflection suffix (والعقوبات -> عقوبات، قصفتها -> قصف،
        سيطرته -> سيطره), kept only where a keyword starts with that reading: a keyword is
        one lookup, not a scan of the text."""
        if self._stems is not None:
            return self._stems
        index: dict[str, list[int]] = {}
        for i, word in enumerate(self.words):
            for reading in readings(word, self.heh[i]):
                if reading in wanted:
                    index.setdefault(reading, []).append(i)
        self._stems = index
        return index

    def find(self, parts: KeywordParts, wanted: frozenset[str]) -> list[int]:
        """Where a keyword starts: its first word by the index, each later word among the
        readings of the word in its place (الخلايا النائمة for خلايا نائمة)."""
        firsts, rest = parts
        stems = self.stems_of(wanted)
        starts = sorted({i for first in firsts for i in stems.get(first, ())})
        if not rest:
            return starts
        words, heh = self.words, self.heh
        return [
            i
            for i in starts
            if i + len(rest) < len(words)
            and all(
                word in readings(words[i + 1 + k], heh[i + 1 + k]) for k, word in enumerate(rest)
            )
        ]


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


def words_of(text: str, mentions: Sequence[tuple[str, str, int]]) -> Words:
    """A text's words, with the word index of each (entity id, type, start offset)."""
    norm, offsets = normalize_with_offsets(text)
    spans = [(m.start(), m.end(), m.group()) for m in WORD.finditer(norm)]
    starts = [offsets.index(s) for s, _, _ in spans]
    heh = [w.endswith(_HEH) and text[offsets.index(e - 1)] == _HEH for _, e, w in spans]
    out = Words(words=[w for _, _, w in spans], heh=heh)
    for entity, kind, start in mentions:
        word = max(0, bisect_right(starts, start) - 1)
        out.entities.setdefault(entity, []).append(word)
        out.entities.setdefault(f"type:{kind}", []).append(word)
    return out


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
