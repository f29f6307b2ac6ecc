"""Word forms: the readings a text word gives a keyword lookup."""

from __future__ import annotations

import pytest

from processors.normalize import normalize_ar
from processors.wordforms import keyword_parts, readings, words_of


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
