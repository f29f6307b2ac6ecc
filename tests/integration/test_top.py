"""``raqib top`` against a real Redis server: leaders of the last window of event time."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from redis.asyncio import Redis

from processors.counts import RedisCounts
from raqib.cli import main
from raqib.messages import Mention

pytestmark = pytest.mark.integration
T0 = datetime(2024, 12, 1, 9, 0, tzinfo=UTC)


def fill(url: str, prefix: str, mentions: list[Mention]) -> None:
    async def go() -> None:
        client = Redis.from_url(url)
        try:
            counts = RedisCounts(client, prefix=prefix)
            for m in mentions:
                await counts.record(m)
        finally:
            await client.aclose()

    asyncio.run(go())


def many(subject: str, start: datetime, every: timedelta, count: int) -> list[Mention]:
    return [
        Mention(
            subject=subject,
            article_id=f"{subject}-{start:%d%H%M}-{i}",
            event_time=start + i * every,
            source="سانا",
            title="خبر",
        )
        for i in range(count)
    ]


def top(redis_url: str, prefix: str, *args: str) -> list[dict[str, Any]]:
    env = {"RAQIB_REDIS": redis_url, "RAQIB_REDIS_PREFIX": prefix}
    result = CliRunner().invoke(main, ["top", "--json", *args], env=env)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


def test_top_orders_by_count_and_by_ratio_at_the_latest_event_time(
    redis_server: Any, unique: str
) -> None:
    day = T0 - timedelta(hours=24)
    fill(
        redis_server.url,
        unique,
        [
            *many("entity:iran", day, timedelta(minutes=10), 144),  # the usual: 6 an hour
            *many("entity:iran", T0, timedelta(minutes=6), 10),  # 10 in the last hour
            *many("entity:amir-hatami", T0 + timedelta(minutes=30), timedelta(minutes=3), 8),
            *many("topic:sanctions", T0 - timedelta(hours=3), timedelta(minutes=1), 5),
        ],
    )
    rows = top(redis_server.url, unique, "--window", "1h")
    assert [(r["subject"], r["observed"]) for r in rows] == [
        ("entity:iran", 10),
        ("entity:amir-hatami", 8),
    ]  # sanctions is three hours old: outside the window that ends at 09:55
    assert rows[1]["name_en"] == "Amir Hatami" and rows[0]["name_ar"] == "إيران"
    assert rows[0]["window"] == {
        "start": "2024-12-01T08:55:00+00:00",
        "end": "2024-12-01T09:55:00+00:00",
    }
    by_ratio = top(redis_server.url, unique, "--window", "1h", "--by", "ratio")
    assert [r["subject"] for r in by_ratio] == ["entity:amir-hatami", "entity:iran"]
    assert by_ratio[0]["ratio"] > 100 > by_ratio[1]["ratio"]
    topics = top(redis_server.url, unique, "--window", "4h", "--subjects", "topic:*")
    assert [(r["subject"], r["observed"]) for r in topics] == [("topic:sanctions", 5)]


def test_top_says_so_when_there_is_nothing_to_show(redis_server: Any, unique: str) -> None:
    env = {"RAQIB_REDIS": redis_server.url, "RAQIB_REDIS_PREFIX": unique}
    result = CliRunner().invoke(main, ["top"], env=env)
    assert result.exit_code == 1 and "no counts" in result.output
    result = CliRunner().invoke(main, ["top", "--window", "3d"], env=env)
    assert result.exit_code == 2 and "2d" in result.output
