"""Normalization folds spelling variants and always maps back to the text as written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.normalize import (
    CACHE_DIR_ENV,
    CACHE_KEEP,
    alnum_table,
    cached_arrays,
    normalize_ar,
    normalize_lines,
    normalize_with_offsets,
)


def test_diacritics_and_tatweel_are_removed() -> None:
    assert normalize_ar("إِيـــرانُ") == "ايران"
    assert normalize_ar("سوريةً") == "سوريه"


def test_alef_hamza_maqsura_teh_marbuta_fold() -> None:
    assert normalize_ar("أإآٱ") == "اااا"
    assert normalize_ar("موسى") == "موسي"
    assert normalize_ar("الجمهورية") == "الجمهوريه"


def test_persian_letters_fold_to_arabic() -> None:
    # ی (FARSI YEH) and ک (KEHEH), as typed on a Persian keyboard
    assert normalize_ar("ایران") == normalize_ar("ايران")
    assert normalize_ar("کرمان") == "كرمان"
    assert normalize_ar("ہ") == "ه"
    # چ پ ژ گ in names quoted from Persian: Arabic writes ج ب ز ك
    assert normalize_ar("عراقچی") == normalize_ar("عراقجي")
    assert normalize_ar("پزشکیان") == normalize_ar("بزشكيان")
    assert normalize_ar("گیلان ژاله") == "كيلان زاله"


def test_digits_quotes_dashes_spaces() -> None:
    assert normalize_ar("عام ٢٠١١ و۱۴۰۳") == "عام 2011 و1403"
    assert normalize_ar("“قسد” «داعش»") == '"قسد" "داعش"'
    assert normalize_ar("al-Assad — Hezbollah") == "al assad hezbollah"
    assert normalize_ar("بشار\n\n  الأسد") == "بشار الاسد"


def test_invisible_controls_are_removed() -> None:
    assert normalize_ar("إي\u200cران\u200f") == "ايران"
    assert normalize_ar("\ufeffحلب\u061c") == "حلب"


def test_presentation_forms_fold() -> None:
    # ﻻ (LAM WITH ALEF ISOLATED FORM) is two letters
    assert normalize_ar("\ufefb") == "لا"
    norm, offsets = normalize_with_offsets("x\ufefby")
    assert norm == "xلاy"
    assert offsets.index(2) == 1 and offsets.index(3) == 2


def test_offsets_slice_back_to_the_original() -> None:
    text = "قال وزيرُ الخارجيـة  الإيرانيّ\nمحمد جواد ظريف"
    norm, offsets = normalize_with_offsets(text)
    start = norm.index("الايراني")
    s, e = offsets.span(start, start + len("الايراني"))
    assert text[s:e] == "الإيرانيّ"  # the shadda after the last letter stays in the surface


ARABIC = st.sampled_from(
    list("ابتثجحخدذرزسشصضطظعغفقكلمنهويءأإآىةئؤ")
    + ["\u064e", "\u064f", "\u0650", "\u0651", "\u0652", "\u064b", "\u0640", "\u200c", "\u200f"]
    + [" ", "  ", "\n", "\u00a0", "ی", "ک", "A", "z", "-", "“", "٣", "\ufefb"]
)


@given(st.lists(ARABIC, max_size=60).map("".join))
def test_every_normalized_char_maps_to_its_source(text: str) -> None:
    norm, offsets = normalize_with_offsets(text)
    assert norm == normalize_ar(text)
    for i, ch in enumerate(norm):
        source = text[offsets.index(i)]
        assert ch in normalize_ar(source) or (ch == " " and source.isspace())


@given(st.lists(ARABIC, min_size=1, max_size=40).map("".join))
def test_spans_are_monotone_and_inside_the_text(text: str) -> None:
    norm, offsets = normalize_with_offsets(text)
    previous = -1
    for i in range(len(norm)):
        s, e = offsets.span(i, i + 1)
        assert 0 <= s < e <= len(text)
        assert s >= previous  # equal only inside a ligature such as ﻻ
        previous = s


LINE_BREAKS = [
    "\n",
    "\r",
    "\r\n",
    "\x0b",
    "\x0c",
    "\x1c",
    "\x1d",
    "\x1e",
    "\x85",
    "\u2028",
    "\u2029",
]


@settings(deadline=None)  # the first example loads the compiled pass
@given(st.lists(st.one_of(ARABIC, st.sampled_from(LINE_BREAKS)), max_size=40).map("".join))
def test_lines_normalize_as_each_line_alone(text: str) -> None:
    """One pass over the text gives what normalizing each line of ``splitlines`` gives."""
    spans = []
    start = 0
    for line in text.splitlines(keepends=True):
        content = line.rstrip("".join(LINE_BREAKS))
        spans.append((start, start + len(content)))
        start += len(line)
    assert normalize_lines(text) == ([normalize_ar(text[s:e]) for s, e in spans], spans)


def test_alnum_table_is_str_isalnum() -> None:
    table = alnum_table()
    flags = np.fromiter(map(str.isalnum, map(chr, range(len(table)))), dtype=np.bool_)
    assert len(table) == 0x110000 and (table == flags).all()


def test_cached_arrays_are_built_once_then_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    builds: list[str] = []

    def build(key: str) -> Callable[[], dict[str, np.ndarray]]:
        return lambda: builds.append(key) or {"a": np.arange(5)}  # type: ignore[func-returns-value]

    def valid(a: dict[str, np.ndarray]) -> bool:
        return a["a"].shape == (5,)

    first = cached_arrays("t", "k1", build("k1"), valid)
    again = cached_arrays("t", "k1", build("k1"), valid)
    other = cached_arrays("t", "k2", build("k2"), valid)  # another key: another file
    assert builds == ["k1", "k2"] and len(list(tmp_path.iterdir())) == 2
    assert (first["a"] == again["a"]).all() and (other["a"] == first["a"]).all()
    for damage in (b"", b"PK\x03\x04 not a zip", b"garbage" * 100):
        for path in tmp_path.iterdir():
            path.write_bytes(damage)
        assert (cached_arrays("t", "k1", build("k1"), valid)["a"] == np.arange(5)).all()
    assert cached_arrays("t", "k1", build("k1"), lambda a: False)["a"].shape == (5,)
    assert builds == ["k1", "k2", "k1", "k1", "k1", "k1"]


def test_no_cache_directory_builds_every_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, "")
    built = cached_arrays("t", "k", lambda: {"a": np.zeros(2)}, lambda a: True)
    assert built["a"].shape == (2,)


def test_an_unwritable_cache_directory_still_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory", encoding="utf-8")
    monkeypatch.setenv(CACHE_DIR_ENV, str(blocked / "raqib"))
    built = cached_arrays("t", "k", lambda: {"a": np.ones(3)}, lambda a: True)
    assert built["a"].sum() == 3


def test_the_cache_keeps_the_newest_files_of_a_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    for key in range(CACHE_KEEP + 3):
        cached_arrays("t", str(key), lambda: {"a": np.zeros(1)}, lambda a: True)
    cached_arrays("other", "k", lambda: {"a": np.zeros(1)}, lambda a: True)
    assert len(list(tmp_path.glob("t-*.npz"))) == CACHE_KEEP
    assert len(list(tmp_path.glob("other-*.npz"))) == 1
    assert not list(tmp_path.glob("*.tmp"))
