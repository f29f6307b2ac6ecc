"""Topics: boolean combinations of entities and keywords, with proclitics and distance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.conditions import within
from processors.tagger import Tagger
from processors.topics import TopicMatcher, load_topics
from processors.watchlist import load_watchlist
from raqib.exceptions import ConfigError

DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.fixture(scope="module")
def matcher() -> TopicMatcher:
    watchlist = load_watchlist(DATA / "watchlist_small.yaml")
    return TopicMatcher(load_topics(DATA / "topics_small.yaml", watchlist))


def topics(matcher: TopicMatcher, small_tagger: Tagger, body: str, title: str = "") -> list[str]:
    entities = small_tagger.tag(title=title, body=body)
    return [t.id for t in matcher.match(title=title, body=body, entities=entities)]


@pytest.mark.parametrize(
    "body",
    [
        "دخلت الهدنة حيز التنفيذ صباح اليوم.",
        "وأكد الطرفان التزامهما بالهدنة الإنسانية.",
        "تم الاتفاق على وقف إطلاق النار في إدلب.",
        "دعت موسكو إلى وقفِ إطلاقِ النار فورا.",
        "The ceasefire held overnight.",
        "هدنتهم طويلة هذه المرة.",  # their truce: a pronoun suffix
        "خرقوا هدنتين خلال شهر.",  # two truces: the dual
        "انهارت الهدنات السابقة كلها.",  # the plural
    ],
)
def test_keywords_match_with_clitics_article_suffixes_and_diacritics(
    matcher: TopicMatcher, small_tagger: Tagger, body: str
) -> None:
    assert topics(matcher, small_tagger, body) == ["truce"]


def test_a_keyword_inside_another_word_does_not_match(
    matcher: TopicMatcher, small_tagger: Tagger
) -> None:
    # مهادنة "appeasement" holds the letters of هدنة but is another word
    assert topics(matcher, small_tagger, "رفض سياسة المهادنة مع الخصوم.") == []
    assert topics(matcher, small_tagger, "اشتدت المهادنات بين الطرفين.") == []


def test_feminine_and_pronoun_forms_read_as_the_stem(
    matcher: TopicMatcher, small_tagger: Tagger
) -> None:
    assert topics(matcher, small_tagger, "وقعت قصفة في حلب.") == ["fighting-in-aleppo"]
    assert topics(matcher, small_tagger, "استمر قصفه على حلب.") == ["fighting-in-aleppo"]
    assert topics(matcher, small_tagger, "قصفتها الطائرات في حلب.") == ["fighting-in-aleppo"]


def test_later_words_of_a_keyword_take_their_forms_too(
    matcher: TopicMatcher, small_tagger: Tagger
) -> None:
    # وقف إطلاق النار: the later words with a proclitic, the article or without it
    assert topics(matcher, small_tagger, "أعلنوا وقفاً لإطلاق النار.") == ["truce"]
    assert topics(matcher, small_tagger, "طالبوا بوقف إطلاق نار فوري.") == ["truce"]
    assert topics(matcher, small_tagger, "أعلن وقف إطلاق الصواريخ.") == []  # another word


def test_a_future_verb_reads_as_its_present(matcher: TopicMatcher, small_tagger: Tagger) -> None:
    assert topics(matcher, small_tagger, "ستقصف الطائرات حلب.") == []  # تقصف is not a keyword
    assert topics(matcher, small_tagger, "سيستمر القصف على حلب.") == ["fighting-in-aleppo"]


def test_all_entities_within_a_distance(matcher: TopicMatcher, small_tagger: Tagger) -> None:
    near = "نشرت إيران ميليشيات في شرق سوريا خلال الأشهر الماضية."
    far = (
        "قالت إيران إنها مستعدة للحوار مع جيرانها في المنطقة وإن الاقتصاد يتعافى وإن "
        "الانتخابات المقبلة ستجري في موعدها المحدد دون تأخير ثم تحدث الوزير عن قوات "
        "حفظ السلام الدولية وعن مشاريع الطاقة وعن الزراعة والمياه في سوريا."
    )
    assert topics(matcher, small_tagger, near) == ["iran-in-syria"]
    assert topics(matcher, small_tagger, far) == []


def test_an_entity_can_stand_in_for_a_keyword(matcher: TopicMatcher, small_tagger: Tagger) -> None:
    body = "يتمركز الحرس الثوري الإيراني قرب دمشق في سوريا."
    assert topics(matcher, small_tagger, body) == ["iran-in-syria"]


def test_none_excludes_a_football_match(matcher: TopicMatcher, small_tagger: Tagger) -> None:
    assert topics(matcher, small_tagger, "تجددت الاشتباكات في ريف حلب الجنوبي.") == [
        "fighting-in-aleppo"
    ]
    assert topics(matcher, small_tagger, "هجوم مرتد يحسم مباراة حلب وحمص في الدوري.") == []


def test_title_only_topic(matcher: TopicMatcher, small_tagger: Tagger) -> None:
    body = "وقعت دولة قطر اتفاقا للتعاون الاقتصادي مع شركائها."
    assert topics(matcher, small_tagger, body) == []
    assert topics(matcher, small_tagger, body, title="دولة قطر توقع اتفاقا") == ["qatar-headline"]


def test_evidence_names_what_matched(matcher: TopicMatcher, small_tagger: Tagger) -> None:
    body = "نشرت إيران ميليشيات في شرق سوريا."
    entities = small_tagger.tag(body=body)
    (found,) = matcher.match(title="", body=body, entities=entities)
    # ميليشيات is ميليشيا + ت (the plural's ending) too: both keywords name the evidence
    assert found.evidence == ["entity:iran", "entity:syria", "ميليشيا", "ميليشيات"]


def test_unknown_entity_is_a_config_error_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "topics.yaml"
    path.write_text(
        "topics:\n  - id: t1\n    names: {ar: أ, en: A}\n    match: {entity: atlantis}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="atlantis") as err:
        load_topics(path, load_watchlist(DATA / "watchlist_small.yaml"))
    assert err.value.line == 4


def test_unknown_condition_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "topics.yaml"
    path.write_text(
        "topics:\n  - id: t1\n    names: {ar: أ, en: A}\n    match: {every: []}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as err:
        load_topics(path)
    assert err.value.line == 4


PROCLITICS = ["", "و", "ف", "ب", "ل", "وب", "ول", "فب"]
ARTICLES = ["ال", "وال", "بال", "لل", "ولل"]  # ل + ال is written لل
KEYWORD_FORMS = st.one_of(
    st.tuples(st.sampled_from(PROCLITICS + ARTICLES), st.sampled_from(["هدنة", "هدنتين", "هدنات"])),
    st.tuples(st.sampled_from(PROCLITICS), st.sampled_from(["هدنتهم", "هدنتها", "هدنتنا"])),
)


@settings(max_examples=150, deadline=None)
@given(
    form=KEYWORD_FORMS,
    marks=st.lists(
        st.sampled_from(["", "\u064e", "\u064f", "\u0651", "\u0640"]), min_size=9, max_size=9
    ),
)
def test_decorating_a_keyword_never_loses_its_topic(
    matcher: TopicMatcher, small_tagger: Tagger, form: tuple[str, str], marks: list[str]
) -> None:
    """Proclitics, the article, a suffix, diacritics and tatweel: still the keyword هدنة."""
    word = "".join(ch + marks[i] for i, ch in enumerate("".join(form)))
    assert topics(matcher, small_tagger, f"قال المتحدث إن {word} صامدة حتى الآن.") == ["truce"]


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 200), min_size=1, max_size=8), min_size=1, max_size=5),
    st.integers(1, 80),
)
def test_within_is_one_position_of_each_group_in_a_window(
    groups: list[list[int]], span: int
) -> None:
    """The sliding window says what its definition says: some window [a, a + span] holds a
    position of every group."""
    starts = {p for positions in groups for p in positions}
    expected = any(all(any(a <= p <= a + span for p in g) for g in groups) for a in starts)
    bounds = np.cumsum([0, *map(len, groups)], dtype=np.int64)
    positions = np.array([p for g in groups for p in g], dtype=np.int64)
    assert within(positions, bounds, span) == expected
