"""Tagging: the sentence an ambiguous alias is judged in ends at . ! ? ؟ or ؛, found by a
compiled pass over the normalized text (it was a regex search: the two must agree)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.normalize import normalize_ar
from processors.tagger import _IS_SENTENCE_END, SENTENCE_ENDS, Tagger, _sentence_ends

SENTENCE_END = re.compile(r"[.!?\u061f\u061b]")
"""The definition the compiled pass replaced."""


@settings(deadline=None)
@given(st.text(alphabet=st.sampled_from([*SENTENCE_ENDS, "ا", "ل", " ", "\u064e", "1", "😀"])))
def test_sentence_ends_are_the_regex_matches(text: str) -> None:
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    found = _sentence_ends(codes, _IS_SENTENCE_END).tolist()
    assert found == [m.end() for m in SENTENCE_END.finditer(text)]


@pytest.mark.parametrize("end", ["؟", "؛", ".", "!"])
def test_an_ambiguous_alias_needs_its_cue_in_its_own_sentence(
    small_tagger: Tagger, end: str
) -> None:
    # الرئيسُ (a damma) is a cue of الأسد in the first sentence only
    text = f"هل قال الرئيسُ الأسد ذلك{end} الأسـد حيوان مفترس يعيش في الغابة"
    tags = small_tagger.tag_text(text)
    assert [(t.id, t.start) for t in tags] == [("bashar-al-assad", text.index("الأسد"))]
    assert normalize_ar(end) in SENTENCE_ENDS
