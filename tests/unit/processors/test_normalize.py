"""Normalization folds spelling variants and always maps back to the text as written."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from processors.normalize import normalize_ar, normalize_with_offsets


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
