"""Alert rules as validated config: one pydantic model per kind, picked by ``kind``.

The packaged ``alerts/data/rules.yaml`` documents every field; a file of the same shape
replaces it (``--rules`` or ``RAQIB_RULES``).

>>> rules = load_rules()
>>> rules.rules[0].kind
'spike'
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alerts.spike import SpikeStats, is_spike
from raqib.config import load_model, load_packaged
from raqib.durations import Duration
from raqib.messages import EntityTypeName

Severity = Literal["info", "warning", "critical"]

SPIKE_WARM_UP = timedelta(hours=6)
"""How long a partition watches before a spike may fire. A baseline rate is mentions over
the time actually watched, so a young partition's rates are honest but rough: from n
mentions the rate is known to about 1/sqrt(n). The subjects chance can push past a spike
rule are those with about min_count / min_ratio mentions per window (5 / 4 in 10 minutes,
7.5 an hour, for entity-spike; 6 / 4 in 30 minutes for topic-spike): after 6 hours their
baselines hold 45 and 18 mentions, rates known to 15-25%, well inside the x4 a spike
needs; after one hour, 7.5 and 3, and an estimate off by half is common. Six hours is also
36 ten-minute windows and a quarter of the 24 h baseline; a big enough story then fires on
its first day, where a full day's warm-up would hide it (``raqib backfill`` warms a new
deployment from history instead)."""
FIRST_WARM_UP = timedelta(hours=24)
"""How long a partition watches before anything may be "new" or "first": a whole day of
news, so that a subject of every day is seen once before its absence means something."""
SILENCE_WARM_UP = timedelta(hours=24)
"""How long a partition watches before an outlet may be called silent: a whole day, so that
its usual rate includes the night's lull (from daytime hours alone every night is quiet)."""


@dataclass(frozen=True, slots=True)
class Observation:
    """What a window rule judges: the window against the baseline before it (the baseline
    clipped to the time the partition actually watched)."""

    stats: SpikeStats
    baseline_count: int


