"""The rule engine on synthetic mention streams, with the default rules (entity-spike:
window 10m, baseline 24h, min_count 5, min_ratio 4, max_p 0.001, prior 1/day,
min_sources 2, resolve_after 30m, cooldown 1h, warm_up 6h: the bursts here come on the
second day; test_warm_up.py has the first hours)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from alerts.engine import steps_of
from alerts.episodes import MemoryEpisodes
from alerts.rules import RulesFile, load_rules
from alerts.spike import spike_stats
from processors.counts import NEW, MemoryCounts
from raqib.counting import Recorded, minute_of
from raqib.messages import Alert, Evidence, Mention

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
Merge = Callable[..., list[Mention]]


@pytest.fixture
def hourly_x(periodic: Any, t0: datetime) -> list[Mention]:
    """entity:x once an hour, at half past, for the whole first day (24 mentions)."""
    return periodic("entity:x", start=t0 + 30 * MINUTE, every=HOUR, count=24, prefix="x-day")


@pytest.fixture
def burst(periodic: Any, t0: datetime) -> list[Mention]:
    """25 mentions of entity:x in 10 minutes (one every 24 s) from three outlets, at 00:20
    on day two."""
    start = t0 + 24 * HOUR + 20 * MINUTE
    return periodic("entity:x", start=start, every=timedelta(seconds=24), count=25, prefix="b")


def around(stream: list[Mention], cutoff: datetime) -> tuple[list[Mention], list[Mention]]:
    """The stream up to ``cutoff`` and after it: a late burst arrives between the two."""
    return [m for m in stream if m.event_time <= cutoff], [
        m for m in stream if m.event_time > cutoff
    ]


def by_status(alerts: list[Alert], status: str) -> list[Alert]:
    return [a for a in alerts if a.status == status]


def test_a_burst_fires_once_and_resolves_with_the_same_id(
    run_engine: Any,
    merge: Merge,
    background: list[Mention],
    hourly_x: list[Mention],
    burst: list[Mention],
) -> None:
    alerts = run_engine(merge(background, hourly_x, burst))
    assert {a.subject for a in alerts} == {"entity:x"}, "only the burst's subject fires"
    firing, resolved = by_status(alerts, "firing"), by_status(alerts, "resolved")
    assert len(firing) == 1 and len(resolved) == 1
    fired, done = firing[0], resolved[0]
    assert alerts == [fired, done]
    assert burst[0].event_time <= fired.event_time <= burst[-1].event_time
    assert done.alert_id == fired.alert_id
    assert (done.rule, done.kind) == (fired.rule, fired.kind) == ("entity-spike", "spike")
    # resolved only once the condition has been false for resolve_after (30m): the window
    # still holds 5 burst mentions at 00:37, so nothing may resolve before 01:07
    assert done.event_time >= burst[-1].event_time + 30 * MINUTE
    assert done.observed < 5


def test_a_steady_rise_from_20_to_26_an_hour_fires_nothing(
    run_engine: Any, periodic: Any, merge: Merge, t0: datetime
) -> None:
    day = periodic("entity:x", start=t0, every=3 * MINUTE, count=24 * 20, prefix="d")
    rise = periodic("entity:x", start=t0 + 24 * HOUR, every=HOUR / 26, count=3 * 26, prefix="r")
    stream = merge(day, rise)
    minutes = [minute_of(m.event_time) for m in rise]
    busiest = max(sum(1 for n in minutes if m - 9 <= n <= m) for m in minutes)
    assert busiest >= 5, "min_count alone must not be what keeps this quiet"
    assert run_engine(stream) == []


def test_a_never_seen_subject_fires_on_six_mentions(
    run_engine: Any, periodic: Any, merge: Merge, background: list[Mention], t0: datetime
) -> None:
    start = t0 + 24 * HOUR + 20 * MINUTE
    new = periodic("entity:new", start=start, every=timedelta(seconds=100), count=6, prefix="n")
    alerts = by_status(run_engine(merge(background, new)), "firing")
    # a spike on the prior floor, and (the stream is past its warm-up) a first mention
    assert [(a.subject, a.rule) for a in alerts] == [
        ("entity:new", "entity-new"),
        ("entity:new", "entity-spike"),
    ]
    spike = alerts[1]
    assert spike.expected == pytest.approx(10 / 1440, abs=1e-6)  # the prior floor


def test_a_redelivered_article_counts_once_and_fires_nothing(
    run_engine: Any,
    merge: Merge,
    background: list[Mention],
    hourly_x: list[Mention],
    burst: list[Mention],
) -> None:
    copies = [burst[0].model_copy() for _ in range(25)]
    counts = MemoryCounts()
    assert run_engine(merge(background, hourly_x, copies), counts=counts) == []
    minute = minute_of(burst[0].event_time)
    assert asyncio.run(counts.minutes("entity:x", minute - 9, minute)) == 1


@pytest.mark.parametrize("seed", [1, 7, 2024])
def test_a_shuffled_burst_fires_the_same_alert(
    run_engine: Any,
    merge: Merge,
    background: list[Mention],
    hourly_x: list[Mention],
    burst: list[Mention],
    seed: int,
) -> None:
    stream = merge(background, hourly_x, burst)
    shuffled = burst[:]
    random.Random(seed).shuffle(shuffled)
    replacement = iter(shuffled)
    slots = {id(m) for m in burst}
    reordered = [next(replacement) if id(m) in slots else m for m in stream]

    def outline(alerts: list[Alert]) -> list[tuple[str, str, str]]:
        return [(a.subject, a.rule, a.status) for a in alerts]

    expected = outline(run_engine(stream))
    assert expected == [
        ("entity:x", "entity-spike", "firing"),
        ("entity:x", "entity-spike", "resolved"),
    ]
    assert outline(run_engine(reordered)) == expected


def test_one_outlet_alone_cannot_make_a_spike(
    run_engine: Any,
    periodic: Any,
    merge: Merge,
    background: list[Mention],
    hourly_x: list[Mention],
    burst: list[Mention],
    t0: datetime,
) -> None:
    syndicated = periodic(
        "entity:x",
        start=burst[0].event_time,
        every=timedelta(seconds=24),
        count=25,
        prefix="b",
        sources=["وكالة ثقة"],
    )
    stream = merge(background, hourly_x, syndicated)
    assert run_engine(stream) == []
    rule = load_rules().rules[0]
    one_source = RulesFile(rules=(rule.model_copy(update={"min_sources": 1}),))
    assert by_status(run_engine(stream, rules=one_source), "firing"), "min_sources is the cause"


class EvidenceReads(MemoryCounts):
    """Memory counts that count how often the engine reads a window's articles."""

    reads = 0

    async def evidence(self, subject: str, first: int, last: int) -> list[Evidence]:
        self.reads += 1
        return await super().evidence(subject, first, last)


