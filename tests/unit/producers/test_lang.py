"""Language detection on real sentences: Arabic, Persian (Arabic script too), English."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from producers.lang import detect_lang

DATA = Path(__file__).resolve().parents[2] / "data"
SEEDS = Path(__file__).resolve().parents[3] / "seeds"
SAMPLES = yaml.safe_load((DATA / "lang_samples.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("lang", "sentence"), [(lang, s) for lang, sentences in SAMPLES.items() for s in sentences]
)
def test_each_sample_is_told_its_language(lang: str, sentence: str) -> None:
    assert detect_lang(sentence) == lang


def test_every_seed_article_is_arabic() -> None:
    seeds = sorted(SEEDS.glob("*.txt"))
    assert len(seeds) == 5
    assert {detect_lang(p.read_text(encoding="utf-8")) for p in seeds} == {"ar"}


def test_persian_typed_on_an_arabic_keyboard_is_still_persian() -> None:
    sentence = SAMPLES["fa"][1].replace("\u06cc", "\u064a").replace("\u06a9", "\u0643")
    assert detect_lang(sentence) == "fa"
