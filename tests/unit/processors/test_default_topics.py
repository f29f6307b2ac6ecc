"""The packaged topics on the seeds and on near misses (tests/data/topics_cases.yaml)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from processors.pipeline import Pipeline
from processors.topics import load_topics
from processors.watchlist import load_watchlist
from producers.seeds import load_seed_dir
from raqib.messages import parse_article

ROOT = Path(__file__).resolve().parents[3]
CASES = yaml.safe_load((ROOT / "tests/data/topics_cases.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    watchlist = load_watchlist()
    return Pipeline(watchlist, load_topics(None, watchlist))


def test_at_least_ten_default_topics(pipeline: Pipeline) -> None:
    assert len(pipeline.topics.topics) >= 10


@pytest.mark.parametrize("seed", sorted(CASES["seeds"]))
def test_topics_of_each_seed(pipeline: Pipeline, seed: str) -> None:
    (article,) = [a for a in load_seed_dir(ROOT / "seeds") if a["id"] == f"seed-{seed}"]
    tagged, events = pipeline.process(
        parse_article(json.dumps(article).encode(), fallback_time=None)
    )
    assert [t.id for t in tagged.topics] == CASES["seeds"][seed]
    assert {e.subject for e in events} >= {f"topic:{t}" for t in CASES["seeds"][seed]}


@pytest.mark.parametrize("case", CASES["cases"], ids=[c["text"][:30] for c in CASES["cases"]])
def test_sentences(pipeline: Pipeline, case: dict[str, Any]) -> None:
    _, found = pipeline.tag_text(case["text"], clean=False)
    assert [t.id for t in found] == case["topics"]


def test_every_topic_is_exercised_by_a_positive_case(pipeline: Pipeline) -> None:
    positives = {t for c in CASES["cases"] for t in c["topics"]}
    assert positives == {t.id for t in pipeline.topics.topics}