def test_a_windows_articles_are_read_for_alert_events_only(
    run_engine: Any,
    merge: Merge,
    background: list[Mention],
    hourly_x: list[Mention],
    burst: list[Mention],
) -> None:
    """Every mention of a burst re-judges its window, and the spike holds at most of them;
    the articles an alert shows are read when an event is emitted, not at every verdict
    (they were: 17 % of the engine's CPU on a stream with surges)."""
    counts = EvidenceReads()
    alerts = run_engine(merge(background, hourly_x, burst), counts=counts)
    (firing,) = by_status(alerts, "firing")
    assert firing.articles and {e.id for e in firing.articles} <= {m.article_id for m in burst}
    assert 0 < counts.reads <= len(alerts)


def test_outlets_are_counted_up_to_what_a_rule_asks(periodic: Any, t0: datetime) -> None:
    """``sources`` stops once it has found ``enough`` outlets: a rule only asks whether a
    window has its ``min_sources``."""
    counts = MemoryCounts()
    mentions = periodic(
        "entity:x", start=t0, every=MINUTE, count=6, prefix="s", sources=["سانا", "إرنا", "سانا"]
    )
    for m in mentions:
        asyncio.run(counts.record(m))
    first, last = minute_of(t0), minute_of(t0) + 5

    def outlets(*args: int) -> int:
        return asyncio.run(counts.sources("entity:x", *args))

    assert [outlets(first, last, n) for n in (1, 2, 3, 9)] == [1, 2, 2, 2]
    assert outlets(first, first, 9) == 1  # one minute, one article
    assert outlets(last + 1, last + 60, 2) == 0
    assert asyncio.run(counts.sources("entity:y", first, last, 2)) == 0


