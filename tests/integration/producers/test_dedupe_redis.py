"""Deduplication in the real Redis: ids, folded text and MinHash bands, kept across
restarts (a new Deduper on the same keys) and given back when a send fails."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from redis import Redis

from producers.dedupe import Deduper, Fingerprint

pytestmark = pytest.mark.integration

STORIES = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "data" / "near_duplicates.yaml").read_text("utf-8")
)["stories"]


@pytest.fixture
def redis(redis_server: Any) -> Any:
    client = Redis.from_url(redis_server.url)
    yield client
    client.close()


def test_duplicates_by_id_text_and_rewrite_are_caught_distinct_stories_kept(
    redis: Redis, unique: str
) -> None:
    dedupe = Deduper(redis, prefix=unique, ttl=timedelta(hours=1))
    araghchi = STORIES["araghchi"]
    assert not dedupe.check(Fingerprint.of("a1", "", araghchi["original"])).duplicate
    again = dedupe.check(Fingerprint.of("a1", "", "another text under the same id"))
    assert (again.reason, again.duplicate_of) == ("id", "a1")
    spaced = araghchi["original"].replace(" ", "  ").replace("الأسد", "الأســد")
    copy = dedupe.check(Fingerprint.of("a2", "", spaced))
    assert (copy.reason, copy.duplicate_of) == ("text", "a1")
    rewrite = dedupe.check(Fingerprint.of("a3", "", araghchi["rewrites"][0]))
    assert (rewrite.reason, rewrite.duplicate_of) == ("similar", "a1")
    assert rewrite.similarity is not None and rewrite.similarity > 0.6
    assert not dedupe.check(Fingerprint.of("a4", "", araghchi["independent"])).duplicate
    for i, story in enumerate(s for name, s in STORIES.items() if name != "araghchi"):
        assert not dedupe.check(Fingerprint.of(f"b{i}", "", story["original"])).duplicate

    # another outlet's copy of the same wire text is its own publication
    syndicated = Fingerprint.of("d1", "", araghchi["original"], source="وكالة فرانس برس")
    assert not dedupe.check(syndicated).duplicate
    assert dedupe.check(Fingerprint.of("d2", "", spaced, source="وكالة فرانس برس")).duplicate

    restarted = Deduper(redis, prefix=unique, ttl=timedelta(hours=1))
    assert restarted.check(Fingerprint.of("c1", "", STORIES["zarif"]["rewrites"][0])).duplicate
    assert 0 < redis.ttl(f"{unique}:dedupe:id:a1") <= 3600
    assert all(0 < redis.ttl(k) <= 3600 for k in redis.scan_iter(f"{unique}:dedupe:*"))


def test_a_released_claim_can_be_sent_again(redis: Redis, unique: str) -> None:
    dedupe = Deduper(redis, prefix=unique)
    fp = Fingerprint.of("x1", "", STORIES["hatami"]["original"])
    assert not dedupe.check(fp).duplicate and dedupe.seen("x1")
    dedupe.release(fp)
    assert not dedupe.seen("x1")
    assert not dedupe.check(fp).duplicate
