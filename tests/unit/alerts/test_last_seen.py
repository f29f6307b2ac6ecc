"""The subjects silence rules watch are bounded, and invented sources cannot push out the
outlet that went quiet: the tiers alone, then the in-memory engine on outlet streams
drowned in one-off sources (as ``raqib backtest`` runs it)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alerts.engine import RuleEngine, SubjectNames
from alerts.episodes import MemoryEpisodes
from alerts.last_seen import RETIRE_AFTER, LastSeen
from alerts.rules import RulesFile, load_rules
from processors.counts import MemoryCounts
from raqib.messages import Alert, Mention
from tests.unit.alerts.conftest import in_order

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
T = datetime(2024, 12, 9, tzinfo=UTC)


def silence_only() -> RulesFile:
    return RulesFile(rules=tuple(r for r in load_rules().rules if r.kind == "silence"))


def events(alerts: list[Alert]) -> list[tuple[str, str, str, datetime]]:
    return [(a.rule, a.subject, a.status, a.event_time) for a in alerts]


# --- the tiers ---------------------------------------------------------------------------


def test_one_off_sources_fill_the_provisional_tier_and_nothing_else() -> None:
    seen = LastSeen(max_established=10, max_provisional=100)
    assert seen.promote("source:SANA", T)
    for i in range(10_000):
        seen.provisional[f"source:fake-{i}"] = T + i * MINUTE
    assert seen.established == {"source:SANA": T}
    assert seen.sizes() == {
        "silence_established": (1, 0),
        "silence_provisional": (100, 9_900),
    }
    assert seen.get("source:fake-9999") == T + 9_999 * MINUTE
    assert seen.get("source:fake-0") is None


def test_a_full_established_tier_refuses_newcomers_and_keeps_its_outlets() -> None:
    seen = LastSeen(max_established=2, max_provisional=10)
    assert seen.promote("source:SANA", T) and seen.promote("source:Okaz", T)
    seen.provisional["source:new"] = T
    assert not seen.promote("source:new", T + HOUR)
    assert sorted(seen.established) == ["source:Okaz", "source:SANA"]
    assert seen.get("source:new") == T, "refused: still remembered as provisional"
    assert seen.promote("source:SANA", T + HOUR), "an established subject moves on"
    seen.retire(["source:Okaz"])
    assert seen.promote("source:new", T + HOUR)
    assert seen.sizes()["silence_established"] == (2, 2)  # one refused, one retired


def test_a_store_written_before_the_bound_keeps_its_most_recent_subjects() -> None:
    seen = LastSeen(max_established=2, max_provisional=10)
    extra = seen.load({f"source:s{i}": T + i * MINUTE for i in range(5)})
    assert sorted(seen.established) == ["source:s3", "source:s4"]
    assert sorted(extra) == ["source:s0", "source:s1", "source:s2"]
    assert seen.get("source:s0") == T


# --- the engine ----------------------------------------------------------------------------


@pytest.fixture
def outlets(periodic: Any, t0: datetime) -> list[Mention]:
    """SANA every 10 minutes, quiet from 26:00 to 29:00; Okaz every 15 minutes; 30 hours."""
    sana = [
        m
        for m in periodic("source:SANA", start=t0, every=10 * MINUTE, count=180, prefix="sana")
        if not t0 + 26 * HOUR < m.event_time < t0 + 29 * HOUR
    ]
    okaz = periodic("source:Okaz", start=t0, every=15 * MINUTE, count=120, prefix="okaz")
    return in_order(sana, okaz)


def invented(t0: datetime, count: int) -> list[Mention]:
    """``count`` articles over 30 hours, each from a source never seen before or after."""
    every = 30 * HOUR / count
    return [
        Mention(
            subject=f"source:invented-{i:05d}",
            article_id=f"inv-{i:05d}",
            event_time=t0 + i * every,
            source=f"invented-{i:05d}",
            title="خبر",
        )
        for i in range(count)
    ]


Run = Callable[..., tuple[list[Alert], RuleEngine, MemoryEpisodes]]


@pytest.fixture
def run(names: SubjectNames) -> Run:
    def go(
        stream: list[Mention], rules: RulesFile | None = None, **bounds: Any
    ) -> tuple[list[Alert], RuleEngine, MemoryEpisodes]:
        episodes = MemoryEpisodes()
        engine = RuleEngine(rules or silence_only(), MemoryCounts(), episodes, names, **bounds)
        return asyncio.run(engine.on_batch(stream)), engine, episodes

    return go


def test_an_outlet_quiet_amid_thousands_of_invented_sources_still_fires(
    run: Run, outlets: list[Mention], t0: datetime
) -> None:
    """Judged at each invented article's time, the silence fires at its first minute past
    the usual gap; bounds 100 times smaller than the sources change nothing."""
    stream = in_order(outlets, invented(t0, 5_000))
    unbounded, _, _ = run(stream, max_subjects=10_000)
    bounds = {"max_subjects": 50, "last_seen": LastSeen(max_established=5, max_provisional=40)}
    flooded, engine, episodes = run(stream, **bounds)
    assert events(flooded) == events(unbounded)
    firing, resolved = flooded
    assert (firing.subject, firing.status, resolved.status) == ("source:SANA", "firing", "resolved")
    quiet = firing.event_time - (t0 + 26 * HOUR)
    assert 92 * MINUTE <= quiet < 93 * MINUTE  # e^(-g/10 min) <= 1e-4, to the minute
    assert set(episodes.last_seen) == {"source:SANA", "source:Okaz"}, "only outlets are kept"
    sizes = engine.cache_sizes()
    assert sizes["silence_established"] == (2, 0)
    assert sizes["silence_provisional"][0] <= 40 and sizes["silence_provisional"][1] > 4_900
    assert sizes["engine_rules"][0] <= 50 and sizes["engine_rules"][1] > 4_900


def test_caches_of_one_entry_change_no_alert(
    run: Run,
    outlets: list[Mention],
    background: list[Mention],
    periodic: Any,
    t0: datetime,
) -> None:
    """A miss is read again: a cache that holds one subject fires what a large one does."""
    start = t0 + 24 * HOUR + 20 * MINUTE
    burst = periodic("entity:x", start=start, every=timedelta(seconds=24), count=25, prefix="b")
    stream = in_order(background, outlets, burst, invented(t0, 500))
    rules = load_rules()
    large, _, _ = run(stream, rules)
    small, engine, _ = run(
        stream, rules, max_subjects=1, last_seen=LastSeen(max_established=2, max_provisional=1)
    )
    assert {(a.rule, a.status) for a in large} >= {
        ("entity-spike", "firing"),
        ("source-silence", "firing"),
    }
    assert events(small) == events(large)
    assert engine.cache_sizes()["engine_usual"][0] <= 1


def test_a_full_silence_watch_keeps_the_outlet_it_has(run: Run, outlets: list[Mention]) -> None:
    """SANA (every 10 minutes) reaches min_baseline_count (48) four hours before Okaz: with
    room for one, Okaz is refused and SANA still fires."""
    alerts, engine, episodes = run(outlets, last_seen=LastSeen(max_established=1))
    assert [(a.subject, a.status) for a in alerts] == [
        ("source:SANA", "firing"),
        ("source:SANA", "resolved"),
    ]
    assert set(episodes.last_seen) == {"source:SANA"}
    entries, refused = engine.cache_sizes()["silence_established"]
    assert entries == 1 and refused > 0


def test_an_outlet_quiet_past_the_hour_counts_is_retired(
    run: Run, periodic: Any, t0: datetime
) -> None:
    """Its baseline's hour counts are gone from Redis after 35 days: nothing it could fire
    (here a 60-day warm-up keeps it from firing first), so it leaves the watch."""
    rules = RulesFile(
        rules=tuple(
            r.model_copy(update={"warm_up": timedelta(days=60)}) for r in silence_only().rules
        )
    )
    sana = periodic("source:SANA", start=t0, every=10 * MINUTE, count=100, prefix="sana")
    okaz = periodic("source:Okaz", start=t0, every=6 * HOUR, count=4 * 40, prefix="okaz")
    alerts, engine, episodes = run(in_order(sana, okaz), rules)
    assert alerts == []
    assert okaz[-1].event_time - sana[-1].event_time > RETIRE_AFTER
    assert "source:SANA" not in episodes.last_seen
    assert engine.cache_sizes()["silence_established"][1] == 1  # retired
