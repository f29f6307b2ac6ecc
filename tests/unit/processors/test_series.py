"""A subject's counts per minute or hour (processors.series): every range sum equals the
sum of the counts in it, whatever order counts arrive in, late ones and drops included."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.series import Series

TIMES = st.integers(min_value=0, max_value=60)
ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), TIMES, st.integers(min_value=-3, max_value=5)),
        st.tuples(st.just("drop"), TIMES, st.just(0)),
    ),
    max_size=80,
)


def _sums_agree(series: Series, counts: dict[int, int]) -> None:
    for first in range(-1, 62, 3):
        for last in range(first - 1, 63, 5):
            expected = sum(n for t, n in counts.items() if first <= t <= last)
            assert series.sum(first, last) == expected, (first, last)


@settings(max_examples=300, deadline=None)
@given(ACTIONS)
def test_a_range_sum_is_the_sum_of_its_counts(actions: list[tuple[str, int, int]]) -> None:
    series, counts = Series(), {}
    for action, time, n in actions:
        if action == "add":
            series.add(time, n)
            counts[time] = counts.get(time, 0) + n
        else:
            series.drop_before(time)
            counts = {t: c for t, c in counts.items() if t >= time}
        _sums_agree(series, counts)
    assert series.times() == sorted(counts)
    assert all(series.get(t) == n for t, n in counts.items())


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(TIMES, st.integers(min_value=0, max_value=9)), max_size=40))
def test_built_at_once_as_added_one_by_one(counts: list[tuple[int, int]]) -> None:
    """A subject's hours loaded from Redis (in any order) make the series its counting
    would have made."""
    added = Series()
    for time, n in counts:
        added.add(time, n)
    built = Series(counts)
    assert built.times() == added.times()
    _sums_agree(built, {t: added.get(t) for t in added.times()})


def test_counts_in_event_time_order_then_a_late_one() -> None:
    minutes = Series()
    for minute in (29_000_000, 29_000_000, 29_000_003, 29_000_009):
        minutes.add(minute)
    assert minutes.sum(29_000_000, 29_000_009) == 4
    minutes.add(29_000_001)  # a mention a minute late
    assert minutes.sum(29_000_001, 29_000_003) == 2
    assert minutes.sum(29_000_004, 29_000_008) == 0
    assert len(minutes) == 4
