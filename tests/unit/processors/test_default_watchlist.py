"""The shipped watchlist, on sentences in the style of the seeds.

The per-phenomenon files check the tagger's mechanics on a small watchlist; this file checks
the data operators actually run: its coverage of the theatre, and that its ambiguous aliases
stay quiet in everyday Arabic and speak up in the news.
"""

from __future__ import annotations

from collections import Counter

import pytest

from processors.tagger import Tagger
from processors.watchlist import Watchlist, load_watchlist


@pytest.fixture(scope="module")
def watchlist() -> Watchlist:
    return load_watchlist()


@pytest.fixture(scope="module")
def tagger(watchlist: Watchlist) -> Tagger:
    return Tagger(watchlist)


def ids(tagger: Tagger, text: str) -> list[str]:
    return [m.id for m in tagger.tag_text(text)]


def test_it_covers_the_theatre(watchlist: Watchlist) -> None:
    entities = watchlist.entities
    assert len(entities) >= 150
    types = Counter(e.type for e in entities)
    assert set(types) == {"PER", "ORG", "GPE", "LOC", "FAC"}
    assert min(types.values()) >= 5
    qids = [e.wikidata for e in entities if e.wikidata]
    assert len(qids) == len(set(qids)), "one Wikidata item names one entity"
    by_id = {e.id: e for e in entities}
    for actor in (
        "iran", "syria", "iraq", "lebanon", "yemen", "turkey", "russia", "united-states",
        "israel", "saudi-arabia", "qatar", "bashar-al-assad", "ahmed-al-sharaa", "ali-khamenei",
        "irgc", "quds-force", "hezbollah", "houthis", "hts", "sdf", "isis", "hamas",
        "jabhat-al-nusra", "aleppo", "idlib", "damascus", "deir-ez-zor", "al-hol",
    ):  # fmt: skip
        assert actor in by_id, actor


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("أكد المسؤول الإيراني أن الحكومة الإيرانية لن تتراجع.", ["iran", "iran"]),
        ("قال الإيرانيون إن المستشارين الإيرانيين باقون.", ["iran", "iran"]),
        ("The Iranian delegation met Syrian officials.", ["iran", "syria"]),
        ("رحب السوريون بعودة اللاجئين السوريين.", ["syria", "syria"]),
        ("أعلن الجيش التركي أن الطائرات الروسية قصفت المنطقة.", ["turkey", "russia"]),
        ("قال الدبلوماسي الأمريكي إن الموقف العراقي واضح.", ["united-states", "iraq"]),
        ("وصل الوفد القطري إلى العاصمة اللبنانية.", ["qatar", "beirut"]),
    ],
)
def test_adjective_forms_count_as_their_country(
    tagger: Tagger, text: str, expected: list[str]
) -> None:
    assert ids(tagger, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        # the lion, the crowd's enthusiasm, a pipe's diameter, hope, wit, a teacher, a chest,
        # help, a prayer of support: ordinary words that are also watched names
        "هرب الأسد من قفصه في حديقة الحيوان وأثار الذعر بين الزوار.",
        "استقبل الجمهور اللاعبين بحماس كبير في الملعب، وكان حماس المشجعين واضحا.",
        "يبلغ قطر الأنبوب عشرة سنتيمترات، ويجب قياس قطر الدائرة بدقة.",
        "أعرب المدرب عن أمل في الفوز بالمباراة المقبلة.",
        "كان ضيف البرنامج ظريف الطبع وخفيف الظل.",
        "شرح المعلم الدرس للتلاميذ في الصف الخامس.",
        "شعر المريض بألم في الصدر ونقل إلى المستشفى.",
        "طلب عون جيرانه لإصلاح السقف بعد العاصفة.",
        "دعا الخطيب إلى النصرة والتكافل بين الناس.",
        "قطع عباس الطريق إلى السوق صباحا.",
    ],
)
def test_ordinary_words_tag_nothing(tagger: Tagger, text: str) -> None:
    assert ids(tagger, text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("قال رأس النظام الأسد في خطاب متلفز إن الحرب انتهت.", ["bashar-al-assad"]),
        ("رفضت حماس المقترح الإسرائيلي الجديد لوقف النار في غزة.", ["hamas", "israel", "gaza"]),
        ("قال أمير قطر إن الوساطة مستمرة.", ["tamim-bin-hamad"]),
        ("أعلنت مقتل عناصر من النصرة في ريف إدلب.", ["jabhat-al-nusra", "idlib"]),
        ("استقبل الوزير ظريف نظيره السوري في طهران.", ["mohammad-javad-zarif", "syria", "tehran"]),
        ("قال الرئيس عون إن لبنان لن يكون ساحة لحروب الآخرين.", ["joseph-aoun", "lebanon"]),
        ("حصل تنسيق بين الثنائي الشيعي: حزب الله وأمل.", ["hezbollah", "amal-movement"]),
        ("أكد نبيه بري أن أمل لن تشارك في الحكومة.", ["nabih-berri", "amal-movement"]),
    ],
)
def test_ambiguous_names_with_their_cues(tagger: Tagger, text: str, expected: list[str]) -> None:
    assert ids(tagger, text) == expected


def test_a_city_and_the_surname_inside_it_are_told_apart(tagger: Tagger) -> None:
    text = "وصل الوفد إلى السليمانية بعد عام على اغتيال سليماني."
    assert ids(tagger, text) == ["sulaymaniyah", "qassem-soleimani"]


def test_hope_beside_hezbollah_is_still_hope(tagger: Tagger) -> None:
    text = "أعرب حزب الله عن أمل في أن تلتزم إسرائيل بوقف إطلاق النار."
    assert ids(tagger, text) == ["hezbollah", "israel"]
