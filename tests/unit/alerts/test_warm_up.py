"""Honest baselines (issue 13): a rate is mentions over the time the partition actually
watched, and a rule fires only once the partition has watched for the rule's warm-up.

Every stream here starts at T0 (the partition's first mention), so what a partition has
watched is the stream's own age.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alerts.engine import RuleEngine
from alerts.episodes import MemoryEpisodes
from alerts.rules import RulesFile, load_rules, silence_p
from alerts.spike import spike_stats
from processors.counts import MemoryCounts
from raqib.messages import Alert, Mention
from tests.unit.alerts.conftest import in_order

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def rules_of(tmp_path: Path, text: str) -> RulesFile:
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n" + text, encoding="utf-8")
    return load_rules(path)


def entity_spike(**update: Any) -> RulesFile:
    """The packaged entity-spike rule, changed as the test says."""
    rule = next(r for r in load_rules().rules if r.name == "entity-spike")
    return RulesFile(rules=(rule.model_copy(update=update),))


def firing(alerts: list[Alert]) -> list[tuple[str, str]]:
    return [(a.rule, a.subject) for a in alerts if a.status == "firing"]


def test_a_partition_watched_for_26_minutes_divides_by_26_minutes(
    run_engine: Any, periodic: Any, t0: datetime, tmp_path: Path
) -> None:
    """Ten mentions in the first twenty minutes, then one a minute at 00:30-00:35: the
    baseline of the window 00:26-00:35 is the 26 minutes watched before it, not 24 hours."""
    rules = rules_of(
        tmp_path,
        "  - name: busy\n"
        "    kind: threshold\n"
        "    subjects: ['entity:*']\n"
        "    window: 10m\n"
        "    min_count: 6\n",
    )
    steady = periodic("entity:x", start=t0, every=2 * MINUTE, count=10, prefix="s")
    burst = periodic("entity:x", start=t0 + 30 * MINUTE, every=MINUTE, count=6, prefix="b")
    (alert,) = run_engine(in_order(steady, burst), rules=rules)
    assert alert.status == "firing" and alert.observed == 6
    assert alert.window.start == t0 + 26 * MINUTE
    assert alert.expected == pytest.approx(10 / 26 * 10, abs=1e-6)
    day_long = 10 / (24 * 60 + 26) * 10  # what dividing by the whole baseline said
    assert alert.expected > 50 * day_long


def test_a_steady_subject_in_its_first_hours_is_no_spike(
    run_engine: Any, periodic: Any, t0: datetime
) -> None:
    """A subject named every two minutes from the first minute on: against 24 hours its
    first hour looks like a surge (ratio ~46 at 00:40); against the time watched it is
    steady (ratio ~1)."""
    steady = periodic("entity:x", start=t0, every=2 * MINUTE, count=4 * 30, prefix="s")
    at_40 = spike_stats(
        observed=5,
        baseline_count=16,  # 00:00-00:30, before the window 00:31-00:40
        baseline_minutes=24 * 60 + 31,
        window_minutes=10,
        prior_per_minute=1 / 1440,
    )
    assert at_40.ratio > 40 and at_40.p_value < 1e-6, "the old arithmetic's verdict"
    assert run_engine(steady, rules=entity_spike(warm_up=timedelta(minutes=30))) == []


def test_the_warm_up_blocks_a_spike_then_allows_it(
    run_engine: Any, periodic: Any, background: list[Mention], t0: datetime
) -> None:
    """The same burst of a subject named once an hour: three hours in, the partition is
    still warming up (6h); seven hours in, it fires."""

    def burst(at: timedelta, prefix: str) -> list[Mention]:
        return periodic("entity:x", start=t0 + at, every=MINUTE / 2, count=20, prefix=prefix)

    hourly = periodic("entity:x", start=t0 + 30 * MINUTE, every=HOUR, count=24, prefix="h")
    early = in_order(background, hourly, burst(3 * HOUR + 40 * MINUTE, "e"))
    late = in_order(background, hourly, burst(7 * HOUR + 40 * MINUTE, "l"))
    rules = entity_spike()
    assert rules.rules[0].warm_up == 6 * HOUR
    assert run_engine(early, rules=rules) == []
    assert firing(run_engine(late, rules=rules)) == [("entity-spike", "entity:x")]
    # the warm-up, and nothing else, kept the early burst quiet
    no_warm_up = entity_spike(warm_up=timedelta(0))
    assert firing(run_engine(early, rules=no_warm_up)) == [("entity-spike", "entity:x")]


def test_a_never_seen_subject_fires_after_the_warm_up_on_the_prior(
    run_engine: Any, periodic: Any, background: list[Mention], t0: datetime
) -> None:
    """Seven hours in, six mentions of a subject never named: a spike on the prior floor
    (the partition has watched long enough), not yet a "new" subject (24h warm-up)."""
    every = timedelta(seconds=100)
    new = periodic("entity:new", start=t0 + 7 * HOUR, every=every, count=6, prefix="n")
    alerts = run_engine(in_order(background, new))
    assert firing(alerts) == [("entity-spike", "entity:new")]
    spike = next(a for a in alerts if a.status == "firing")
    assert spike.expected == pytest.approx(10 / 1440, abs=1e-6)  # the prior floor
    early = [m.model_copy(update={"event_time": m.event_time - 4 * HOUR}) for m in new]
    assert run_engine(in_order(background, early)) == []


def test_a_backfilled_partition_is_warm_from_its_first_live_mention(
    names: Any, periodic: Any, background: list[Mention], t0: datetime
) -> None:
    """History counted without rules (``raqib backfill``) moves the partition's start back,
    so a burst twenty minutes into the live stream is judged at once, against it."""
    live_start = t0 + 24 * HOUR
    hourly = periodic("entity:x", start=t0, every=HOUR, count=24, prefix="hist")
    history = in_order([m for m in background if m.event_time < live_start], hourly)
    live = [m for m in background if m.event_time >= live_start]
    burst = periodic(
        "entity:x", start=live_start + 20 * MINUTE, every=MINUTE / 2, count=12, prefix="b"
    )

    async def run(backfill: bool) -> list[Alert]:
        counts, episodes = MemoryCounts(), MemoryEpisodes()
        for m in history:
            await counts.record(m)
        if backfill:
            await episodes.backfilled(history[0].event_time, history[-1].event_time)
        engine = RuleEngine(load_rules(), counts, episodes, names)
        return await engine.on_batch(in_order(live, burst))

    warm = asyncio.run(run(backfill=True))
    assert firing(warm) == [("entity-spike", "entity:x")]
    fired = warm[0]
    assert fired.expected == pytest.approx(24 / (24 * 60 + 20) * 10, rel=0.05)
    assert asyncio.run(run(backfill=False)) == []  # without it: warming up


@pytest.fixture
def sana_then_quiet(periodic: Any, t0: datetime) -> list[Mention]:
    """SANA every 10 minutes for the first five hours, then nothing; Okaz every 15 minutes
    for twelve hours, moving time on."""
    sana = periodic("source:SANA", start=t0, every=10 * MINUTE, count=30, prefix="sana")
    okaz = periodic("source:Okaz", start=t0, every=15 * MINUTE, count=48, prefix="okaz")
    return in_order(sana, okaz)


def test_a_silence_waits_a_day_and_its_rate_is_over_the_time_watched(
    run_engine: Any, sana_then_quiet: list[Mention], t0: datetime, tmp_path: Path
) -> None:
    rule = (
        "  - name: quiet\n"
        "    kind: silence\n"
        "    subjects: ['source:*']\n"
        "    min_baseline_count: 24\n"
    )
    assert run_engine(sana_then_quiet, rules=rules_of(tmp_path, rule)) == [], "warming up"
    alerts = run_engine(sana_then_quiet, rules=rules_of(tmp_path, rule + "    warm_up: 0s\n"))
    assert firing(alerts) == [("quiet", "source:SANA")]
    alert = alerts[0]
    last = t0 + 290 * MINUTE
    quiet = (alert.event_time - last) / MINUTE
    # 30 mentions in the 291 minutes watched, not in 24 hours: p falls below 1e-3 after
    # 67 minutes (it would take 5 hours at 30 a day)
    assert alert.window.start == last
    assert 67 <= quiet < 67 + 15
    assert alert.p_value == pytest.approx(silence_p(quiet, 30 / 291), rel=1e-6)
