"""Arabic-first normalization that can always be mapped back to the original text.

Matching happens on a normalized copy of the text; offsets reported to users index the
text as written. :func:`normalize_with_offsets` returns the normalized string and an
:class:`OffsetMap` that turns a normalized index back into an original one.

What it folds, and why (news spells the same name many ways):

* diacritics (harakat, tanwin, shadda, sukun, dagger alef, Quranic marks) and tatweel:
  removed, they decorate a word without changing it;
* alef forms أ إ آ ٱ -> ا; alef maqsura ى -> ي; teh marbuta ة -> ه: spelled both ways;
* Persian and Urdu letters ی ک ہ ھ ۀ ے -> ي ك ه ه ه ي: Persian-keyboard Arabic;
* Arabic-Indic and Persian digits -> ASCII digits;
* quote and dash variants -> ASCII quote, apostrophe and space (``al-Assad`` = ``al Assad``);
* zero-width and bidi control characters: removed;
* every run of whitespace (line breaks included) -> one space;
* Latin letters -> lower case; Arabic presentation forms -> their base letters (NFKC).

>>> normalize_ar("إِيـــرانُ")
'ايران'
>>> text = "قال بَشّار\\nالأسد"
>>> norm, offsets = normalize_with_offsets(text)
>>> norm
'قال بشار الاسد'
>>> s, e = offsets.span(4, len(norm))
>>> text[s:e]
'بَشّار\\nالأسد'
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import sys
import tempfile
import unicodedata
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numba
import numpy as np

ALEF = "\u0627"  # ARABIC LETTER ALEF
YEH = "\u064a"  # ARABIC LETTER YEH
HEH = "\u0647"  # ARABIC LETTER HEH
KAF = "\u0643"  # ARABIC LETTER KAF

ALEF_VARIANTS = frozenset(
    "\u0623"  # ARABIC LETTER ALEF WITH HAMZA ABOVE
    "\u0625"  # ARABIC LETTER ALEF WITH HAMZA BELOW
    "\u0622"  # ARABIC LETTER ALEF WITH MADDA ABOVE
    "\u0671"  # ARABIC LETTER ALEF WASLA
    "\u0672"  # ARABIC LETTER ALEF WITH WAVY HAMZA ABOVE
    "\u0673"  # ARABIC LETTER ALEF WITH WAVY HAMZA BELOW
)
YEH_VARIANTS = frozenset(
    "\u0649"  # ARABIC LETTER ALEF MAKSURA
    "\u06cc"  # ARABIC LETTER FARSI YEH
    "\u06d2"  # ARABIC LETTER YEH BARREE
    "\u06d0"  # ARABIC LETTER E
)
HEH_VARIANTS = frozenset(
    "\u0629"  # ARABIC LETTER TEH MARBUTA
    "\u06c1"  # ARABIC LETTER HEH GOAL
    "\u06be"  # ARABIC LETTER HEH DOACHASHMEE
    "\u06c0"  # ARABIC LETTER HEH WITH YEH ABOVE
    "\u06d5"  # ARABIC LETTER AE
)
KAF_VARIANTS = frozenset(
    "\u06a9"  # ARABIC LETTER KEHEH
    "\u06aa"  # ARABIC LETTER SWASH KAF
)
PERSIAN_LETTERS = {
    "\u0686": "\u062c",  # ARABIC LETTER TCHEH -> JEEM (عراقچی -> عراقجي, as Arabic writes it)
    "\u067e": "\u0628",  # ARABIC LETTER PEH -> BEH (پزشکیان -> بزشكيان)
    "\u0698": "\u0632",  # ARABIC LETTER JEH -> ZAIN
    "\u06af": KAF,  # ARABIC LETTER GAF -> KAF
}
"""Persian letters in Arabic copy (names quoted from Persian sources), mapped to the letter
Arabic spelling uses for the same sound."""
TATWEEL = "\u0640"  # ARABIC TATWEEL
DIACRITICS = frozenset(
    [chr(c) for c in range(0x064B, 0x0660)]  # FATHATAN .. ARABIC WAVY HAMZA BELOW
    + ["\u0670"]  # ARABIC LETTER SUPERSCRIPT ALEF
    + [chr(c) for c in range(0x06D6, 0x06DD)]  # Quranic small high ligatures
    + [chr(c) for c in range(0x06DF, 0x06E5)]  # Quranic small high marks
    + [chr(c) for c in range(0x06E7, 0x06E9)]
    + [chr(c) for c in range(0x06EA, 0x06EE)]
)
INVISIBLE = frozenset(
    "\u200b\u200c\u200d\u200e\u200f"  # ZERO WIDTH SPACE/NON-JOINER/JOINER, LRM, RLM
    "\u202a\u202b\u202c\u202d\u202e"  # LRE RLE PDF LRO RLO
    "\u2066\u2067\u2068\u2069"  # LRI RLI FSI PDI
    "\u061c"  # ARABIC LETTER MARK
    "\ufeff"  # ZERO WIDTH NO-BREAK SPACE (BOM)
    "\u00ad"  # SOFT HYPHEN
)
REMOVED = DIACRITICS | INVISIBLE | {TATWEEL}
ATTACHED = DIACRITICS | {TATWEEL}
"""Removed marks that belong to the letter before them (kept inside a reported surface)."""

DOUBLE_QUOTES = frozenset("\u201c\u201d\u201e\u201f\u00ab\u00bb\u2033\u02ba")  # “ ” „ ‟ « » ″ ʺ
SINGLE_QUOTES = frozenset("\u2018\u2019\u201a\u201b\u2032\u02bc\u02b9`\u00b4")  # ‘ ’ ‚ ‛ ′ ʼ ʹ ` ´
DASHES = frozenset("-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d")
ARABIC_INDIC_DIGITS = "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669"
PERSIAN_DIGITS = "\u06f0\u06f1\u06f2\u06f3\u06f4\u06f5\u06f6\u06f7\u06f8\u06f9"
PRESENTATION_FORMS = re.compile("[\ufb50-\ufdff\ufe70-\ufefe]")


def _build_table() -> dict[int, str | None]:
    table: dict[int, str | None] = {}
    for ch in REMOVED:
        table[ord(ch)] = None
    for variants, target in (
        (ALEF_VARIANTS, ALEF),
        (YEH_VARIANTS, YEH),
        (HEH_VARIANTS, HEH),
        (KAF_VARIANTS, KAF),
    ):
        for ch in variants:
            table[ord(ch)] = target
    for ch, target in PERSIAN_LETTERS.items():
        table[ord(ch)] = target
    for ch in DOUBLE_QUOTES:
        table[ord(ch)] = '"'
    for ch in SINGLE_QUOTES:
        table[ord(ch)] = "'"
    for ch in DASHES:
        table[ord(ch)] = " "
    for digits in (ARABIC_INDIC_DIGITS, PERSIAN_DIGITS):
        for value, ch in enumerate(digits):
            table[ord(ch)] = str(value)
    for code in range(0x0530):  # Latin, Greek, Cyrillic: one-to-one lower case only
        ch = chr(code)
        low = ch.lower()
        if low != ch and len(low) == 1:
            table[code] = low
    for code in range(0x3000):  # every whitespace character, NBSP and line breaks included
        if chr(code).isspace():
            table[code] = " "
    return table


def _as_list(table: dict[int, str | None]) -> list[str | None]:
    """The same table as a list indexed by code point: ``str.translate`` indexes a list
    about twice as fast as it hashes into a dict. Code points past the list are left as
    they are (``IndexError`` is a ``LookupError``)."""
    size = max(table) + 1
    out: list[str | None] = [chr(code) for code in range(size)]
    for code, target in table.items():
        out[code] = target
    return out


_TABLE = _as_list(_build_table())
_SPACE_RUN_RE = re.compile(" {2,}")
INPUT_PATTERNS = (PRESENTATION_FORMS, _SPACE_RUN_RE)
"""Every pattern this module applies to text: each runs in linear time (one character, or
one run of spaces, per step; tests/unit/processors/test_regex_linear.py)."""


def _fold_presentation_forms(text: str) -> str:
    return PRESENTATION_FORMS.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)


def normalize_ar(text: str) -> str:
    """Normalize for matching (no offsets): the fast path for aliases and keywords."""
    if PRESENTATION_FORMS.search(text):
        text = _fold_presentation_forms(text)
    return _SPACE_RUN_RE.sub(" ", text.translate(_TABLE))


def _as_array(table: list[str | None]) -> np.ndarray:
    """The table as code point -> code point (or ``_DELETE``), for vectorized lookups."""
    array = np.arange(0x10000, dtype=np.uint32)
    for code, target in enumerate(table[:0x10000]):
        if target is None:
            array[code] = _DELETE
        elif len(target) == 1:
            array[code] = ord(target)
    return array


_DELETE = np.uint32(0xFFFFFFFF)
CODE_MAP = _as_array(_TABLE)
"""The normalization over the Basic Multilingual Plane, code point to code point (or
deleted), for :func:`map_codes` in other modules' compiled passes."""
_CODE_POINTS = 0x110000


