"""The tag agent's work on one message, without a broker: tagged, or dead-lettered with why."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from processors.pipeline import Pipeline
from processors.tag_agent import Rejected, Tagged, TagStage
from processors.topics import load_topics
from processors.watchlist import load_watchlist
from raqib.messages import MentionBatch

RECEIVED = datetime(2024, 12, 1, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    watchlist = load_watchlist()
    return Pipeline(watchlist, load_topics(None, watchlist))


def _raw(**fields: Any) -> bytes:
    return json.dumps(fields, ensure_ascii=False).encode()


def test_an_article_becomes_its_tagged_form_and_mention_batches(
    pipeline: Pipeline, news_ar: dict[str, Any]
) -> None:
    stage = TagStage(pipeline, 4)
    out = stage.process(_raw(id="a1", body=news_ar["bodies"]["hatami"]), RECEIVED)
    assert isinstance(out, Tagged) and out.key == b"a1" and "iran" in out.entity_ids
    subjects = [
        m.subject
        for _, _, value in out.mentions
        for m in MentionBatch.model_validate_json(value).mentions
    ]
    assert len(subjects) == out.events and "entity:iran" in subjects
    assert sorted(p for p, _, _ in out.mentions) == [0, 1, 2, 3]  # heartbeats where empty
    assert {MentionBatch.model_validate_json(v).origin for _, _, v in out.mentions} == {0}
    assert json.loads(out.value)["published_at"].startswith("2024-12-01T12:00:00")


def test_an_article_over_its_cpu_budget_is_rejected_with_that_reason(
    pipeline: Pipeline, news_ar: dict[str, Any]
) -> None:
    stage = TagStage(pipeline, 4, budget_s=1e-9)
    out = stage.process(_raw(body=news_ar["bodies"]["hatami"]), RECEIVED)
    assert isinstance(out, Rejected) and out.kind == "over_budget"
    assert "over the budget of 1e-09s per article" in out.reason


def test_bad_input_is_rejected_and_the_batch_goes_on(
    pipeline: Pipeline, news_ar: dict[str, Any]
) -> None:
    stage = TagStage(pipeline, 4)
    done = stage.process_many(
        [(b"\xff", RECEIVED, 0), (_raw(body=news_ar["bodies"]["hatami"]), RECEIVED, 1)]
    )
    assert [type(outcome) for outcome, _ in done] == [Rejected, Tagged]
    assert all(seconds >= 0 for _, seconds in done)
