"""Drop the page chrome that scrapers leave around an article, keeping original offsets.

Scraped news carries site menus, tickers of other headlines, bylines, ad markers,
"back to top" buttons, comment prompts and teasers of other articles. None of it is the
article, so none of it may produce a mention. Cleaning works line by line and returns
the spans of the original body that are kept, so the tagger can report offsets into
the body as written.

>>> body = "الرئيسية / سياسة\\nعنوان\\nقالت إيران اليوم إنها سترد.\\nاترك تعليقاً"
>>> clean_body(body, title="عنوان").text
'قالت إيران اليوم إنها سترد.'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from processors.normalize import normalize_ar, normalize_lines

BOILERPLATE_LINES = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"^back to top( button)?$",
        r"^زر الذهاب الي الاعلي$",  # "go to top" button
        r"^(اترك|اضف|أضف) (تعليقا|تعليق|ردا)$",  # comment prompts
        r"^لن يتم نشر عنوان بريدك الالكتروني",  # comment form notice
        r"^تعليق \(\d+\)$",  # comment counter
        r"^\[?اعلان( \d+)?\]?$",  # ad slot marker
        r"^(المصدر|source) ?: ?https?://",  # source link line
        r"^الرئيسيه ?/",  # breadcrumb menu
        r"^(عن|بقلم|كتب|كتبت|by) [^ .،]+( [^ .،]+)?$",  # byline
        r"^(نشر|شارك|طباعه|share|print)( في)?$",
    )
)
"""Whole lines that are never article text (matched on the normalized, stripped line)."""

AGENCY_BYLINE = re.compile(
    r"^[^ .،()]+( [^ .،()]+){0,3} \((بحسب|عن|نقلا عن|وفقا ل|via|with|from) [^()]+\)$",
    re.IGNORECASE,
)
"""A byline with its agency, "نغوك آنه (بحسب وكالة فرانس برس)", "X (عن رويترز)": chrome
like the lines above, tried only on a line that ends with its closing parenthesis."""


def _any_of(patterns: tuple[re.Pattern[str], ...]) -> re.Pattern[str]:
    """One pattern that matches where any of ``patterns`` does (one search per line, not
    one per pattern): each alternative keeps its anchors, and all share the flags."""
    return re.compile("|".join(f"(?:{p.pattern})" for p in patterns), re.IGNORECASE)


_BOILERPLATE_RE = _any_of(BOILERPLATE_LINES)

MASTHEAD = re.compile(r"^(رئيس مجلس الاداره|رئيس التحرير|مدير التحرير|editor in chief)$", re.I)
"""A masthead title; it and the short line naming its holder ("د. رائد العزاوي") are chrome."""
MASTHEAD_NAME_MAX_WORDS = 4

INLINE_CREDIT = re.compile(
    r"(?<![\s(\[|\-–—])[\s(\[|\-–—]*+"  # the blanks and brackets before it, from their start
    r"(?<!\w)(?:تصوير|photo|photograph|(?:photo |image |picture )?credit)\s*+[:：]"
    r"(?:\s*+[^\s:.()\[\]][^:.\n()\[\]]{0,59}+[)\]]?"  # who: 1-60 characters, then ) or ]
    r"|(?=\s*?[^\S\n])\s*+(?:(?<=[^\S\n])[)\]])?)"  # or blanks only, one of them read as who
    r"[.\s]*+$",
    re.IGNORECASE,
)
"""A photo credit closing a caption line ("... تصوير: وكالة فرانس برس."): who took the
picture, not what the article is about, so it is cut from the kept span like a byline.
Searched in one line at a time (a slice: the lookbehind must not see the line break before
it). Written to run in linear time, with the matches of the plain form it replaced (kept in
tests/unit/processors/test_regex_linear.py, which checks the two agree): a search starts only
where a run of blanks and brackets starts, and no part can hand characters back to another
(possessive ``*+``), so a long run of spaces or dashes is read once, not once per start."""
CREDIT_HINTS = ("تصوير", "p", "P", "c", "C")
"""What a line holds wherever :data:`INLINE_CREDIT` matches in it: the Arabic word, or the
first letter of a Latin one (photo, photograph, credit; ignoring case, only these four
characters match p and c: tests/unit/processors/test_clean.py)."""

DATELINE_CREDIT = re.compile(
    r"(?<![^\S\n])[^\S\n]*+(?<![^\s()])[^\s()]++(?:[^\S\n][^\s()]++)?[^\S\n]*+"
    r"(\([^()\n]{1,30}\))[^\S\n]*+[-–—:]"
)
"""A dateline's agency credit, "طهران (إرنا) –" opening the article: the city is the story's,
the agency is who filed it (a credit, like a byline), so the parenthesis is cut. Matched at
a line's start; the lookbehinds let a search start only where a run of blanks or a word starts,
so it stays linear even if searched."""

TEASER_MARKERS = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"^(انظر|اقرا) (ايضا|كذلك)\W*$",
        r"^(اخبار|مقالات|مواضيع) (اخري|ذات صله|متعلقه)\W*$",
        r"^(read|see) (also|more)\W*$",
        r"^related( articles| news)?\W*$",
    )
)
"""A line announcing teasers of other articles: it and everything after it are dropped."""
_TEASER_RE = _any_of(TEASER_MARKERS)

TICKER_MIN_CHARS = 250
"""A line this long with no Arabic comma and no full stop is a run of glued headlines."""
_FULL_STOP_RE = re.compile(r"[^.]\.(\s|$)")

MIN_WORDS = 3
"""Shorter lines are chrome (section labels, outlet names, 'published'), not paragraphs."""

INPUT_PATTERNS = (
    *BOILERPLATE_LINES,
    AGENCY_BYLINE,
    _BOILERPLATE_RE,
    MASTHEAD,
    INLINE_CREDIT,
    DATELINE_CREDIT,
    *TEASER_MARKERS,
    _TEASER_RE,
    _FULL_STOP_RE,
)
"""Every pattern this module applies to article text: each must run in linear time, whether
searched, matched or substituted (tests/unit/processors/test_regex_linear.py)."""


@dataclass(frozen=True, slots=True)
class Cleaned:
    """The kept text and the [start, end) spans of the original body it came from."""

    text: str
    spans: tuple[tuple[int, int], ...]

    def keeps(self, start: int, end: int) -> bool:
        """True when an original [start, end) lies inside kept text."""
        return any(s <= start and end <= e for s, e in self.spans)

    def bounds(self) -> np.ndarray:
        """The spans as an array of [start, end) rows, in order (for compiled passes)."""
        return np.asarray(self.spans, dtype=np.int64).reshape(-1, 2)

    def keeps_many(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """:meth:`keeps` for arrays of spans (the spans of kept text are in order)."""
        if not self.spans:
            return np.zeros(len(starts), dtype=np.bool_)
        kept = np.asarray(self.spans, dtype=np.int64)
        index = np.searchsorted(kept[:, 0], starts, side="right") - 1
        inside = index >= 0
        return inside & (ends <= kept[np.maximum(index, 0), 1])

    def masked(self, body: str) -> str:
        """The body with everything dropped blanked out: same length, same offsets."""
        pieces: list[str] = []
        at = 0
        for s, e in self.spans:
            pieces += (" " * (s - at), body[s:e])
            at = e
        pieces.append(" " * (len(body) - at))
        return "".join(pieces)


def _is_ticker(line: str) -> bool:
    """Glued headlines: long, yet no Arabic comma and no single full stop ('..' is a joiner)."""
    return len(line) >= TICKER_MIN_CHARS and "،" not in line and not _FULL_STOP_RE.search(line)


def _keep(kept: list[tuple[int, int]], body: str, start: int, end: int) -> None:
    """Keep body[start:end] without its surrounding whitespace, if anything is left."""
    line = body[start:end]
    lead = len(line) - len(line.lstrip())
    trail = len(line) - len(line.rstrip())
    if end - trail > start + lead:
        kept.append((start + lead, end - trail))


def _words(norm: str) -> int:
    """How many words a normalized, stripped line has (``len(norm.split())``): its only
    blanks are single spaces, unless it kept an IDEOGRAPHIC SPACE (U+3000)."""
    if "\u3000" in norm:
        return len(norm.split())
    return norm.count(" ") + 1 if norm else 0


def _may_credit(line: str) -> bool:
    """Whether :data:`INLINE_CREDIT` may match in a line: it has a colon and a hint. A few
    substring tests: the search itself takes microseconds a line, and quotes (قال: ...) put
    colons in many lines of news."""
    return (":" in line or "\uff1a" in line) and any(hint in line for hint in CREDIT_HINTS)


def _is_chrome(norm: str) -> bool:
    """A whole line that is never article text: boilerplate, a byline, a ticker."""
    return bool(
        _is_ticker(norm)
        or _BOILERPLATE_RE.search(norm)
        or (norm.endswith(")") and AGENCY_BYLINE.search(norm))
    )


def clean_body(body: str, *, title: str = "", source: str = "") -> Cleaned:
    """Keep the article's own paragraphs; drop chrome, tickers, bylines and teasers."""
    norm_lines, lines = normalize_lines(body)
    norm_lines = [norm.strip() for norm in norm_lines]
    first = 0
    norm_title = normalize_ar(title).strip() if title else ""
    if norm_title:
        for i, norm in enumerate(norm_lines):
            if norm == norm_title:
                first = i + 1  # everything above the headline is site chrome
                break
    norm_source = normalize_ar(source).strip() if source else ""
    kept: list[tuple[int, int]] = []
    holder_next = False  # the line after a masthead title names its holder
    for (start, end), norm in zip(lines[first:], norm_lines[first:], strict=True):
        if _TEASER_RE.search(norm):
            break
        if not norm:
            continue
        if MASTHEAD.search(norm):
            holder_next = True
            continue
        if holder_next:
            holder_next = False
            if len(norm.split()) <= MASTHEAD_NAME_MAX_WORDS:
                continue
        if _words(norm) < MIN_WORDS or norm == norm_source or norm == norm_title:
            continue
        if _is_chrome(norm):
            continue
        line = body[start:end]  # the lookbehinds must not see the line break before it
        credit = INLINE_CREDIT.search(line) if _may_credit(line) else None
        if credit and line[: credit.start()].strip():  # a credit after the caption
            end = start + credit.start()
        dateline = None if kept else DATELINE_CREDIT.match(line, 0, end - start)
        if dateline:  # keep the city and the story, not the agency between them
            _keep(kept, body, start, start + dateline.start(1))
            start += dateline.end(1)
        _keep(kept, body, start, end)
    text = "\n".join(body[s:e] for s, e in kept)
    return Cleaned(text=text, spans=tuple(kept))
