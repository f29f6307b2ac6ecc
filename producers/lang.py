"""Detect an article's language when its producer did not say: Arabic, Persian, English.

Script first (Arabic letters or Latin), then, since Persian is written in the Arabic
script too, its own letters (پ چ ژ گ ک ی) and function words (است، از، را، که، می …)
against Arabic's (في، على، إلى، التي، الذي …). An Arabic article that names عراقچی or
quotes پزشکیان stays Arabic: one Persian name is a few letters among thousands, and its
function words are Arabic. Anything else is ``und`` (BCP 47: undetermined). Light by
design: no model, a few microseconds per article.

>>> detect_lang("التقى وزير الخارجية الإيراني عباس عراقجي الرئيس السوري في دمشق")
'ar'
>>> detect_lang("وزیر امور خارجه ایران در سفر به دمشق با رئیس‌جمهور سوریه دیدار کرد")
'fa'
>>> detect_lang("The foreign minister met the president in Damascus on Sunday.")
'en'
>>> detect_lang("1234 !!!")
'und'
"""

from __future__ import annotations

import re
from typing import Literal

Lang = Literal["ar", "fa", "en", "und"]

PERSIAN_LETTERS = frozenset(
    "\u067e"  # ARABIC LETTER PEH پ
    "\u0686"  # ARABIC LETTER TCHEH چ
    "\u0698"  # ARABIC LETTER JEH ژ
    "\u06af"  # ARABIC LETTER GAF گ
    "\u06a9"  # ARABIC LETTER KEHEH ک
    "\u06cc"  # ARABIC LETTER FARSI YEH ی
)
URDU_LETTERS = frozenset(
    "\u0679"  # ARABIC LETTER TTEH ٹ
    "\u0688"  # ARABIC LETTER DDAL ڈ
    "\u0691"  # ARABIC LETTER RREH ڑ
    "\u06ba"  # ARABIC LETTER NOON GHUNNA ں
    "\u06be"  # ARABIC LETTER HEH DOACHASHMEE ھ
    "\u06c1"  # ARABIC LETTER HEH GOAL ہ
    "\u06d2"  # ARABIC LETTER YEH BARREE ے
)
# words frequent in one language and not written alike in the other (من is "from" in
# Arabic and "I" in Persian, بعد and هم are both: left out)
PERSIAN_WORDS = frozenset(
    "است از را که كه در برای براي می های هاي شده کرد کرده كرده خود نیز نيز این یک بود شد آن"
    " با تا بر شود کند گفت".split()
)
ARABIC_WORDS = frozenset(
    "في على إلى الى عن أن التي الذي الذين هذا هذه ذلك مع كان قد لم إن قال وقال كما حيث"
    " وفي أنه بين".split()
)
ENGLISH_WORDS = frozenset(
    "the of and to in is was for on that with by said as at from has have are it its his"
    " their a an were be this which".split()
)
_ARABIC_SCRIPT_RE = re.compile(
    "[\u0620-\u064a\u066e-\u06d3\u06fa-\u06ff"  # letters of the Arabic block
    "\ufb50-\ufdff\ufe70-\ufefc]"  # presentation forms
)
_LATIN_RE = re.compile("[A-Za-z\u00c0-\u024f]")
_WORD_RE = re.compile(r"[^\W\d_]+")
INPUT_PATTERNS = (_ARABIC_SCRIPT_RE, _LATIN_RE, _WORD_RE)
"""Every pattern this module applies to text (timed by test_regex_linear.py)."""
SAMPLE_CHARS = 4000
"""The start of a text tells its language; a long article costs no more than this."""
URDU_SHARE = 0.01
PERSIAN_LETTER_SHARE = 0.02
ENGLISH_WORD_SHARE = 0.1


def detect_lang(text: str) -> Lang:
    """``ar``, ``fa``, ``en``, or ``und`` when the text is none of these or too short."""
    sample = text[:SAMPLE_CHARS]
    arabic = len(_ARABIC_SCRIPT_RE.findall(sample))
    latin = len(_LATIN_RE.findall(sample))
    if arabic + latin < 3:
        return "und"
    words = _WORD_RE.findall(sample)
    if arabic >= latin:
        if sum(c in URDU_LETTERS for c in sample) > URDU_SHARE * arabic:
            return "und"
        persian = sum(w in PERSIAN_WORDS for w in words)
        arabic_words = sum(w in ARABIC_WORDS for w in words)
        if persian != arabic_words:
            return "fa" if persian > arabic_words else "ar"
        letters = sum(c in PERSIAN_LETTERS for c in sample)
        return "fa" if letters > PERSIAN_LETTER_SHARE * arabic else "ar"
    latin_words = [w.lower() for w in words if _LATIN_RE.match(w)]
    english = sum(w in ENGLISH_WORDS for w in latin_words)
    return "en" if english >= ENGLISH_WORD_SHARE * len(latin_words) else "und"
