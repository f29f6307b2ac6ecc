"""Every pattern applied to article text runs in linear time: nothing stalls the loop.

A backtracking engine takes quadratic time (or worse) where a pattern can start at every
place in a long run of what it repeats, or can share a run between two repeats in many
ways: the old photo-credit pattern took 23 s over a paragraph of 32,000 spaces, and a cue
search once per repeat of an ambiguous alias took 16 s over one long sentence. Each
pattern is run over 64 KB of such runs and must finish in a time a quadratic pattern misses
by orders of magnitude; so must :func:`clean_body` and the whole pipeline.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from alerts.channels import alertmanager, email, webhook
from processors import clean, normalize, tagger, wordforms
from processors.clean import clean_body
from processors.pipeline import Pipeline
from processors.tagger import Tagger
from processors.topics import load_topics
from processors.watchlist import load_watchlist
from producers import html_text, lang, textfold
from raqib.messages import Article

ROOT = Path(__file__).resolve().parents[3]
SIZE = 64 * 1024
CALL_SECONDS = 0.05
"""One search, match or sub over 64 KB: measured at most 5 ms; the old credit pattern, minutes."""
CLEAN_SECONDS = 0.25
"""clean_body over a 64 KB body: measured at most 0.10 s."""
PIPELINE_SECONDS = 0.5
"""Pipeline.process over a 64 KB body: measured at most 0.20 s (0.34 s at 128 KB: linear)."""

MODULES: tuple[ModuleType, ...] = (
    clean,
    normalize,
    wordforms,
    tagger,
    webhook,
    email,
    alertmanager,
    textfold,
    html_text,
    lang,
)
"""The modules that apply patterns to text; each lists them in ``INPUT_PATTERNS``."""
IMPORTS_RE = re.compile(r"^(?:import re\b|from re import)", re.MULTILINE)
"""A stage module that imports ``re`` must be one of :data:`MODULES`."""

BLANKS = (" ", "\t", "\u00a0", "\n")  # SPACE, TAB, NO-BREAK SPACE, LINE FEED
RUNS = (
    *BLANKS,
    "-",  # HYPHEN-MINUS
    "\u2013",  # EN DASH
    "\u2014",  # EM DASH
    "|",
    "(",
    ")",
    "[",
    "]",
    ".",
    ":",
    "\uff1a",  # FULLWIDTH COLON
    "\u060c",  # ARABIC COMMA
    "\u0628",  # ARABIC LETTER BEH
    "\u0648",  # ARABIC LETTER WAW: a proclitic the cue patterns repeat
    "\ufefb",  # ARABIC LIGATURE LAM WITH ALEF ISOLATED FORM: a presentation form
    "\u064e",  # ARABIC FATHA: a mark, neither a word character nor a blank
    "a",
    "1",
    "_",
    "( ",
    "[ ",
    ") ",
    " -",
    ". ",
    ": ",
    "\u0628 ",
    "a ",
    "x.",
    "تصوير:",
    "تصوير: ",
    "photo credit: ",
    "(إرنا) ",
    "طهران (إرنا) – ",
    "الرئيس ",
    "قطر، ",
    "انظر ايضا ",
)
"""What a pattern repeats, alone and alternating: each is repeated to 64 KB."""
PREFIXES = ("تصوير: ", "تصوير: x", "photo credit: a", "طهران ", "طهران (", "X (عن ", "بقلم ")
"""Openings (a credit, a dateline, a byline) that lead a pattern past its fixed part."""
FILLS = (" ", "\n", ".", "-", "\u0628")
"""What follows an opening, to 64 KB."""
ENDINGS = ("", ":")
"""A colon closes no repeat but the dateline's: a pattern that fails there gives each run back."""
AMBIGUOUS_SENTENCES = ("قطر، ", "حماس، ", "الأسد، ", "حماس غزة، ", "ووصل الوزير ظريف إلى دمشق، ")
"""One sentence repeating an ambiguous alias: its cues were once searched for per repeat."""


