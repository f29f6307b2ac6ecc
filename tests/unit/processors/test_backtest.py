"""``raqib backtest`` on two days of steady seed news: no cold-start storm, and a story
still fires (issue 13).

Nothing happens in the steady stream: six outlets each publish two articles an hour, each
in its own rhythm (a fixed phase in its half hour, jittered by up to 7.5 minutes either
way), and the news mix is the same all the time (the seeds are dealt in turn from a deck
shuffled every five articles). Before baselines were clipped to the time watched, its
first day fired dozens of spikes (every subject's 20 minutes of mentions divided by 24
hours); its second day fired none.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts import load_rules
from processors.backtest import Rejected, backtest
from processors.pipeline import Pipeline
from processors.topics import load_topics
from processors.watchlist import load_watchlist
from producers.seeds import load_seed_dir
from raqib.messages import Alert

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "tests" / "data"
T0 = datetime(2024, 12, 9, tzinfo=UTC)
DAY = timedelta(days=1)
PER_HOUR = 2  # articles an outlet publishes an hour
STORY_AT = T0 + DAY + timedelta(hours=12, minutes=7)
STORY_SEED = 3  # 003: Amir Hatami's visit to Damascus


@pytest.fixture(scope="module")
def seeds() -> list[dict[str, Any]]:
    return load_seed_dir(ROOT / "seeds")


@pytest.fixture(scope="module")
def outlets() -> list[str]:
    return list(yaml.safe_load((DATA / "news_ar.yaml").read_text(encoding="utf-8"))["sources"])


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    watchlist = load_watchlist()
    return Pipeline(watchlist, load_topics(None, watchlist))


def steady(
    seeds: list[dict[str, Any]], outlets: list[str], days: int, rng: random.Random
) -> list[dict[str, Any]]:
    """Seed copies with new ids: each outlet in its rhythm, the seeds dealt in turn."""
    slot = 3600 / PER_HOUR
    times: list[tuple[datetime, str, int]] = []
    for outlet in outlets:
        phase = rng.uniform(slot / 4, slot * 3 / 4)
        for i in range(days * 24 * PER_HOUR):
            jitter = rng.uniform(-slot / 4, slot / 4)
            times.append((T0 + timedelta(seconds=i * slot + phase + jitter), outlet, i))
    deck: list[dict[str, Any]] = []
    stream = []
    for n, (at, outlet, i) in enumerate(sorted(times)):
        if not deck:
            deck = seeds[:]
            rng.shuffle(deck)
        article = {**deck.pop(), "source": outlet, "published_at": at.isoformat()}
        article["id"] = f"steady-{n:05d}-{i}"
        stream.append(article)
    return stream


def story(seed: dict[str, Any], outlets: list[str], rng: random.Random) -> list[dict[str, Any]]:
    """100 copies of one seed from five outlets within ten minutes of ``STORY_AT``."""
    offsets = sorted(rng.uniform(0, 600) for _ in range(100))
    return [
        {
            **seed,
            "id": f"story-{i:03d}",
            "source": outlets[i % 5],
            "published_at": (STORY_AT + timedelta(seconds=s)).isoformat(),
        }
        for i, s in enumerate(offsets)
    ]


def run(stream: list[dict[str, Any]], pipeline: Pipeline) -> list[Alert]:
    stream = sorted(stream, key=lambda a: str(a["published_at"]))
    lines = [json.dumps(a, ensure_ascii=False).encode("utf-8") for a in stream]
    events = asyncio.run(backtest(lines, pipeline, load_rules()))
    assert not [e for e in events if isinstance(e, Rejected)]
    return [e for e in events if isinstance(e, Alert) and e.status == "firing"]


def test_two_steady_days_fire_almost_nothing_and_a_story_still_fires(
    seeds: list[dict[str, Any]],
    outlets: list[str],
    pipeline: Pipeline,
    report: Callable[[str], None],
) -> None:
    rng = random.Random(13)
    days = steady(seeds, outlets[:6], 2, rng)
    fired = run(days, pipeline)
    day1 = [a for a in fired if a.event_time < T0 + DAY]
    day2 = [a for a in fired if a.event_time >= T0 + DAY]
    report(
        f"backtest, two steady days ({len(days)} articles): {len(day1)} alerts on day 1, "
        f"{len(day2)} on day 2"
    )
    assert len(day1) <= 5, [(a.rule, a.subject, a.event_time.isoformat()) for a in day1]
    assert day2 == [], [(a.rule, a.subject, a.event_time.isoformat()) for a in day2]

    breaking = story(seeds[STORY_SEED], outlets[2:], rng)
    with_story = run(days + breaking, pipeline)
    ids = {a["id"] for a in breaking}
    about = [a for a in with_story if {e.id for e in a.articles} & ids]
    assert about, "the story fires"
    first = min(a.event_time for a in about) - STORY_AT
    report(
        f"backtest, a story of 100 copies on day 2: first alert {first.total_seconds():.0f} s "
        f"after it broke, {len(about)} alerts ({len({a.subject for a in about})} subjects)"
    )
    assert first <= timedelta(minutes=15)
    assert "entity:amir-hatami" in {a.subject for a in about if a.rule == "entity-spike"}
    assert [a for a in with_story if a not in about] == day1, "the story adds only its own"


def test_one_article_dated_twenty_hours_ahead_changes_no_alert(
    seeds: list[dict[str, Any]],
    outlets: list[str],
    pipeline: Pipeline,
    report: Callable[[str], None],
) -> None:
    """A broken clock an hour before a story: without alignment's suspicion of a lone jump,
    the watermark would leap 20 h (silencing every outlet at once, or restarting every
    warm-up so that the story itself goes unreported)."""
    rng = random.Random(13)
    days = steady(seeds, outlets[:6], 2, rng)
    stream = sorted(
        days + story(seeds[STORY_SEED], outlets[2:], rng), key=lambda a: a["published_at"]
    )
    clean = run(stream, pipeline)
    before = STORY_AT - timedelta(hours=1)
    index = next(i for i, a in enumerate(stream) if a["published_at"] >= before.isoformat())
    ahead = (before + timedelta(hours=20)).isoformat()
    broken = {**seeds[1], "id": "broken-clock", "source": outlets[0], "published_at": ahead}
    poisoned = stream[:index] + [broken] + stream[index:]  # in file order, not sorted
    lines = [json.dumps(a, ensure_ascii=False).encode() for a in poisoned]
    events = asyncio.run(backtest(lines, pipeline, load_rules()))
    fired = [e for e in events if isinstance(e, Alert) and e.status == "firing"]
    key = {(a.rule, a.subject, a.event_time) for a in clean}
    got = {(a.rule, a.subject, a.event_time) for a in fired}
    report(
        f"backtest, one article 20 h ahead before a story: {len(got - key)} alerts it alone "
        f"fired, {len(key - got)} it silenced (of {len(key)})"
    )
    assert len(key) > 10 and got == key