def test_alert_fields(
    run_engine: Any,
    merge: Merge,
    background: list[Mention],
    hourly_x: list[Mention],
    burst: list[Mention],
    news_ar: dict[str, Any],
) -> None:
    (alert, _) = run_engine(merge(background, hourly_x, burst))
    assert alert.status == "firing" and alert.subject == "entity:x"
    start, end = alert.window.start, alert.window.end
    assert start.second == start.microsecond == end.second == end.microsecond == 0
    assert end - start == 10 * MINUTE
    assert start <= alert.event_time < end

    # The baseline: the 24 full hours before the window's hour, and that hour up to the window.
    part_hour = start - start.replace(minute=0)
    baseline_start = start.replace(minute=0) - timedelta(hours=24)
    baseline = [m for m in hourly_x if baseline_start <= m.event_time < start]
    stats = spike_stats(
        observed=alert.observed,
        baseline_count=len(baseline),
        baseline_minutes=24 * 60 + part_hour.total_seconds() / 60,
        window_minutes=10,
        prior_per_minute=1 / 1440,
    )
    assert alert.observed >= 5
    assert alert.expected == pytest.approx(stats.expected, abs=1e-6)  # rounded to 6 places
    assert alert.ratio == pytest.approx(stats.ratio, abs=1e-6)
    assert alert.p_value == pytest.approx(stats.p_value, rel=1e-12)
    assert alert.p_value <= 0.001 and alert.ratio >= 4

    sent = {m.article_id: (m.title, m.source) for m in burst}
    counted = [m for m in burst if m.event_time <= alert.event_time]
    assert sorted(e.id for e in alert.articles) == sorted(m.article_id for m in counted)
    assert all((e.title, e.source) == sent[e.id] for e in alert.articles)
    assert len({e.source for e in alert.articles}) >= 2

    ar, en = news_ar["names"]["entity:x"]
    assert ar in alert.summary and en in alert.summary
    assert str(alert.observed) in alert.summary
    assert (alert.severity, alert.labels, alert.channels) == (
        "warning",
        {"team": "duty-desk"},
        ["console", "jsonl"],
    )


def test_a_replay_fires_exactly_the_same_alerts(
    run_engine: Any,
    merge: Merge,
    background: list[Mention],
    hourly_x: list[Mention],
    burst: list[Mention],
) -> None:
    stream = merge(background, hourly_x, burst)
    first = run_engine(stream)
    assert first and run_engine(stream) == first


def test_cooldown_suppresses_a_second_burst_then_a_third_is_a_new_episode(
    run_engine: Any,
    periodic: Any,
    merge: Merge,
    background: list[Mention],
    hourly_x: list[Mention],
    burst: list[Mention],
) -> None:
    def again(hours_later: int, prefix: str) -> list[Mention]:
        start = burst[0].event_time + hours_later * HOUR
        return periodic(
            "entity:x", start=start, every=timedelta(seconds=24), count=25, prefix=prefix
        )

    # the first episode resolves at about 01:07; 01:20 is inside its 1h cooldown, 03:20 is not
    alerts = run_engine(merge(background, hourly_x, burst, again(1, "b2"), again(3, "b3")))
    firing = by_status(alerts, "firing")
    assert len(firing) == 2
    assert burst[0].event_time + 3 * HOUR <= firing[1].event_time
    assert firing[1].alert_id != firing[0].alert_id
    assert by_status(alerts, "resolved")[0].alert_id == firing[0].alert_id


def test_a_restarted_engine_continues_from_its_stores(
    run_engine: Any,
    merge: Merge,
    background: list[Mention],
    hourly_x: list[Mention],
    burst: list[Mention],
) -> None:
    stream = merge(background, hourly_x, burst)
    cut = stream.index(burst[10])  # after the alert fired, before it resolves
    counts, episodes = MemoryCounts(), MemoryEpisodes()
    before = run_engine(stream[:cut], counts=counts, episodes=episodes)
    after = run_engine(stream[cut:], counts=counts, episodes=episodes)
    assert [a.status for a in before] == ["firing"]
    assert before + after == run_engine(stream)


def test_a_burst_that_arrives_an_hour_late_is_judged_at_its_own_time(
    run_engine: Any,
    merge: Merge,
    background: list[Mention],
    hourly_x: list[Mention],
    burst: list[Mention],
) -> None:
    """A lagging producer (or another partition of ``articles``) delivers the 00:20 burst
    after the other news reached 01:30: the surge still fires, dated when it happened,
    and resolves once the watermark shows it is over."""
    cutoff = burst[-1].event_time + 70 * MINUTE
    before, after = around(merge(background, hourly_x), cutoff)
    alerts = run_engine([*before, *burst, *after])
    spikes = [a for a in alerts if a.rule == "entity-spike"]
    assert [(a.subject, a.status) for a in spikes] == [
        ("entity:x", "firing"),
        ("entity:x", "resolved"),
    ]
    firing, resolved = spikes
    assert burst[0].event_time <= firing.event_time <= burst[-1].event_time
    assert firing.window.end - firing.window.start == 10 * MINUTE
    assert firing.alert_id == resolved.alert_id and resolved.event_time > cutoff
    in_order = [
        a for a in run_engine(merge(background, hourly_x, burst)) if a.rule == "entity-spike"
    ]
    assert [(a.subject, a.status) for a in in_order] == [(a.subject, a.status) for a in spikes]
    # judged at its own time, the firing says so; judged at the watermark, the rest do not
    assert [a.labels.get("late") for a in spikes] == ["true", None]
    assert [a.labels.get("late") for a in in_order] == [None, None]