class RuleBase(BaseModel):
    """What every rule has: which subjects, how loud, how often, where to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    kind: str
    subjects: tuple[str, ...] = Field(
        ("entity:*",), description="glob patterns on subjects: entity:*, entity:iran, topic:*"
    )
    types: tuple[EntityTypeName, ...] = Field(
        (), description="only entities of these types (and pairs of them); empty: any subject"
    )
    tags: tuple[str, ...] = Field(
        (), description="only entities carrying one of these watchlist tags (a pair: either)"
    )
    not_tags: tuple[str, ...] = Field(
        (), description="never entities carrying one of these watchlist tags (a pair: either)"
    )
    severity: Severity = "warning"
    cooldown: Duration = timedelta(hours=1)
    resolve_after: Duration = timedelta(minutes=30)
    labels: dict[str, str] = Field(default_factory=dict)
    channels: tuple[str, ...] = ("console", "jsonl")
    enabled: bool = True
    warm_up: Duration = Field(
        timedelta(0),
        description="no firing until the partition has watched this long (event time; "
        "restarts after a gap in the stream); 0s where history was backfilled",
    )

    def warm(self, watching: timedelta) -> bool:
        """Whether a partition that has watched for ``watching`` is past the warm-up."""
        return watching >= self.warm_up

    def matches(self, subject: str, types: Sequence[str] = (), tags: Collection[str] = ()) -> bool:
        """``types``: the entity types the subject names (one for an entity, two for a
        pair, none for a topic or a source); ``tags``: the watchlist tags of its entities."""
        if self.types and not (types and all(t in self.types for t in types)):
            return False
        if self.tags and not any(t in tags for t in self.tags):
            return False
        if any(t in tags for t in self.not_tags):
            return False
        return any(fnmatchcase(subject, pattern) for pattern in self.subjects)


class WindowRule(RuleBase):
    """A rule judged on the mentions in a window, against the subject's baseline rate."""

    window: Duration = timedelta(minutes=10)
    baseline: Duration = timedelta(hours=24)
    min_count: int = Field(5, ge=1)
    prior_per_day: float = Field(1.0, gt=0, description="floor of the baseline rate")
    min_sources: int = Field(1, ge=1, description="distinct outlets needed in the window")

    def holds(self, obs: Observation) -> bool:
        """The rule's condition on the window (before the min_sources check)."""
        raise NotImplementedError

    @model_validator(mode="after")
    def _buckets(self) -> WindowRule:
        if self.window < timedelta(minutes=1) or self.window.total_seconds() % 60:
            raise ValueError("window must be a whole number of minutes (minute buckets)")
        if self.window > timedelta(days=2):
            raise ValueError("window must be at most 2d (minute buckets are kept 2 days)")
        if self.baseline < timedelta(hours=1) or self.baseline.total_seconds() % 3600:
            raise ValueError("baseline must be a whole number of hours (hour buckets)")
        if self.baseline > timedelta(days=35):
            raise ValueError("baseline must be at most 35d (hour buckets are kept 35 days)")
        return self

    @property
    def window_minutes(self) -> int:
        return int(self.window.total_seconds() // 60)

    @property
    def baseline_hours(self) -> int:
        return int(self.baseline.total_seconds() // 3600)


class SpikeRule(WindowRule):
    """docs/design.md's Poisson spike: k ≥ min_count, k/μ ≥ min_ratio, P(X ≥ k | μ) ≤ max_p."""

    kind: Literal["spike"]
    min_ratio: float = Field(4.0, gt=0)
    max_p: float = Field(0.001, gt=0, le=1)
    warm_up: Duration = Field(
        SPIKE_WARM_UP,
        description="no spike until the partition has watched this long: a rate from a few "
        "minutes of watching is noise (see SPIKE_WARM_UP); 0s where history was backfilled",
    )

    def holds(self, obs: Observation) -> bool:
        return is_spike(
            obs.stats, min_count=self.min_count, min_ratio=self.min_ratio, max_p=self.max_p
        )


class ThresholdRule(WindowRule):
    """At least ``min_count`` mentions in the window, whatever the baseline (which the alert
    still reports: expected, ratio and p-value). No warm-up by default: a count needs no
    history."""

    kind: Literal["threshold"]

    def holds(self, obs: Observation) -> bool:
        return obs.stats.observed >= self.min_count


def _first_mentions(obs: Observation, *, min_count: int) -> bool:
    """At least ``min_count`` mentions now and none in the whole (watched) baseline before:
    only meaningful after a warm-up, else every subject of a stream's first hours is new."""
    return obs.baseline_count == 0 and obs.stats.observed >= min_count


class NewRule(WindowRule):
    """A subject's first mentions after a warm-up: seen ``min_count`` times in the window
    and never in the ``baseline`` before it (up to 35 days)."""

    kind: Literal["new"]
    baseline: Duration = timedelta(days=7)
    min_count: int = Field(2, ge=1)
    warm_up: Duration = Field(
        FIRST_WARM_UP,
        description="no first mention until the partition has watched this long: in a "
        "stream's first day everything is new",
    )

    def holds(self, obs: Observation) -> bool:
        return _first_mentions(obs, min_count=self.min_count)


class CooccurrenceRule(WindowRule):
    """Two entities suddenly named together in the same articles (subjects ``pair:a+b``):
    ``mode: spike`` is docs/design.md's spike math on the pair's count; ``mode: first`` fires on
    a pair never seen in the baseline, like ``new``. The warm-up follows the mode unless
    given: a spike's (6 h), or a first mention's (24 h)."""

    kind: Literal["cooccurrence"]
    subjects: tuple[str, ...] = ("pair:*",)
    mode: Literal["spike", "first"] = "spike"
    min_ratio: float = Field(4.0, gt=0)
    max_p: float = Field(0.001, gt=0, le=1)
    warm_up: Duration = Field(
        FIRST_WARM_UP,
        description="no firing until the partition has watched this long; default 6h for "
        "mode: spike (as spike rules), 24h for mode: first (as new rules)",
    )

    @model_validator(mode="before")
    @classmethod
    def _warm_up_of_mode(cls, data: Any) -> Any:
        if isinstance(data, dict) and "warm_up" not in data and data.get("mode") != "first":
            return {**data, "warm_up": SPIKE_WARM_UP}
        return data

    @model_validator(mode="after")
    def _pairs_only(self) -> CooccurrenceRule:
        wrong = [s for s in self.subjects if not s.startswith("pair:")]
        if wrong:
            raise ValueError(f"cooccurrence rules watch pair:<id>+<id> subjects, not {wrong}")
        return self

    def holds(self, obs: Observation) -> bool:
        if self.mode == "first":
            return _first_mentions(obs, min_count=self.min_count)
        return is_spike(
            obs.stats, min_count=self.min_count, min_ratio=self.min_ratio, max_p=self.max_p
        )


class SilenceRule(RuleBase):
    """A subject (by default an outlet) quiet for longer than its usual gap.

    With λ its rate over ``baseline`` before its last mention, a silence of g minutes has
    probability e^(−λg) under Poisson arrivals; the rule fires when that is ≤ ``max_p``,
    g ≥ ``min_silence`` and the baseline held at least ``min_baseline_count`` mentions
    (a subject seen twice a week has no "usual gap" to break). The rate is over the time the
    partition actually watched, and nothing fires before a day of it (``warm_up``).
    """

    kind: Literal["silence"]
    subjects: tuple[str, ...] = ("source:*",)
    baseline: Duration = timedelta(hours=24)
    min_silence: Duration = timedelta(minutes=30)
    max_p: float = Field(0.001, gt=0, le=1)
    min_baseline_count: int = Field(24, ge=1)
    resolve_after: Duration = timedelta(0)
    warm_up: Duration = Field(
        SILENCE_WARM_UP,
        description="no silence until the partition has watched this long: a usual rate "
        "needs a whole day, night included",
    )

    @model_validator(mode="after")
    def _hours(self) -> SilenceRule:
        if self.baseline < timedelta(hours=1) or self.baseline.total_seconds() % 3600:
            raise ValueError("baseline must be a whole number of hours (hour buckets)")
        if self.baseline > timedelta(days=35):
            raise ValueError("baseline must be at most 35d (hour buckets are kept 35 days)")
        return self

    @property
    def baseline_hours(self) -> int:
        return int(self.baseline.total_seconds() // 3600)

    def holds(self, *, silent_minutes: float, rate_per_minute: float, baseline_count: int) -> bool:
        return (
            baseline_count >= self.min_baseline_count
            and silent_minutes >= self.min_silence.total_seconds() / 60
            and silence_p(silent_minutes, rate_per_minute) <= self.max_p
        )


def silence_p(silent_minutes: float, rate_per_minute: float) -> float:
    """P(no mention in ``silent_minutes``) for Poisson arrivals at ``rate_per_minute``.

    >>> round(silence_p(60, 0.1), 6)
    0.002479
    """
    return math.exp(-rate_per_minute * max(silent_minutes, 0.0))


Rule = Annotated[
    SpikeRule | ThresholdRule | NewRule | CooccurrenceRule | SilenceRule,
    Field(discriminator="kind"),
]
RULE_KINDS: dict[str, type[RuleBase]] = {
    "spike": SpikeRule,
    "threshold": ThresholdRule,
    "new": NewRule,
    "cooccurrence": CooccurrenceRule,
    "silence": SilenceRule,
}


class RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: tuple[Rule, ...]

    @model_validator(mode="after")
    def _unique_names(self) -> RulesFile:
        names = [r.name for r in self.rules]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate rule names: {', '.join(dupes)}")
        return self

    def for_subject(
        self, subject: str, types: Sequence[str] = (), tags: Collection[str] = ()
    ) -> list[WindowRule | SilenceRule]:
        return [r for r in self.rules if r.enabled and r.matches(subject, types, tags)]


def load_rules(path: str | Path | None = None) -> RulesFile:
    """The packaged default rules, or the file given (flag or ``RAQIB_RULES``)."""
    if path is None:
        return load_packaged("alerts", "rules.yaml", RulesFile)
    return load_model(path, RulesFile)