@functools.cache
def alnum_table() -> np.ndarray:
    """``str.isalnum`` of every code point, as a lookup table for the compiled passes (the
    tagger's token boundaries; with ``_``, the ``\\w`` of word splitting). Built once per
    machine and Unicode version (a million ``isalnum`` calls take a tenth of a second of
    every start), then read from the cache."""

    def build() -> dict[str, np.ndarray]:
        flags = map(str.isalnum, map(chr, range(_CODE_POINTS)))
        return {"alnum": np.packbits(np.fromiter(flags, dtype=np.bool_, count=_CODE_POINTS))}

    key = f"{sys.version}|{unicodedata.unidata_version}"
    packed = cached_arrays("alnum", key, build, lambda a: a["alnum"].shape == (_CODE_POINTS // 8,))
    return np.unpackbits(packed["alnum"]).astype(np.bool_)


CACHE_DIR_ENV = "RAQIB_CACHE_DIR"
"""Where compiled tables are kept (default: ``$XDG_CACHE_HOME/raqib``, else
``~/.cache/raqib``); set it empty to keep none."""


def _cache_dir() -> Path | None:
    chosen = os.environ.get(CACHE_DIR_ENV)
    if chosen is not None:
        return Path(chosen) if chosen else None
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "raqib"


def cached_arrays(
    name: str,
    key: str,
    build: Callable[[], dict[str, np.ndarray]],
    valid: Callable[[dict[str, np.ndarray]], bool],
) -> dict[str, np.ndarray]:
    """Arrays that take long to build and never change for the same ``key`` (everything
    they are built from): read from a file named by a hash of the key, so another key is
    another file and a cached table is never stale; built, and written for the next start,
    when the file is missing, unreadable, or fails ``valid`` (a damaged file fails its zip
    checksums or the check, and is rebuilt)."""
    directory = _cache_dir()
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    path = directory / f"{name}-{digest}.npz" if directory else None
    if path is not None:
        try:
            with np.load(path, allow_pickle=False) as stored:
                arrays = {k: stored[k] for k in stored.files}
            if valid(arrays):
                return arrays
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            pass  # not there yet, or damaged: built again below
    arrays = build()
    if path is not None:
        _store(path, arrays)
    return arrays


CACHE_KEEP = 8
"""Files kept per kind of table (other watchlists, earlier code): the newest."""


def _store(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write a cache file whole or not at all, and drop the oldest of its kind."""
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as out:
            tmp = out.name
            np.savez(out, allow_pickle=False, **arrays)
        os.replace(tmp, path)
        kind = path.name.rsplit("-", 1)[0]
        older = sorted(path.parent.glob(f"{kind}-*.npz"), key=lambda p: p.stat().st_mtime)
        for stale in older[:-CACHE_KEEP]:
            stale.unlink(missing_ok=True)
    except OSError:  # a read-only home: built at every start, as before
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class OffsetMap:
    """Maps indices of the normalized text back to the original text.

    ``sources[i]`` is the index in the original of normalized character ``i``.
    """

    original: str
    sources: np.ndarray
    codes: np.ndarray
    """The normalized text's code points (what the matcher scans)."""
    original_codes: np.ndarray
    """The original text's code points (where a match's trailing marks are looked up)."""

    def index(self, n: int) -> int:
        """Original index of the character at normalized index ``n``."""
        if n >= len(self.sources):
            return len(self.original)
        return int(self.sources[n])

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original [start, end) of a normalized [start, end), with trailing marks kept."""
        if end <= start:
            raise ValueError("empty span")
        o_start = int(self.sources[start])
        o_end = int(self.sources[end - 1]) + 1
        text = self.original
        while o_end < len(text) and text[o_end] in ATTACHED:
            o_end += 1
        return o_start, o_end


class Normalized(NamedTuple):
    """A text as a compiled pass reads it: its code points as written, the normalized code
    points and the index in the text of each (``OffsetMap`` without the string), so that a
    later pass over the same text need not normalize it again."""

    original: np.ndarray
    codes: np.ndarray
    sources: np.ndarray


def normalize_with_offsets(text: str) -> tuple[str, OffsetMap]:
    """Normalize ``text`` and return the map from normalized to original indices.

    Vectorized with numpy over UTF-32 code points: about five times faster than
    ``str.translate`` on news text, and the index map comes for free.
    """
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    kept, sources, expands = map_codes(codes, CODE_MAP)
    if expands:
        return _normalize_expanding(text)
    return kept.tobytes().decode("utf-32-le"), OffsetMap(text, sources, kept, codes)


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def map_codes(codes: np.ndarray, table: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """One pass: map each code point through ``table``, drop deleted ones and the second
    and later spaces of a run; return the kept code points and their original indices,
    and whether the text has presentation forms (one character may become two: the
    caller takes the slow path)."""
    n = codes.shape[0]
    kept = np.empty(n, dtype=np.uint32)
    sources = np.empty(n, dtype=np.int64)
    m = 0
    space = False
    for i in range(n):
        code = codes[i]
        if 0xFB50 <= code <= 0xFDFF or 0xFE70 <= code <= 0xFEFE:  # PRESENTATION_FORMS
            return kept[:0], sources[:0], True
        mapped = code if code > 0xFFFF else table[code]
        if mapped == 0xFFFFFFFF:
            continue
        if mapped == 32:
            if space:
                continue
            space = True
        else:
            space = False
        kept[m] = mapped
        sources[m] = i
        m += 1
    return kept[:m], sources[:m], False


LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
"""What ``str.splitlines`` breaks lines at (a CR LF pair is one break)."""
_IS_BREAK = np.zeros(max(map(ord, LINE_BREAKS)) + 1, dtype=np.bool_)
_IS_BREAK[[ord(ch) for ch in LINE_BREAKS]] = True


def normalize_lines(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Each line of ``text`` normalized (``normalize_ar`` of its content), and where each
    line's content is in ``text`` (without its line break): one compiled pass over the
    whole text instead of one translation per line.

    >>> normalize_lines("قالَ\\r\\nإيرانُ  اليوم\\n")
    (['قال', 'ايران اليوم'], [(0, 4), (6, 19)])
    """
    codes = _code_points(text)
    kept, starts, ends, expands = _map_lines(codes, CODE_MAP, _IS_BREAK)
    spans = list(zip(starts.tolist(), ends.tolist(), strict=True))
    if expands:  # presentation forms: one character may become two
        return [normalize_ar(text[s:e]) for s, e in spans], spans
    lines = kept.tobytes().decode("utf-32-le").split("\n")
    return lines[: len(spans)], spans


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def _map_lines(
    codes: np.ndarray, table: np.ndarray, breaks: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """:func:`map_codes` line by line: each line's content mapped, its runs of spaces
    collapsed, a LINE FEED after it; and the [start, end) of each line's content."""
    n = codes.shape[0]
    kept = np.empty(n + 1, dtype=np.uint32)
    starts = np.empty(n + 1, dtype=np.int64)
    ends = np.empty(n + 1, dtype=np.int64)
    lines = 0
    m = 0
    start = 0
    space = False
    expands = False
    i = 0
    while i < n:
        code = codes[i]
        if code < breaks.shape[0] and breaks[code]:
            starts[lines] = start
            ends[lines] = i
            lines += 1
            kept[m] = 10  # LINE FEED
            m += 1
            space = False
            if code == 13 and i + 1 < n and codes[i + 1] == 10:  # CR LF
                i += 1
            i += 1
            start = i
            continue
        i += 1
        if 0xFB50 <= code <= 0xFDFF or 0xFE70 <= code <= 0xFEFE:  # PRESENTATION_FORMS
            expands = True
            continue
        mapped = code if code > 0xFFFF else table[code]
        if mapped == 0xFFFFFFFF:
            continue
        if mapped == 32:
            if space:
                continue
            space = True
        else:
            space = False
        kept[m] = mapped
        m += 1
    if start < n:
        starts[lines] = start
        ends[lines] = n
        lines += 1
    return kept[:m], starts[:lines], ends[:lines], expands


def _normalize_expanding(text: str) -> tuple[str, OffsetMap]:
    """The slow path for text with presentation forms, where one char may become two."""
    pieces: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(text):
        out = unicodedata.normalize("NFKC", ch) if PRESENTATION_FORMS.match(ch) else ch
        out = out.translate(_TABLE)
        for piece in out:
            if piece == " " and pieces and pieces[-1] == " ":
                continue
            pieces.append(piece)
            index.append(i)
    norm = "".join(pieces)
    return norm, OffsetMap(
        text, np.asarray(index, dtype=np.int64), _code_points(norm), _code_points(text)
    )


def _code_points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


ATTACHED_MASK = np.zeros(0x10000, dtype=np.bool_)
"""``ATTACHED`` as a lookup table over the Basic Multilingual Plane."""
for _mark in ATTACHED:
    ATTACHED_MASK[ord(_mark)] = True


def original_spans(
    offsets: OffsetMap, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Original [start, end) of normalized spans, each end moved past the diacritics and
    tatweel that follow it (a trailing mark belongs to the word it sits on)."""
    result: tuple[np.ndarray, np.ndarray] = span_arrays(
        offsets.sources, offsets.original_codes, starts, ends, ATTACHED_MASK
    )
    return result


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def span_arrays(
    sources: np.ndarray,
    original: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    attached: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`original_spans` over the arrays themselves, for compiled passes."""
    n = starts.shape[0]
    size = original.shape[0]
    o_starts = np.empty(n, dtype=np.int64)
    o_ends = np.empty(n, dtype=np.int64)
    for i in range(n):
        o_starts[i] = sources[starts[i]]
        end = sources[ends[i] - 1] + 1
        while end < size and original[end] <= 0xFFFF and attached[original[end]]:
            end += 1
        o_ends[i] = end
    return o_starts, o_ends