def _text(prefix: str, unit: str, ending: str = "") -> str:
    """``prefix``, then ``unit`` repeated, then ``ending``: 64 KB in all."""
    return (prefix + unit * (SIZE // len(unit) + 1))[: SIZE - len(ending)] + ending


WORST_TEXTS = [_text("", unit, ending) for unit in RUNS for ending in ENDINGS] + [
    _text(prefix, fill, ":") for prefix in PREFIXES for fill in FILLS
]


def _listed(module: ModuleType) -> dict[re.Pattern[str], str]:
    """Every compiled pattern a module holds, alone or in a tuple, by its name."""
    found: dict[re.Pattern[str], str] = {}
    for name, value in vars(module).items():
        if isinstance(value, re.Pattern):
            found[value] = f"{module.__name__}.{name}"
        elif isinstance(value, tuple) and name != "INPUT_PATTERNS":
            for i, item in enumerate(value):
                if isinstance(item, re.Pattern):
                    found[item] = f"{module.__name__}.{name}[{i}]"
    return found


CUE_PATTERNS = [
    p for p in Tagger(load_watchlist()).input_patterns if p not in tagger.INPUT_PATTERNS
]
"""The default watchlist's cue patterns, built at run time by the tagger."""
PATTERNS = [(name, p) for m in MODULES for p, name in _listed(m).items()] + [
    (f"tagger cue {i}", p) for i, p in enumerate(CUE_PATTERNS)
]


def _seconds(call: Callable[[], object], bound: float) -> float:
    """The best of up to three runs: a busy machine may stall one run, a quadratic pattern
    is slow in all three."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
        if best < bound:
            break
    return best


def _calls(pattern: re.Pattern[str], text: str) -> dict[str, Callable[[], object]]:
    return {
        "search": lambda: pattern.search(text),
        "match": lambda: pattern.match(text),
        "sub": lambda: pattern.sub("", text),
    }


def _slow(pattern: re.Pattern[str], text: str) -> list[str]:
    """The calls that miss the bound, described for the failure message."""
    return [
        f"{how} on {text[:20]!r}…{text[-4:]!r}: {seconds:.3f} s"
        for how, call in _calls(pattern, text).items()
        if (seconds := _seconds(call, CALL_SECONDS)) >= CALL_SECONDS
    ]


def test_every_pattern_is_listed() -> None:
    """A pattern left out of its module's ``INPUT_PATTERNS`` would never be timed here."""
    for module in MODULES:
        assert set(_listed(module)) == set(module.INPUT_PATTERNS), module.__name__
    stages = [ROOT / "processors", ROOT / "producers", ROOT / "alerts"]
    importing_re = {
        path.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".")
        for stage in stages
        for path in stage.rglob("*.py")
        if IMPORTS_RE.search(path.read_text(encoding="utf-8"))
    }
    assert importing_re <= {m.__name__ for m in MODULES}


def test_the_tagger_lists_its_cue_patterns() -> None:
    assert len(CUE_PATTERNS) > 10  # the default watchlist gives its ambiguous entities cues


@pytest.mark.parametrize(("name", "pattern"), PATTERNS, ids=[name for name, _ in PATTERNS])
def test_pattern_is_linear_on_long_runs(name: str, pattern: re.Pattern[str]) -> None:
    slow = [call for text in WORST_TEXTS for call in _slow(pattern, text)]
    assert not slow, (pattern.pattern, slow)


PIECES = (
    *(unit for unit in RUNS if len(unit) == 1),
    "تصوير",
    "photo",
    "credit",
    "image ",
    "طهران",
    "(عن",
    "الرئيس",
    "قطر",
    "و",
)


@settings(max_examples=20, deadline=None)
@given(
    prefix=st.sampled_from(("", *PREFIXES)),
    unit=st.lists(st.sampled_from(PIECES), min_size=1, max_size=4).map("".join),
    ending=st.sampled_from(ENDINGS),
)
def test_any_repeated_unit_is_linear(prefix: str, unit: str, ending: str) -> None:
    text = _text(prefix, unit, ending)
    slow = [f"{name}: {call}" for name, pattern in PATTERNS for call in _slow(pattern, text)]
    assert not slow, slow


LEGACY_INLINE_CREDIT = re.compile(
    r"[\s(\[|\-–—]*\b(تصوير|photo|photograph|(?:photo |image |picture )?credit)"
    r"\s*[:：]\s*[^:.\n()\[\]]{1,60}[)\]]?[.\s]*$",
    re.IGNORECASE,
)
LEGACY_DATELINE_CREDIT = re.compile(
    r"[^\S\n]*[^\s()]+(?:[^\S\n][^\s()]+)?[^\S\n]*(\([^()\n]{1,30}\))[^\S\n]*[-–—:]"
)
"""The credit patterns as first written: the same matches, in quadratic time."""
CREDIT_PIECES = (
    *BLANKS,
    "\u2028",  # LINE SEPARATOR
    "(",
    ")",
    "[",
    "]",
    "|",
    "-",
    "–",
    "—",
    ":",
    "：",
    ".",
    "x",
    "_",
    "\u060c",
    "تصوير",
    "photo",
    "PHOTO",
    "Photograph",
    "credit",
    "image ",
    "طهران",
    "(إرنا)",
    " " * 61,
    "x" * 58,
)


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(CREDIT_PIECES), max_size=12).map("".join))
@example("الصورة الاولى تصوير:   ")  # only blanks after the colon: one of them is who
@example("الصورة تصوير:  )")
@example("الصورة تصوير:\n)")
@example("الصورة تصوير: \n)")
@example("الصورة (photo credit: AFP).")
@example("الصورة تصوير: " + "x" * 60 + " " * 30)
@example("الصورة تصوير: " + "x" * 61)
@example("  طهران (إرنا) – قال")
def test_credit_patterns_match_as_before(text: str) -> None:
    old, new = LEGACY_INLINE_CREDIT.search(text), clean.INLINE_CREDIT.search(text)
    assert (old and old.span()) == (new and new.span())
    old, new = LEGACY_DATELINE_CREDIT.match(text), clean.DATELINE_CREDIT.match(text)
    assert (old and (old.span(), old.span(1))) == (new and (new.span(), new.span(1)))


