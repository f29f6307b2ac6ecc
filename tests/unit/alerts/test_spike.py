"""Poisson spike math, checked against scipy and by its properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import poisson

from alerts.spike import SpikeStats, is_spike, poisson_sf, spike_stats

MUS = [1e-8, 1e-4, 10 / 1440, 1 / 6, 0.5, 1.0, 3.3333, 10.0, 30.5, 100.0, 999.9, 1e4]
KS = [0, 1, 2, 3, 5, 6, 10, 12, 25, 50, 100, 500, 1000, 5000, 10_050, 12_000]
# the tiny-mu tail underflows doubles near k = 50 (mu = 1e-8); 1e-300 leaves it a margin
FLOOR = 1e-300


def assert_matches_scipy(k: int, mu: float) -> None:
    expected = float(poisson.sf(k - 1, mu))  # scipy's sf is P(X > k-1) = P(X >= k)
    got = poisson_sf(k, mu)
    assert 0.0 <= got <= 1.0
    if expected > FLOOR:
        assert abs(got - expected) <= 1e-9 * expected, (k, mu, got, expected)
    else:
        assert got <= 1e-290


@pytest.mark.parametrize("mu", MUS)
def test_matches_scipy_on_a_grid(mu: float) -> None:
    around_mu = [int(mu), int(mu) + 1, int(mu) + 2, int(2 * mu) + 1, int(1.1 * mu) + 3]
    for k in sorted(set(KS + around_mu)):
        assert_matches_scipy(k, mu)


@settings(max_examples=300, deadline=None)
@given(
    k=st.integers(min_value=0, max_value=3000),
    mu=st.floats(min_value=1e-9, max_value=5000.0, allow_nan=False, allow_infinity=False),
)
def test_matches_scipy_anywhere(k: int, mu: float) -> None:
    assert_matches_scipy(k, mu)


def test_edges() -> None:
    assert poisson_sf(0, 3.0) == poisson_sf(-2, 3.0) == 1.0
    assert poisson_sf(1, 0.0) == 0.0
    assert poisson_sf(1, 2.0) == pytest.approx(1 - math.exp(-2.0), rel=1e-15)


@settings(max_examples=300, deadline=None)
@given(
    k=st.integers(min_value=0, max_value=2000),
    mu=st.floats(min_value=1e-9, max_value=2000.0, allow_nan=False),
)
def test_non_increasing_in_k(k: int, mu: float) -> None:
    assert poisson_sf(k + 1, mu) <= poisson_sf(k, mu)


@settings(max_examples=300, deadline=None)
@given(
    k=st.integers(min_value=0, max_value=2000),
    mu=st.floats(min_value=1e-9, max_value=2000.0, allow_nan=False),
    factor=st.floats(min_value=1.0, max_value=100.0, allow_nan=False),
)
def test_non_decreasing_in_mu(k: int, mu: float, factor: float) -> None:
    lower, higher = poisson_sf(k, mu), poisson_sf(k, mu * factor)
    assert higher >= lower * (1 - 1e-9), "allowing rounding only (seen: 1.8e-12), not a decrease"


@settings(max_examples=300, deadline=None)
@given(
    min_count=st.integers(min_value=1, max_value=50),
    observed=st.integers(min_value=0, max_value=49),
    baseline_count=st.integers(min_value=0, max_value=10),
)
def test_no_spike_below_min_count_whatever_the_ratio(
    min_count: int, observed: int, baseline_count: int
) -> None:
    stats = spike_stats(
        observed=observed,
        baseline_count=baseline_count,
        baseline_minutes=35 * 24 * 60,
        window_minutes=10,
        prior_per_minute=1e-9,  # a tiny prior: the ratio is huge for any observed > 0
    )
    if observed < min_count:
        assert not is_spike(stats, min_count=min_count, min_ratio=1.0, max_p=1.0)


def test_spike_stats_documented_example() -> None:
    s = spike_stats(
        observed=12,
        baseline_count=24,
        baseline_minutes=1440,
        window_minutes=10,
        prior_per_minute=1 / 1440,
    )
    assert s.expected == pytest.approx(10 / 60)
    assert s.ratio == pytest.approx(72.0)
    assert s.rate_per_minute == pytest.approx(24 / 1440)
    assert s.p_value == pytest.approx(float(poisson.sf(11, 10 / 60)), rel=1e-9)


@pytest.mark.parametrize("baseline_minutes", [1440.0, 0.0])
def test_a_never_seen_subject_uses_the_prior_floor(baseline_minutes: float) -> None:
    s = spike_stats(
        observed=6,
        baseline_count=0,
        baseline_minutes=baseline_minutes,
        window_minutes=10,
        prior_per_minute=1 / 1440,
    )
    assert s.rate_per_minute == 1 / 1440
    assert s.expected == pytest.approx(10 / 1440)
    assert s.ratio == pytest.approx(6 * 144)
    assert 0 < s.p_value < 1e-12
    quiet = spike_stats(
        observed=0,
        baseline_count=0,
        baseline_minutes=baseline_minutes,
        window_minutes=10,
        prior_per_minute=1 / 1440,
    )
    assert (quiet.ratio, quiet.p_value) == (0.0, 1.0)


def test_the_prior_only_floors_a_real_rate() -> None:
    s = spike_stats(
        observed=6,
        baseline_count=480,
        baseline_minutes=1440,
        window_minutes=10,
        prior_per_minute=1 / 1440,
    )
    assert s.rate_per_minute == pytest.approx(1 / 3)


@pytest.mark.parametrize(("window", "prior"), [(0, 1 / 1440), (10, 0.0), (-1, 1.0)])
def test_spike_stats_refuses_a_zero_window_or_prior(window: float, prior: float) -> None:
    with pytest.raises(ValueError):
        spike_stats(
            observed=1,
            baseline_count=0,
            baseline_minutes=60,
            window_minutes=window,
            prior_per_minute=prior,
        )


@pytest.mark.parametrize(
    ("observed", "ratio", "p_value", "spike"),
    [
        (5, 4.0, 0.001, True),  # every condition exactly at its limit
        (40, 90.0, 1e-30, True),
        (4, 90.0, 1e-30, False),  # too few
        (40, 3.99, 1e-30, False),  # not enough above the baseline
        (40, 90.0, 0.0011, False),  # not surprising enough
    ],
)
def test_is_spike_needs_all_three(observed: int, ratio: float, p_value: float, spike: bool) -> None:
    stats = SpikeStats(observed=observed, expected=1.0, ratio=ratio, rate_per_minute=0.1)
    stats.__dict__["p_value"] = p_value  # as if worked out (a cached property)
    assert is_spike(stats, min_count=5, min_ratio=4.0, max_p=0.001) is spike


def test_the_tail_is_only_worked_out_when_the_count_and_ratio_pass() -> None:
    few = spike_stats(
        observed=2, baseline_count=0, baseline_minutes=60, window_minutes=10, prior_per_minute=1
    )
    assert not is_spike(few, min_count=5, min_ratio=4.0, max_p=0.001)
    assert "p_value" not in few.__dict__
    assert few.p_value == poisson_sf(2, 10.0)
