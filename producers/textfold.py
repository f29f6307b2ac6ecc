"""Fold a text to the form two copies of one story share, for duplicate detection.

Copies of one article differ in what a reader does not notice: diacritics, tatweel, alef
and hamza forms, alef maqsura and teh marbuta, Persian-keyboard letters, digits,
punctuation and quotes, spacing. :func:`fold_ar` removes all of that; what remains is
the words. The worker's normalization (``processors/normalize.py``) keeps offsets back to
the text and is compiled with numba; this one needs neither, so producers stay light and
import no stage.

>>> fold_ar("قالَ  الـــرئيسُ: «إنّ الهدنة مستمرة»!")
'قال الرييس ان الهدنه مستمره'
>>> fold_ar("Hello,   WORLD ٢٠٢٤") == fold_ar("hello world 2024")
True
"""

from __future__ import annotations

import re
import unicodedata

TATWEEL = "\u0640"  # ARABIC TATWEEL
DIACRITICS = frozenset(
    [chr(c) for c in range(0x064B, 0x0660)]  # FATHATAN ... HAMZA BELOW (harakat, tanwin, shadda)
    + [
        "\u0670",  # ARABIC LETTER SUPERSCRIPT ALEF (dagger alef)
        *[chr(c) for c in range(0x06D6, 0x06EE)],  # Quranic annotation marks
        *[chr(c) for c in range(0x0610, 0x061B)],  # honorific and Quranic signs
    ]
)
INVISIBLE = frozenset(
    "\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\u061c"  # zero-width, joiners, LRM RLM, ALM
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"  # bidi embeddings and isolates
)
LETTER_FOLDS = {
    "\u0623": "\u0627",  # ALEF WITH HAMZA ABOVE -> ALEF
    "\u0625": "\u0627",  # ALEF WITH HAMZA BELOW -> ALEF
    "\u0622": "\u0627",  # ALEF WITH MADDA ABOVE -> ALEF
    "\u0671": "\u0627",  # ALEF WASLA -> ALEF
    "\u0624": "\u0648",  # WAW WITH HAMZA ABOVE -> WAW
    "\u0626": "\u064a",  # YEH WITH HAMZA ABOVE -> YEH
    "\u0649": "\u064a",  # ALEF MAKSURA -> YEH
    "\u06cc": "\u064a",  # FARSI YEH -> YEH
    "\u0629": "\u0647",  # TEH MARBUTA -> HEH
    "\u06c1": "\u0647",  # HEH GOAL -> HEH
    "\u06a9": "\u0643",  # KEHEH -> KAF
}
_TABLE: dict[int, str | None] = {ord(c): None for c in DIACRITICS | INVISIBLE | {TATWEEL}}
_TABLE.update({ord(k): v for k, v in LETTER_FOLDS.items()})
_TABLE.update({0x0660 + d: str(d) for d in range(10)})  # ARABIC-INDIC DIGIT ZERO ... NINE
_TABLE.update({0x06F0 + d: str(d) for d in range(10)})  # EXTENDED ARABIC-INDIC (Persian)
# punctuation and symbols (Arabic comma, semicolon and question mark included) -> space
_NOT_WORD_RE = re.compile(r"[\W_]+")
INPUT_PATTERNS = (_NOT_WORD_RE,)
"""Every pattern this module applies to text (timed by test_regex_linear.py)."""


def fold_ar(text: str) -> str:
    """Words only: compatibility forms, case, marks, letter variants and punctuation folded."""
    text = unicodedata.normalize("NFKC", text).translate(_TABLE).casefold()
    return _NOT_WORD_RE.sub(" ", text).strip()


def shingles_ar(text: str, size: int = 5) -> set[str]:
    """Character ``size``-grams of the folded text: what MinHash compares. Characters, not
    words, so that a clitic or a suffix changed in a rewrite costs a few shingles only."""
    folded = fold_ar(text)
    return {folded[i : i + size] for i in range(max(len(folded) - size + 1, 0))}
