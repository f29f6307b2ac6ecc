"""Near-duplicates on real news copy: cosmetic copies fold to one text, light rewrites
score above the MinHash threshold, independent reports and other stories below it.

The figures this prints (section "figures") are the ones the README quotes."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from producers.dedupe import DEFAULT_THRESHOLD, Fingerprint, signature, similarity
from producers.textfold import fold_ar

DATA = Path(__file__).resolve().parents[2] / "data"
SEEDS = Path(__file__).resolve().parents[3] / "seeds"
STORIES: dict[str, Any] = yaml.safe_load(
    (DATA / "near_duplicates.yaml").read_text(encoding="utf-8")
)["stories"]
TATWEEL, FATHA, SHADDA = "\u0640", "\u064e", "\u0651"


def cosmetic(text: str) -> str:
    """The copy another site serves: tatweel, diacritics, other quotes and punctuation,
    other spacing — the same words."""
    words = text.split()
    for i in range(0, len(words), 4):
        w = words[i]
        if len(w) > 3 and "\u0621" <= w[1] <= "\u064a":
            words[i] = w[:2] + TATWEEL * 2 + w[2:] + FATHA
    out = "  ".join(words).replace("،", ",").replace('"', "«").replace(".", " .")
    return out.replace("ة", "ة" + SHADDA, 1) + " !"


def test_originals_are_verbatim_seed_text() -> None:
    for name, story in STORIES.items():
        seed = (SEEDS / story["seed"]).read_text(encoding="utf-8")
        for paragraph in story["original"].split("\n"):
            assert paragraph.strip() in seed, name


@pytest.mark.parametrize("name", sorted(STORIES))
def test_cosmetic_copies_have_one_fingerprint(name: str) -> None:
    original = STORIES[name]["original"]
    copy = cosmetic(original)
    assert copy != original
    assert Fingerprint.of("a", "", original).text == Fingerprint.of("b", "", copy).text


def _scores(pairs: list[tuple[str, str]]) -> list[float]:
    return [similarity(signature(fold_ar(a)), signature(fold_ar(b))) for a, b in pairs]


def test_light_rewrites_score_above_the_threshold_and_other_stories_below(
    report: Callable[[str], None],
) -> None:
    rewrites = _scores([(s["original"], r) for s in STORIES.values() for r in s["rewrites"]])
    independent = _scores([(s["original"], s["independent"]) for s in STORIES.values()])
    others = _scores(
        [(a["original"], b["original"]) for a, b in itertools.combinations(STORIES.values(), 2)]
    )
    report(
        f"near-duplicates (MinHash, 128 perm, char 5-grams, threshold {DEFAULT_THRESHOLD}): "
        f"light rewrites {min(rewrites):.2f}-{max(rewrites):.2f} ({len(rewrites)}), "
        f"independent reports of the same event {min(independent):.2f}-{max(independent):.2f}"
        f" ({len(independent)}), other stories at most {max(others):.2f} ({len(others)})"
    )
    assert min(rewrites) >= DEFAULT_THRESHOLD + 0.1
    assert max(independent + others) <= DEFAULT_THRESHOLD - 0.25


def test_short_texts_are_compared_exactly_only() -> None:
    assert Fingerprint.of("a", "أنقرة: أمير قطر يزور تركيا غداً", "").signature is None
    assert Fingerprint.of("a", "", STORIES["zarif"]["original"]).signature is not None
