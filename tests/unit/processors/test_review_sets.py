"""Precision and recall on the review sets: news sentences beyond the seeds.

Two annotators who had not seen the tagger's output wrote 60 items each in the style of
Arabic agency copy (tests/data/review/: east — Iran, Iraq, Lebanon, Yemen, the Gulf;
west — Syria, Turkey, Israel and Palestine, Russia, the United States), with hard negatives
(ordinary words that are also names). The watchlist was fixed for what they found, so these
are development sets now; the figures before the fixes are in the README. A third set,
heldout (40 paragraphs of mixed news and everyday copy), was written after those fixes and
measured once as held out before its own errors were fixed. Each item's mentions are
compared as a multiset of ids.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from processors.pipeline import Pipeline
from processors.tagger import Tagger
from processors.topics import load_topics
from processors.watchlist import load_watchlist
from raqib.messages import Article

SETS = Path(__file__).resolve().parents[2] / "data" / "review"
GOAL = 0.97


def load_cases(name: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = yaml.safe_load(
        (SETS / f"{name}.yaml").read_text(encoding="utf-8")
    )["cases"]
    return cases


def score(
    name: str,
    pairs: Iterable[tuple[dict[str, Any], Counter[str], Counter[str]]],
    report: Callable[[str], None],
) -> tuple[float, float]:
    """Precision and recall over (case, expected, found) multisets; each miss reported."""
    right = extra = missed = 0
    for case, expected, found in pairs:
        both = (expected & found).total()
        right, extra, missed = (
            right + both,
            extra + found.total() - both,
            missed + expected.total() - both,
        )
        for wrong in sorted((found - expected).elements()):
            report(f"  {name}: {case['name']}: extra {wrong}")
        for lost in sorted((expected - found).elements()):
            report(f"  {name}: {case['name']}: missed {lost}")
    return right / (right + extra), right / (right + missed)


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger(load_watchlist())


@pytest.mark.parametrize("name", ["east", "west", "heldout", "heldout2"])
def test_precision_and_recall(tagger: Tagger, name: str, report: Callable[[str], None]) -> None:
    cases = load_cases(name)
    assert len(cases) >= 40
    found = (Counter(m.id for m in tagger.tag_text(case["text"])) for case in cases)
    precision, recall = score(
        name, ((c, Counter(c["ids"]), f) for c, f in zip(cases, found, strict=True)), report
    )
    mentions = sum(len(c["ids"]) for c in cases)
    report(
        f"review set {name}: {len(cases)} items, {mentions} mentions, "
        f"precision {precision:.3f}, recall {recall:.3f} (goal {GOAL})"
    )
    assert precision >= GOAL and recall >= GOAL


TOPIC_GOALS = {  # (precision, recall): the third set is the hardest, its recall the honest one
    "topics": (0.95, 0.95),
    "topics_heldout": (0.95, 0.95),
    "topics_heldout2": (0.95, 0.95),
    "topics_heldout3": (0.95, 0.75),
}


@pytest.mark.parametrize("name", sorted(TOPIC_GOALS))
def test_topic_precision_and_recall(name: str, report: Callable[[str], None]) -> None:
    """Item-level: each (item, topic) an analyst assigned, against what the matcher finds."""
    watchlist = load_watchlist()
    pipeline = Pipeline(watchlist, load_topics(None, watchlist))
    cases = load_cases(name)

    def topics_of(n: int, case: dict[str, Any]) -> Counter[str]:
        article = Article(
            id=f"{name}-{n}",
            source="review",
            title=case.get("title") or "",
            body=case["text"],
            published_at=datetime(2025, 1, 1, tzinfo=UTC),
        )
        tagged, _ = pipeline.process(article)
        return Counter({t.id for t in tagged.topics})

    precision, recall = score(
        name,
        ((c, Counter(set(c["topics"] or ())), topics_of(n, c)) for n, c in enumerate(cases)),
        report,
    )
    labels = sum(len(set(c["topics"] or ())) for c in cases)
    report(
        f"topic set {name}: {len(cases)} items, {labels} labels, "
        f"precision {precision:.3f}, recall {recall:.3f} (goal {TOPIC_GOALS[name]})"
    )
    least_precision, least_recall = TOPIC_GOALS[name]
    assert precision >= least_precision and recall >= least_recall
