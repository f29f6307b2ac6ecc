"""Word forms: the readings a text word gives a keyword lookup."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.clean import Cleaned
from processors.normalize import Normalized, normalize_ar, normalize_with_offsets
from processors.wordforms import (
    WORD,
    KeywordParts,
    Vocabulary,
    _WordTable,
    keyword_parts,
    readings,
    tokenize,
    words_of,
)


@pytest.mark.parametrize(
    ("word", "stem"),
    [
        ("والعقوبات", "عقوبات"),  # conjunction and article
        ("للتهدئة", "تهدئه"),  # ل + ال written لل
        ("سيزور", "يزور"),  # the future prefix
        ("قصفتها", "قصف"),  # past-tense ت, then a pronoun
        ("قتلتهم", "قتل"),
        ("هجّرونا", "هجر"),  # the plural's وا written و before a pronoun
        ("سيطرته", "سيطره"),  # a teh marbuta written ت before a pronoun
        ("هدنات", "هدنه"),  # the feminine plural of هدنة
        ("الدستورية", "دستوري"),  # the feminine of an adjective
        ("وزيري", "وزير"),  # the construct dual
    ],
)
def test_a_word_reads_as_its_stem(word: str, stem: str) -> None:
    words = words_of(word, [])
    assert stem in readings(words.words[0], real_heh=words.heh[0])


def test_a_final_heh_is_a_pronoun_only_when_it_is_written_heh() -> None:
    words = words_of("ضربه ضربة", [])
    assert words.heh == [True, False]
    assert "ضرب" in readings(words.words[0], real_heh=True)  # his blow
    assert "ضربت" not in readings(words.words[1], real_heh=False)


def test_an_ending_never_leaves_less_than_three_letters() -> None:
    found = readings(normalize_ar("بيتها"), real_heh=False)
    assert "بيت" in found and "بي" not in found  # بيت + ها, never بي + ت + ها


def test_keyword_parts_drop_the_article_of_each_word() -> None:
    assert keyword_parts("الانتخابات الرئاسية") == (("الانتخابات", "انتخابات"), ["رئاسيه"])
    assert keyword_parts("قصف") == (("قصف",), [])
    assert keyword_parts("...") is None


TEXT = st.lists(
    st.one_of(
        st.sampled_from(
            list("ابتثجحخدذرزسشصضطظعغفقكلمنهويءأإآىةئؤ_")
            + ["\u064e", "\u0651", "\u0640", "\u200c", "\ufefb", " ", "\n", "-", "،", "٣", "A", "é"]
        ),
        st.characters(exclude_categories=("Cs",)),  # input never holds a lone surrogate
    ),
    max_size=60,
).map("".join)


@settings(deadline=None)  # the first example loads the compiled split
@given(TEXT)
def test_words_are_the_regex_words(text: str) -> None:
    """The compiled word split gives ``\\w+`` of the normalized text, each word's start in
    the text as written, and whether its final ه is written ه."""
    norm, offsets = normalize_with_offsets(text)
    spans = [(m.start(), m.end(), m.group()) for m in WORD.finditer(norm)]
    tokens = tokenize(text)
    assert tokens.words == [w for _, _, w in spans]
    assert tokens.starts.tolist() == [offsets.index(s) for s, _, _ in spans]
    assert tokens.heh.tolist() == [
        w.endswith("\u0647") and text[offsets.index(e - 1)] == "\u0647" for _, e, w in spans
    ]


def _find_as_before(words: list[str], heh: list[bool], parts: KeywordParts) -> list[int]:
    """Where a keyword starts, read word by word as the matcher did before issue 15."""
    firsts, rest = parts
    return [
        i
        for i in range(len(words))
        if set(firsts) & readings(words[i], heh[i])
        and i + len(rest) < len(words)
        and all(w in readings(words[i + 1 + k], heh[i + 1 + k]) for k, w in enumerate(rest))
    ]


KEYWORDS = {
    k: p
    for k in (
        "هدنة",
        "وقف إطلاق النار",
        "التهدئة",
        "قصف",
        "النازحين",
        "الانتخابات الرئاسية",
        "سيطرة",
    )
    if (p := keyword_parts(k)) is not None
}
PIECES = ["هدنه", "هدنات", "وقف", "لإطلاق", "النار", "نار", "التهدئة", "قصفتها", "والقصف"]
PIECES += ["النازحون", "نازحين", "انتخابات", "الرئاسية", "سيطرته", "ضربه", "في", "و", "_"]


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(st.sampled_from(PIECES), max_size=20),
    separators=st.lists(st.sampled_from([" ", "، ", ". ", "\n", "ـ "]), min_size=20, max_size=20),
)
def test_vocabulary_finds_keywords_as_before(words: list[str], separators: list[str]) -> None:
    text = "".join(w + s for w, s in zip(words, separators, strict=False))
    tokens = tokenize(text)
    heh = tokens.heh.tolist()
    starts, keywords = found(VOCABULARY, text)
    assert starts == tokens.starts.tolist()
    expected = {k: _find_as_before(tokens.words, heh, p) for k, p in KEYWORDS.items()}
    assert keywords == {k: at for k, at in expected.items() if at}


def found(vocabulary: Vocabulary, text: str) -> tuple[list[int], dict[str, list[int]]]:
    """Where each word starts, and the words each keyword found starts at (in order)."""
    starts, keys, at = vocabulary.hits(text)
    keywords: dict[str, list[int]] = {}
    for k, i in zip(keys.tolist(), at.tolist(), strict=True):
        keywords.setdefault(vocabulary.names[k], []).append(i)
    return starts.tolist(), keywords


VOCABULARY = Vocabulary(KEYWORDS)


def test_the_word_table_grows_and_starts_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past its first size the table grows; past ``MAX_WORDS`` it starts again (memory
    stays bounded by it and one article's words), and every word still reads the same."""
    vocabulary = Vocabulary(KEYWORDS)
    first = vocabulary._table = _WordTable(slots=8)
    monkeypatch.setattr(Vocabulary, "MAX_WORDS", 300)
    for part in range(4):
        text = " ".join(f"{p}{n}" if n % 3 else p for n, p in enumerate(PIECES * 12, part * 300))
        tokens = tokenize(text)
        heh = tokens.heh.tolist()
        expected = {k: _find_as_before(tokens.words, heh, p) for k, p in KEYWORDS.items()}
        for _ in range(2):
            assert found(vocabulary, text)[1] == {k: at for k, at in expected.items() if at}
        assert vocabulary._table.size <= 300 + len(set(tokens.words))
    assert vocabulary._table is not first


