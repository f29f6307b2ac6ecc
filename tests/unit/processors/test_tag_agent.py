"""The tag agent's work on one message, without a broker: tagged, or dead-lettered with why."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from processors.pipeline import Pipeline
from processors.tag_agent import QuietOrigins, Rejected, Tagged, TagStage
from processors.topics import load_topics
from processors.watchlist import load_watchlist
from raqib.messages import MentionBatch

T0 = datetime(2024, 12, 1, 10, tzinfo=UTC)

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


class _Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_partition_is_idle_only_when_quiet_and_read_to_its_end() -> None:
    ticks = _Ticks()
    quiet = QuietOrigins(5.0, clock=ticks)
    quiet.owned({0, 1, 2})
    quiet.read(0, 99, T0)
    quiet.read(1, 9, T0)
    ticks.now = 4.9
    assert quiet.candidates() == []  # not quiet for long enough
    ticks.now = 5.0
    ends = {0: 100, 1: 50, 2: 0}
    # 0: read to its end; 1: 40 articles still to read (a backlog is not silence);
    # 2: nothing read since it was assigned, and the consumer stands at its end
    assert quiet.idle(ends, positions={2: 0}) == [0, 2]


def test_a_partition_whose_articles_are_still_being_tagged_is_not_idle() -> None:
    ticks = _Ticks()
    quiet = QuietOrigins(5.0, clock=ticks)
    quiet.owned({0})
    quiet.read(0, 7)
    quiet.taken(0)
    ticks.now = 60.0  # one slow batch: its mentions are not sent yet
    assert quiet.candidates() == []
    quiet.sent(0)
    assert quiet.candidates() == []  # sending counts as hearing from it
    ticks.now = 65.0
    assert quiet.idle({0: 8}, positions={}) == [0]


def test_a_partition_lost_in_a_rebalance_is_forgotten_and_a_new_one_starts_quiet() -> None:
    ticks = _Ticks()
    quiet = QuietOrigins(5.0, clock=ticks)
    quiet.owned({0})
    quiet.read(0, 3)
    ticks.now = 10.0
    quiet.owned({1})
    assert quiet.candidates() == []  # 1 was assigned just now
    ticks.now = 15.0
    assert quiet.candidates() == [1] and 0 not in quiet.next_offset
