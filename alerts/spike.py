"""Spike math: is k mentions in a window surprising given the subject's baseline rate?

docs/design.md: with baseline rate λ per minute (floored by a prior, so a never-seen subject
has a small non-zero rate) the expected count in a W-minute window is μ = λ·W; a spike
needs k ≥ min_count, k/μ ≥ min_ratio and P(X ≥ k | μ) ≤ max_p for X ~ Poisson(μ).

>>> round(poisson_sf(3, 1.0), 6)
0.080301
>>> s = spike_stats(observed=12, baseline_count=24, baseline_minutes=1440,
...                 window_minutes=10, prior_per_minute=1 / 1440)
>>> round(s.expected, 3), round(s.ratio, 1), s.p_value < 1e-9
(0.167, 72.0, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

_MAX_TERMS = 100_000
_TINY = 1e-17


def poisson_sf(k: int, mu: float) -> float:
    """P(X >= k) for X ~ Poisson(mu), accurate far into the tail (no scipy at run time)."""
    if k <= 0:
        return 1.0
    if mu <= 0.0:
        return 0.0
    log_mu = math.log(mu)

    def log_pmf(i: int) -> float:
        return -mu + i * log_mu - math.lgamma(i + 1)

    if k > mu:  # upper tail: terms fall from the first one, sum them directly
        # relative to P(X = k): term(i+1) = term(i) * mu / (i+1), no lgamma or exp per term
        total = 0.0
        i = k
        term = 1.0
        while term > _TINY * total:
            total += term
            i += 1
            term *= mu / i
            if i - k > _MAX_TERMS:
                break
        return min(1.0, math.exp(log_pmf(k)) * total)
    lower = sum(math.exp(log_pmf(i)) for i in range(k))  # k <= mu: the tail is not small
    return max(0.0, 1.0 - lower)


@dataclass(frozen=True)
class SpikeStats:
    """The numbers an operator reads in a spike alert. The Poisson tail is worked out when
    first read: most windows fail ``min_count`` or ``min_ratio`` first and never need it."""

    observed: int
    expected: float
    ratio: float
    rate_per_minute: float

    @cached_property
    def p_value(self) -> float:
        return poisson_sf(self.observed, self.expected)


def spike_stats(
    *,
    observed: int,
    baseline_count: int,
    baseline_minutes: float,
    window_minutes: float,
    prior_per_minute: float,
) -> SpikeStats:
    """Expected count, ratio and Poisson tail of ``observed`` against the baseline."""
    if window_minutes <= 0 or prior_per_minute <= 0:
        raise ValueError("window and prior must be positive")
    rate = baseline_count / baseline_minutes if baseline_minutes > 0 else 0.0
    rate = max(rate, prior_per_minute)
    expected = rate * window_minutes
    return SpikeStats(
        observed=observed,
        expected=expected,
        ratio=observed / expected,
        rate_per_minute=rate,
    )


def is_spike(stats: SpikeStats, *, min_count: int, min_ratio: float, max_p: float) -> bool:
    """All three conditions of docs/design.md; any one failing means no spike (the p-value,
    the dearest, is read last)."""
    return stats.observed >= min_count and stats.ratio >= min_ratio and stats.p_value <= max_p