def _read(text: str) -> Normalized:
    """A text as the tagger hands it on: as written, normalized, and where each came from."""
    _, offsets = normalize_with_offsets(text)
    return Normalized(offsets.original_codes, offsets.codes, offsets.sources)


def _masked(body: str, kept: list[tuple[int, int]]) -> str:
    return Cleaned(text="", spans=tuple(kept)).masked(body)


def _field_hits(title: str, body: str, kept: list[tuple[int, int]] | None) -> tuple[Any, ...]:
    rows = np.array(kept, dtype=np.int64).reshape(-1, 2) if kept is not None else None
    read = VOCABULARY.field_hits(
        _read(title) if title else None, _read(body) if body else None, rows
    )
    return tuple(array.tolist() for array in read)


def _hits(title: str, body: str, kept: list[tuple[int, int]] | None) -> tuple[Any, ...]:
    masked = _masked(body, kept) if kept is not None else body
    return tuple(
        array.tolist() for array in VOCABULARY.hits(f"{title}\n{masked}" if title else masked)
    )


@pytest.mark.parametrize(
    ("body", "kept"),
    [
        ("أعلنت الهدنة.\nتصوير: وقف إطلاق النار", [(0, 13)]),  # a dropped line's keyword
        ("هد(تصوير)نة", [(0, 2), (9, 11)]),  # dropped text between two halves of a word
        ("هدَنة", [(0, 2), (3, 5)]),  # only a diacritic dropped between them
        ("هدـنة", [(0, 2), (2, 3), (3, 5)]),  # rows that touch: one word
        ("وقفٌ لإطلاق النار", [(0, 3), (4, 17)]),  # the tanween dropped: still a word apart
    ],
)
def test_field_hits_read_the_masked_body(body: str, kept: list[tuple[int, int]]) -> None:
    """The keywords of ``title + "\\n" + masked body``, from the fields normalized once:
    text dropped between two kept rows parts words as the blanks of the masked body do."""
    for title in ("", "هدنة في حلب"):
        assert _field_hits(title, body, kept) == _hits(title, body, kept)


@settings(max_examples=300, deadline=None)
@given(
    title=TEXT,
    body=TEXT,
    cuts=st.lists(st.integers(0, 60), max_size=8),
    masked=st.booleans(),
)
def test_field_hits_are_the_hits_of_the_masked_text(
    title: str, body: str, cuts: list[int], masked: bool
) -> None:
    """Any title and body (diacritics, tatweel, presentation forms), any kept rows (in
    order, touching or not, cutting words and marks from their letters)."""
    bounds = sorted({min(c, len(body)) for c in cuts})
    kept = [(a, b) for a, b in zip(bounds[::2], bounds[1::2], strict=False) if a < b]
    if not body:
        kept = []
    assert _field_hits(title, body, kept if masked else None) == _hits(
        title, body, kept if masked else None
    )
