"""Cleaning keeps the article's paragraphs and drops the chrome the seeds carry."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from processors import clean
from processors.clean import clean_body
from processors.normalize import normalize_ar

SEEDS = Path(__file__).resolve().parents[3] / "seeds"


def seed(prefix: str) -> str:
    (path,) = SEEDS.glob(f"{prefix}_*.txt")
    return path.read_text(encoding="utf-8")


def kept_and_dropped(prefix: str, title: str = "", source: str = "") -> tuple[str, str]:
    body = seed(prefix)
    cleaned = clean_body(body, title=title, source=source)
    dropped = [
        line for line in body.splitlines() if line.strip() and line.strip() not in cleaned.text
    ]
    return cleaned.text, "\n".join(dropped)


def test_spans_slice_the_original_body() -> None:
    body = seed("002")
    cleaned = clean_body(body)
    assert cleaned.text == "\n".join(body[s:e] for s, e in cleaned.spans)
    assert all(body[s:e] == body[s:e].strip() for s, e in cleaned.spans)


def test_headline_ticker_and_byline_are_dropped() -> None:
    text, dropped = kept_and_dropped(
        "000", title="تحرك إيراني خطير في حلب.. ما القصة؟", source="وكالة ثقة"
    )
    assert "والحوثيينحزب الله" in dropped  # the run of glued headlines above the title
    assert "وكالة ثقة" in dropped
    assert "Back to top button" in dropped
    assert text.startswith("بدأ التوسع الإيراني في مدينة حلب")


def test_ticker_is_dropped_even_without_a_title() -> None:
    _, dropped = kept_and_dropped("000")
    assert "عقوبات أمريكية على 26 شركة" in dropped


def test_ad_marker_source_link_and_comment_counter() -> None:
    text, dropped = kept_and_dropped("001")
    for chrome in ("[إعلان 2]", "المصدر: https://www.congluan.vn", "تعليق (0)"):
        assert chrome in dropped
    assert "التقى وزير الخارجية الإيراني عباس عراقجي" in text
    # the byline with its agency says who wrote it, not what it is about (the outlet is
    # counted as source:...); so is the photo credit closing a caption
    assert "نغوك آنه (بحسب وكالة فرانس برس)" in dropped
    assert "تصوير: وكالة فرانس برس" not in text
    assert "جنوب غرب حلب، في الأول من ديسمبر/كانون الأول." in text


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        ("عناصر من الحرس الثوري قرب حلب (تصوير: رويترز)", "عناصر من الحرس الثوري قرب حلب"),
        ("Fighters near Idlib, 2024. Photo credit: Reuters", "Fighters near Idlib, 2024."),
        # a caption that only starts with the word is the caption, not a credit
        ("تصوير: مقاتلون من المعارضة في حلب", "تصوير: مقاتلون من المعارضة في حلب"),
        ("قال الوزير: إن الاتفاق صامد في إدلب.", "قال الوزير: إن الاتفاق صامد في إدلب."),
    ],
)
def test_a_photo_credit_closing_a_caption_is_cut(line: str, kept: str) -> None:
    body = f"فقرة أولى من نص الخبر هنا.\n{line}\nفقرة أخيرة من نص الخبر."
    cleaned = clean_body(body)
    assert cleaned.text.splitlines()[1] == kept
    assert cleaned.text == "\n".join(body[s:e] for s, e in cleaned.spans)


def test_an_attribution_inside_a_sentence_is_kept() -> None:
    body = "قال الوزير في دمشق (بحسب وكالة سانا) إن الاجتماع كان مثمراً.\nسامر علي (عن رويترز)"
    cleaned = clean_body(body)
    assert cleaned.text == "قال الوزير في دمشق (بحسب وكالة سانا) إن الاجتماع كان مثمراً."


def test_comment_prompt_and_back_to_top_in_arabic() -> None:
    text, dropped = kept_and_dropped("002")
    assert "اترك تعليقاً" in dropped and "زر الذهاب إلى الأعلى" in dropped
    assert "حركة نور الدين الزنكي" in text


def test_breadcrumb_author_and_teaser_of_another_article() -> None:
    title = "صحيفة : الخلافات بين نظام الأسد والأذرع الإيرانية في سوريا بدأت تظهر على السطح .."
    text, dropped = kept_and_dropped("003", title=title)
    assert "الرئيسية / سياسة" in dropped
    assert "عن نزار سمير" in dropped
    assert "أردوغان" not in text  # the teaser under "انظر ايضاً" is another article
    assert "لن يتم نشر عنوان بريدك الإلكتروني" in dropped
    assert "وكان وزير الدفاع الإيراني أمير حاتمي" in text


def test_masthead_and_related_news_block() -> None:
    title = (
        "المعارضة السورية: إيران هجرت أعدادًا كبيرة من دمشق وريفها وتم استبدالهم بجماعات موالية لها"
    )
    text, dropped = kept_and_dropped("004", title=title, source="الأمصار")
    assert "رئيس مجلس الإدارة" in dropped and "د. رائد العزاوي" in dropped
    assert "جيمس جيفري" not in text  # under "أخبار أخرى.." : teasers of other articles
    assert "بومبيو" not in text
    assert "صيغة أستانا" in text


@pytest.mark.parametrize(
    "line",
    ["اترك تعليقا", "أضف تعليق", "Back to top", "[إعلان]", "شارك", "انظر أيضا:"],
)
def test_chrome_variants(line: str) -> None:
    body = f"قالت وزارة الخارجية الإيرانية إن قنصليتها في حلب تعرضت للهجوم.\n{line}\nذيل"
    assert line not in clean_body(body).text


def test_real_short_paragraph_survives() -> None:
    body = "قصفت الطائرات الروسية ريف إدلب الجنوبي فجر اليوم."
    assert clean_body(body).text == body


def test_the_masthead_and_its_holder_are_dropped() -> None:
    text, dropped = kept_and_dropped("004")
    assert "رئيس مجلس الإدارة" in dropped and "د. رائد العزاوي" in dropped
    assert text.startswith("المعارضة السورية: إيران هجرت")
    body = "رئيس التحرير\n\nقال رئيس التحرير في مقاله إن دمشق تستعد لزيارة.\nنص"
    assert clean_body(body).text == "قال رئيس التحرير في مقاله إن دمشق تستعد لزيارة."


@pytest.mark.parametrize(
    ("body", "kept"),
    [
        ("طهران (إرنا) – قال المتحدث إن بلاده سترد.", ["طهران", "– قال المتحدث إن بلاده سترد."]),
        ("دمشق (أ ف ب) - أعلنت الوزارة عن تدريبات.", ["دمشق", "- أعلنت الوزارة عن تدريبات."]),
        # an aside that is not a dateline: no dash after it
        (
            "قال الوزير (بحسب سانا) إن الاجتماع كان مثمراً.",
            ["قال الوزير (بحسب سانا) إن الاجتماع كان مثمراً."],
        ),
    ],
)
def test_a_dateline_credit_is_cut_and_its_city_kept(body: str, kept: list[str]) -> None:
    cleaned = clean_body(body)
    assert [body[s:e] for s, e in cleaned.spans] == kept


def test_only_the_opening_dateline_is_a_credit() -> None:
    body = "فقرة أولى من نص الخبر هنا.\nطهران (إرنا) – قال المتحدث إن بلاده سترد."
    assert clean_body(body).text == body


CHROME = [
    "back to top",
    "زر الذهاب الي الاعلي",
    "اترك تعليقا",
    "لن يتم نشر عنوان بريدك الالكتروني",
    "تعليق (12)",
    "[اعلان 3]",
    "المصدر: https://x.example",
    "الرئيسيه / سياسه",
    "بقلم احمد علي",
    "نغوك انه (بحسب وكاله فرانس برس)",
    "x (عن رويترز)",
    "طباعه",
    "انظر ايضا",
    "اخبار ذات صله:",
    "Read more",
    "related news",
    "رئيس التحرير",
]
PIECES = [*CHROME, " ", "  ", ")", "(", ".", "،", "قال", "الوزير", "x", "\u3000", ":"]


@given(st.lists(st.sampled_from(PIECES), max_size=6).map("".join))
def test_one_search_per_line_finds_what_each_pattern_finds(line: str) -> None:
    norm = normalize_ar(line).strip()  # as clean_body reads a line
    assert bool(clean._TEASER_RE.search(norm)) == any(p.search(norm) for p in clean.TEASER_MARKERS)
    alone = [*clean.BOILERPLATE_LINES, clean.AGENCY_BYLINE]
    assert clean._is_chrome(norm) == (clean._is_ticker(norm) or any(p.search(norm) for p in alone))
    if norm:
        assert clean._words(norm) == len(norm.split())


@given(
    st.text(alphabet="ab \n\u064e", max_size=30),
    st.lists(st.tuples(st.integers(0, 30), st.integers(0, 30)), max_size=4),
)
def test_masked_blanks_out_what_is_not_kept(body: str, spans: list[tuple[int, int]]) -> None:
    kept = []
    at = 0
    for a, b in sorted((min(a, b), max(a, b)) for a, b in spans):
        a, b = max(a, at), min(b, len(body))
        if a < b:
            kept.append((a, b))
            at = b
    out = [" "] * len(body)
    for s, e in kept:
        out[s:e] = body[s:e]
    assert clean.Cleaned("", tuple(kept)).masked(body) == "".join(out)


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        ("صورةٌ لعناصر الحرس الثوري قرب حلب. PHOTO: رويترز", "صورةٌ لعناصر الحرس الثوري قرب حلب."),
        ("جنود روس في ريف اللاذقية. CREDIT：وكالة سانا", "جنود روس في ريف اللاذقية."),
        ("وفد إيراني في دمشق (Photograph: AFP)", "وفد إيراني في دمشق"),
        ("مقاتلون قرب إدلب، أمس. Picture Credit: رويترز", "مقاتلون قرب إدلب، أمس."),
        # a colon without a credit: the line's quote stays whole
        ("وقال المتحدث: إن القصف طال ريف حلب.", "وقال المتحدث: إن القصف طال ريف حلب."),
    ],
)
def test_a_credit_in_any_case_is_still_cut_after_the_hint_test(line: str, kept: str) -> None:
    body = f"فقرة أولى من نص الخبر هنا.\n{line}\nفقرة أخيرة من نص الخبر."
    assert clean_body(body).text.splitlines()[1] == kept


def test_ignoring_case_only_the_hints_match_the_first_letter_of_a_latin_credit() -> None:
    """Why :data:`clean.CREDIT_HINTS` may gate the credit's search: a match holds تصوير or
    a Latin credit word, which starts with p or c; ignoring case, as the pattern does, no
    other character matches those two."""
    for letter in "pc":
        pattern = re.compile(letter, re.IGNORECASE)
        matching = [ch for ch in map(chr, range(0x110000)) if pattern.fullmatch(ch)]
        assert matching == [letter.upper(), letter]
        assert set(matching) <= set(clean.CREDIT_HINTS)
    assert "تصوير" in clean.CREDIT_HINTS