@pytest.mark.parametrize("fill", [" ", "-"])
def test_inline_credit_on_a_paragraph_of_spaces(fill: str) -> None:
    """The case issue 12 measured: 23 s for 32,000 spaces before the rewrite."""
    text = "a" + fill * 32_000 + "b"
    assert _seconds(lambda: clean.INLINE_CREDIT.search(text), CALL_SECONDS) < CALL_SECONDS
    assert _seconds(lambda: clean_body(text), CLEAN_SECONDS) < CLEAN_SECONDS


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    watchlist = load_watchlist()
    built = Pipeline(watchlist, load_topics(None, watchlist))
    built.process(Article(id="warm", body="زار الوزير ظريف دمشق"))  # compile the kernels
    return built


BODIES = [
    ("", unit) for unit in (*RUNS, *AMBIGUOUS_SENTENCES, "a b c\n", "طهران (إرنا) – قال\n")
] + [(prefix, fill) for prefix in PREFIXES for fill in (" ", "\n")]


@pytest.mark.parametrize(("prefix", "unit"), BODIES)
def test_pipeline_is_linear(pipeline: Pipeline, prefix: str, unit: str) -> None:
    body = _text(prefix, unit, "x")
    article = Article(id="adversarial", title="حماس", body=body)
    assert _seconds(lambda: clean_body(body), CLEAN_SECONDS) < CLEAN_SECONDS
    assert _seconds(lambda: pipeline.process(article), PIPELINE_SECONDS) < PIPELINE_SECONDS
