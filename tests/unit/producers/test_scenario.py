"""Scenarios: seed copies in event time, each with its own id and outlet."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from producers.scenario import expand
from raqib.exceptions import ConfigError
from raqib.messages import parse_article

REPO = Path(__file__).resolve().parents[3]
DRILL = REPO / "seeds" / "scenarios" / "drill.yaml"
START = datetime(2024, 12, 9, tzinfo=UTC)


def times(articles: list[dict[str, Any]]) -> list[datetime]:
    return [datetime.fromisoformat(a["published_at"]) for a in articles]


def test_ids_times_sources_and_seeds(seed_tree: Any) -> None:
    articles = expand(seed_tree.scenario)
    assert [a["id"] for a in articles] == [f"mini-quiet-{i:05d}" for i in range(5)] + [
        f"mini-surge-{i:05d}" for i in range(3)
    ]
    quiet = [START + i * timedelta(minutes=30) for i in range(5)]
    surge_start = START + 5 * timedelta(minutes=30) + timedelta(minutes=10)  # gap_before
    surge = [surge_start + i * timedelta(seconds=50) for i in range(3)]
    assert times(articles) == quiet + surge
    assert [a["source"] for a in articles] == ["سانا", "وكالة ثقة"] * 2 + ["سانا"] + ["عكاظ"] * 3
    bodies = seed_tree.bodies
    assert [a["body"] for a in articles[:3]] == [
        bodies["100_araghchi"],
        bodies["101_hatami"],
        bodies["100_araghchi"],
    ]
    assert {a["scenario"] for a in articles} == {"mini"}
    assert articles[5]["title"].startswith("صحيفة : الخلافات")  # manifest metadata kept


def test_expanded_articles_pass_the_gate_offline(seed_tree: Any) -> None:
    articles = expand(seed_tree.scenario)
    for article, at in zip(articles, times(articles), strict=True):
        raw = json.dumps(article, ensure_ascii=False).encode()
        parsed = parse_article(raw, fallback_time=None)
        assert parsed.event_time == at and parsed.id == article["id"]
        assert parsed.extra["scenario"] == "mini"  # unknown input fields live under extra


@pytest.mark.parametrize(("prefix", "matches"), [("1", 2), ("999", 0), ("10", 2)])
def test_a_seed_prefix_must_match_one_file(seed_tree: Any, prefix: str, matches: int) -> None:
    text = seed_tree.scenario.read_text("utf-8").replace('["101_hatami.txt"]', f'["{prefix}"]')
    seed_tree.scenario.write_text(text, "utf-8")
    with pytest.raises(ValueError, match=rf"seed '{prefix}' matches {matches} files in "):
        expand(seed_tree.scenario)


def test_a_bad_phase_names_its_line(seed_tree: Any) -> None:
    text = seed_tree.scenario.read_text("utf-8").replace("every: 50s", "every: soon")
    seed_tree.scenario.write_text(text, "utf-8")
    with pytest.raises(ConfigError) as info:
        expand(seed_tree.scenario)
    assert info.value.line == 15 and "phases.1.every" in info.value.cause


def test_the_drill_expands_in_event_time_order() -> None:
    articles = expand(DRILL)
    assert len(articles) == 48 + 12 + 8
    at = times(articles)
    assert all(a < b for a, b in zip(at, at[1:], strict=False)), "strictly increasing"
    assert at[0] == START and at[47] == START + timedelta(hours=23, minutes=30)
    assert at[48] == START + timedelta(hours=24, minutes=10)  # the surge breaks
    assert at[59] - at[48] == 11 * timedelta(seconds=50)
    assert len({a["id"] for a in articles}) == len(articles)
    surge = articles[48:60]
    assert {a["id"].rsplit("-", 1)[0] for a in surge} == {"drill-surge"}
    assert len({a["source"] for a in surge}) == 5
    assert len({a["body"] for a in surge}) == 1  # one story, seed 003
    assert "أمير حاتمي" in surge[0]["body"]


def test_the_drill_carries_the_seed_manifest() -> None:
    articles = expand(DRILL)
    assert all(a["title"] and a["lang"] for a in articles)
