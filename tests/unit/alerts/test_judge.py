"""What a rule says of one subject at one moment (alerts.judge), over counts in memory:
the window against the baseline watched, the silence against the usual rate, and the words
an alert shows, in Arabic first."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from alerts.judge import Judge
from alerts.rules import SilenceRule, SpikeRule
from processors.counts import MemoryCounts
from raqib.messages import Mention

T0 = datetime(2024, 12, 9, tzinfo=UTC)
SUBJECT = "entity:mohammad-javad-zarif"
SNIPPET = "قال الوزيرُ ظريف إنّ إيران لن تتراجع"


def _names(subject: str) -> tuple[str, str]:
    return ("محمد جواد ظريف", "Mohammad Javad Zarif") if subject == SUBJECT else (subject, subject)


def _counts(times: list[datetime], subject: str = SUBJECT, outlets: int = 2) -> MemoryCounts:
    counts = MemoryCounts()
    for i, at in enumerate(times):
        mention = Mention(
            subject=subject,
            article_id=f"a{i}",
            event_time=at,
            source=f"outlet-{i % outlets}",
            title="ظريف يزور دمشق",
            snippet=SNIPPET,
        )
        asyncio.run(counts.record(mention))
    return counts


SPIKE = SpikeRule(
    name="entity-spike", kind="spike", window=timedelta(minutes=10), min_count=5, min_ratio=4,
    max_p=0.001, prior_per_day=1, min_sources=2, warm_up=timedelta(hours=6),
)  # fmt: skip


def test_a_surge_over_a_quiet_day_holds_and_says_so_in_arabic() -> None:
    day = [T0 + timedelta(hours=h) for h in range(0, 24, 6)]  # four mentions a day
    surge = [T0 + timedelta(hours=24, minutes=m) for m in range(8)]
    judge = Judge(_counts(day + surge), _names, max_subjects=10)
    wm = T0 + timedelta(hours=24, minutes=9)

    assert asyncio.run(judge.may_open(SPIKE, SUBJECT, wm, T0))
    judged = asyncio.run(judge.window(SPIKE, SUBJECT, wm, started=T0))

    assert judged.condition
    assert judged.observed == 8
    assert judged.expected < 0.2  # the day's four over 24 h, scaled to 10 minutes
    window, firing, resolved = judged.describe()
    assert (window.start, window.end) == (T0 + timedelta(hours=24), wm + timedelta(minutes=1))
    assert firing.startswith("spike: محمد جواد ظريف (Mohammad Javad Zarif) 8 mentions in 10m")
    assert "back to 8" in resolved
    evidence = asyncio.run(judged.evidence())
    assert [e.id for e in evidence] == [f"a{i}" for i in range(4, 12)]
    assert evidence[0].snippet == SNIPPET


def test_below_min_count_nothing_can_open() -> None:
    judge = Judge(_counts([T0 + timedelta(minutes=m) for m in range(4)]), _names, max_subjects=10)
    assert not asyncio.run(judge.may_open(SPIKE, SUBJECT, T0 + timedelta(minutes=9), T0))


def test_the_baseline_is_what_the_partition_watched() -> None:
    """A subject named every minute for twelve hours, then quiet: eight mentions in ten
    minutes are its usual rate to a partition that watched the whole day, and a surge to
    one that began watching after the busy hours (their counts are not its baseline)."""
    busy = [T0 + timedelta(minutes=m) for m in range(12 * 60)]
    surge = [T0 + timedelta(hours=24, minutes=m) for m in range(8)]
    judge = Judge(_counts(busy + surge), _names, max_subjects=10)
    wm = surge[-1]

    whole_day = asyncio.run(judge.window(SPIKE, SUBJECT, wm, started=T0))
    assert not whole_day.condition
    assert 4 < whole_day.expected < 6  # 720 mentions over 1,440 minutes, for 10 minutes

    since_noon = asyncio.run(judge.window(SPIKE, SUBJECT, wm, started=T0 + timedelta(hours=13)))
    assert since_noon.condition
    assert since_noon.expected < 0.01  # the prior: nothing heard while it watched


def test_one_outlet_alone_cannot_make_a_spike() -> None:
    surge = [T0 + timedelta(hours=24, minutes=m) for m in range(8)]
    judge = Judge(_counts(surge, outlets=1), _names, max_subjects=10)
    judged = asyncio.run(judge.window(SPIKE, SUBJECT, surge[-1], started=T0))
    assert not judged.condition
    assert len(asyncio.run(judged.evidence())) == 8  # a resolution shows what it lacked


def test_an_outlet_quiet_far_past_its_usual_gap_is_a_silence() -> None:
    outlet = "source:سانا"
    rule = SilenceRule(name="outlet-silence", kind="silence")
    heard = [T0 + timedelta(minutes=10 * k) for k in range(6 * 30)]  # every 10 min, 30 h
    judge = Judge(_counts(heard, subject=outlet), _names, max_subjects=10)
    last = heard[-1]

    judged = asyncio.run(judge.silence(rule, outlet, last + timedelta(hours=2), last, T0))
    assert judged.condition
    assert 11.9 < judged.expected < 12.2  # about six an hour, for two hours
    _, firing, resolved = judged.describe()
    assert firing.startswith("silence: source:سانا (source:سانا) quiet for 2h")
    assert "usually 6.0 an hour" in firing

    soon = asyncio.run(judge.silence(rule, outlet, last + timedelta(minutes=20), last, T0))
    assert not soon.condition
