"""``raqib replay --speed`` and ``--loop`` arithmetic, on an injected clock: no sleeping."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from producers.replay import Pacer, event_time, loop_period, shifted

T0 = datetime(2024, 12, 9, tzinfo=UTC)


class FakeClock:
    """A monotonic clock that moves only when slept on (or told to)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def _pacer(speed: float) -> tuple[Pacer, FakeClock]:
    clock = FakeClock()
    return Pacer(speed, clock=clock, sleep=clock.sleep), clock


def test_the_gap_between_two_articles_is_divided_by_the_speed() -> None:
    pacer, clock = _pacer(60.0)
    for minutes in (0, 1, 3, 3, 13):  # an article at 0, 1, 3, 3 and 13 minutes
        pacer.wait(T0 + timedelta(minutes=minutes))
    assert clock.slept == [1.0, 2.0, 10.0]  # 60 s, 120 s, 0 s, 600 s of event time / 60


def test_time_spent_sending_counts_against_the_wait() -> None:
    pacer, clock = _pacer(2.0)
    pacer.wait(T0)
    clock.now += 3.0  # publishing took 3 s
    assert pacer.wait(T0 + timedelta(seconds=10)) == pytest.approx(2.0)  # due at 5 s
    clock.now += 9.0  # far behind: the next one goes at once
    assert pacer.wait(T0 + timedelta(seconds=12)) == 0.0


def test_speed_zero_never_waits_and_untimed_articles_go_at_once() -> None:
    pacer, clock = _pacer(0.0)
    pacer.wait(T0)
    pacer.wait(T0 + timedelta(days=1))
    timed, clock2 = _pacer(10.0)
    timed.wait(T0)
    timed.wait(None)
    timed.wait(T0 - timedelta(minutes=5))  # earlier than the first: at once
    assert clock.slept == [] and clock2.slept == []
    with pytest.raises(ValueError, match="speed"):
        Pacer(-1.0)


def test_a_loop_pass_is_later_by_the_span_plus_one_mean_gap() -> None:
    times = [T0, T0 + timedelta(minutes=10), None, T0 + timedelta(minutes=30)]
    assert loop_period(times) == timedelta(minutes=45)  # 30 + 30/2
    assert loop_period([T0]) == timedelta(seconds=1)


def test_each_pass_has_new_ids_and_shifted_times() -> None:
    article = {"id": "drill-00001", "body": "حلب", "published_at": T0.isoformat()}
    item = (b"drill-00001", json.dumps(article).encode())
    assert shifted(item, 0, timedelta(hours=1)) == item
    key, value = shifted(item, 2, timedelta(hours=1))
    assert key == b"drill-00001~2"
    assert json.loads(value)["id"] == "drill-00001~2"
    assert event_time(value) == T0 + timedelta(hours=2)
    assert shifted((None, b"not json"), 3, timedelta(hours=1)) == (None, b"not json")