def test_a_late_burst_after_a_restart_is_labelled_late(
    run_engine: Any,
    merge: Merge,
    background: list[Mention],
    hourly_x: list[Mention],
    burst: list[Mention],
) -> None:
    """The worker restarts, then the late burst arrives: its aligner starts empty and
    cannot tell it is late, but the engine's watermark, read back from its stores, can."""
    before, after = around(merge(background, hourly_x), burst[-1].event_time + 70 * MINUTE)
    counts, episodes = MemoryCounts(), MemoryEpisodes()
    run_engine(before, counts=counts, episodes=episodes)
    alerts = run_engine([*burst, *after], counts=counts, episodes=episodes)  # restarted
    spikes = [a for a in alerts if a.rule == "entity-spike"]
    assert [(a.status, a.labels.get("late")) for a in spikes] == [
        ("firing", "true"),
        ("resolved", None),
    ]


def test_a_batch_replayed_after_a_crash_still_fires(
    names: Any,
    merge: Merge,
    background: list[Mention],
    hourly_x: list[Mention],
    burst: list[Mention],
) -> None:
    """A worker recorded the burst in Redis, then died before its episodes were flushed:
    the redelivered burst is "already counted", and must still fire."""
    from alerts.engine import RuleEngine

    stream = merge(background, hourly_x, burst)
    cut = stream.index(burst[-1]) + 1
    counts = MemoryCounts()

    async def run() -> list[Alert]:
        before = RuleEngine(load_rules(), counts, MemoryEpisodes(), names)
        await before.on_batch(stream[: stream.index(burst[0])])
        for m in burst:  # the dead worker's records survive; its episodes did not
            await counts.record(m)
        # ... but the partition's start did: RedisEpisodes writes it when the worker starts
        after = RuleEngine(load_rules(), counts, MemoryEpisodes(start=stream[0].event_time), names)
        return await after.on_batch(stream[stream.index(burst[0]) : cut])

    fired = [a for a in asyncio.run(run()) if a.rule == "entity-spike"]
    assert [(a.subject, a.status) for a in fired] == [("entity:x", "firing")]


class ReplayedCounts(MemoryCounts):
    """Counts whose every known mention comes back as its own message replayed (what
    the Redis store says of a message read again after a crash)."""

    async def record(self, mention: Mention) -> Recorded:
        return Recorded.REPLAY if await super().record(mention) == Recorded.DUPLICATE else NEW


def test_steps_judged_before_a_crash_are_counted_and_not_judged_again(
    names: Any,
    merge: Merge,
    background: list[Mention],
    hourly_x: list[Mention],
    burst: list[Mention],
) -> None:
    """A worker judged the burst and flushed, then died before its offsets were
    committed: its successor reads the burst again. Those steps are at or before the last
    position judged — their alerts were sent, their episodes written — so they are counted
    and not judged again; an article that was never counted (a late one) still is."""
    from alerts.engine import RuleEngine

    steps = steps_of(merge(background, hourly_x, burst))
    positions = [(at, mentions[0].article_id, i) for i, (at, mentions) in enumerate(steps)]
    cut = next(i for i, (_, mentions) in enumerate(steps) if mentions[-1] is burst[-1]) + 1
    counts, episodes = ReplayedCounts(), MemoryEpisodes()

    async def run() -> tuple[list[Alert], Any, Any]:
        before = RuleEngine(load_rules(), counts, episodes, names)
        await before.prepare(steps[:cut])
        fired = (await before.evaluate(steps[:cut], positions[:cut])).alerts
        await before.flush()
        after = RuleEngine(load_rules(), counts, episodes, names)  # restarted
        replay = steps[cut - 40 : cut]
        await after.prepare(replay)
        again = await after.evaluate(replay, positions[cut - 40 : cut])
        late = burst[-1].model_copy(update={"article_id": "late", "subject": "entity:x"})
        late_step = [(late.event_time - MINUTE, [late])]
        judged = await after.evaluate(late_step, [(late.event_time - MINUTE, "late", 0)])
        return fired, again, judged

    fired, again, judged = asyncio.run(run())
    assert [(a.subject, a.status) for a in fired if a.rule == "entity-spike"] == [
        ("entity:x", "firing")
    ]
    assert (again.alerts, again.replayed, again.new) == ([], 40, 40)
    assert (judged.replayed, judged.new) == (0, 1)
    assert episodes.position == positions[cut - 1]
