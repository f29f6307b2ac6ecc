"""The tagger beyond single sentences: fields, context, cleaning, config, properties."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.clean import clean_body
from processors.tagger import Tagger
from processors.watchlist import load_watchlist
from raqib.exceptions import ConfigError


@pytest.fixture(scope="module")
def tagger(small_tagger: Tagger) -> Tagger:
    return small_tagger


def test_mentions_carry_the_watchlist_data(tagger: Tagger) -> None:
    (m,) = tagger.tag_text("Iran")
    assert (m.type, m.name, m.name_en, m.wikidata, m.field) == (
        "GPE",
        "إيران",
        "Iran",
        "Q794",
        "body",
    )


def test_title_and_body_offsets_index_their_own_field(tagger: Tagger) -> None:
    found = tagger.tag(title="حلب اليوم", body="قالت إيران إنها سترد.")
    assert [(m.id, m.field, m.start) for m in found] == [
        ("aleppo", "title", 0),
        ("iran", "body", 5),
    ]


def test_ambiguous_alias_counts_with_a_strong_mention_in_the_title(tagger: Tagger) -> None:
    found = tagger.tag(title="بشار الأسد يستقبل وفدا", body="وقال الأسد للوفد كلاما.")
    assert [m.id for m in found] == ["bashar-al-assad", "bashar-al-assad"]


def test_cleaned_out_text_yields_nothing(tagger: Tagger) -> None:
    body = "قالت إيران إنها سترد على الهجوم.\nانظر ايضاً\nحلب تحت القصف منذ الصباح الباكر"
    found = tagger.tag(body=body, cleaned=clean_body(body))
    assert [m.id for m in found] == ["iran"]


def test_an_alias_claimed_by_two_entities_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "wl.yaml"
    path.write_text(
        "entities:\n"
        "  - {id: a, type: PER, names: {ar: الأسد, en: A}}\n"
        "  - {id: b, type: PER, names: {ar: الاسد, en: B}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="'الاسد' is already a name of 'a'") as err:
        load_watchlist(path)
    assert err.value.path == str(path) and err.value.line == 3


def test_an_exclude_that_is_another_entitys_name_is_a_config_error(tmp_path: Path) -> None:
    # excluding ميشال عون from Joseph Aoun would silently hide Michel Aoun, if he is watched
    path = tmp_path / "wl.yaml"
    path.write_text(
        "entities:\n"
        "  - {id: michel-aoun, type: PER, names: {ar: ميشال عون, en: Michel Aoun}}\n"
        "  - {id: joseph-aoun, type: PER, names: {ar: جوزاف عون, en: Joseph Aoun},\n"
        "     ambiguous: [عون], cues: [الرئيس], excludes: [ميشال عون]}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="already a name of 'michel-aoun'") as err:
        load_watchlist(path)
    assert err.value.path == str(path) and err.value.line == 4  # the excludes line


def test_a_malformed_tag_is_a_config_error_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "wl.yaml"
    path.write_text(
        "entities:\n"
        "  - id: tasnim\n"
        "    type: ORG\n"
        "    names: {ar: وكالة تسنيم, en: Tasnim}\n"
        "    tags: [Media Outlet]\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as err:
        load_watchlist(path)
    assert err.value.line == 5 and "tags" in str(err.value)


NAMES = ["إيران", "حلب", "دير الزور", "الحرس الثوري", "قاسم سليماني", "المرصد السوري لحقوق الإنسان"]
IDS = ["iran", "aleppo", "deir-ez-zor", "irgc", "qasem-soleimani", "sohr"]
DIACRITICS = st.sampled_from(
    ["", "\u064e", "\u064f", "\u0650", "\u0651", "\u0652", "\u064b", "\u0640"]
)


@settings(max_examples=200, deadline=None)
@given(
    index=st.integers(0, len(NAMES) - 1),
    marks=st.lists(DIACRITICS, min_size=40, max_size=40),
    prefix=st.sampled_from(["", "و", "ف", "ب", "وب", "ك"]),
)
def test_decorating_a_name_never_loses_it(
    tagger: Tagger, index: int, marks: list[str], prefix: str
) -> None:
    name = NAMES[index]
    decorated = "".join(ch + (marks[i] if ch != " " else "") for i, ch in enumerate(name))
    text = f"قال مسؤول إن {prefix}{decorated} في خطر."
    found = tagger.tag_text(text)
    assert [m.id for m in found] == [IDS[index]]
    (m,) = found
    assert text[m.start : m.end] == m.surface
    assert not m.surface.startswith(prefix) or prefix == ""


@settings(max_examples=100, deadline=None)
@given(breaks=st.lists(st.sampled_from([" ", "\n", "  ", " \n ", "\r\n"]), min_size=3, max_size=3))
def test_line_breaks_inside_a_name_do_not_matter(tagger: Tagger, breaks: list[str]) -> None:
    text = f"وقال المرصد{breaks[0]}السوري{breaks[1]}لحقوق{breaks[2]}الإنسان إن"
    assert [m.id for m in tagger.tag_text(text)] == ["sohr"]
