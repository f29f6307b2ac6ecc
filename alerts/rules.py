"""Alert rules as validated config: one pydantic model per kind, picked by ``kind``.

The packaged ``alerts/data/rules.yaml`` documents every field; a file of the same shape
replaces it (``--rules`` or ``RAQIB_RULES``).

>>> rules = load_rules()
>>> rules.rules[0].kind
'spike'
"""

from __future__ import annotations

from datetime import timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alerts.spike import SpikeStats, is_spike
from raqib.config import load_model, load_packaged
from raqib.durations import Duration

Severity = Literal["info", "warning", "critical"]


class RuleBase(BaseModel):
    """What every rule has: which subjects, how loud, how often, where to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    subjects: tuple[str, ...] = Field(
        ("entity:*",), description="glob patterns on subjects: entity:*, entity:iran, topic:*"
    )
    severity: Severity = "warning"
    cooldown: Duration = timedelta(hours=1)
    resolve_after: Duration = timedelta(minutes=30)
    labels: dict[str, str] = Field(default_factory=dict)
    channels: tuple[str, ...] = ("console", "jsonl")
    enabled: bool = True

    def matches(self, subject: str) -> bool:
        return any(fnmatchcase(subject, pattern) for pattern in self.subjects)


class WindowRule(RuleBase):
    """A rule judged on the mentions in a window, against the subject's baseline rate."""

    kind: str

    window: Duration = timedelta(minutes=10)
    baseline: Duration = timedelta(hours=24)
    min_count: int = Field(5, ge=1)
    prior_per_day: float = Field(1.0, gt=0, description="floor of the baseline rate")
    min_sources: int = Field(1, ge=1, description="distinct outlets needed in the window")

    def holds(self, stats: SpikeStats) -> bool:
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
    """DESIGN.md's Poisson spike: k ≥ min_count, k/μ ≥ min_ratio, P(X ≥ k | μ) ≤ max_p."""

    kind: Literal["spike"]
    min_ratio: float = Field(4.0, gt=0)
    max_p: float = Field(0.001, gt=0, le=1)

    def holds(self, stats: SpikeStats) -> bool:
        return is_spike(stats, min_count=self.min_count, min_ratio=self.min_ratio, max_p=self.max_p)


class ThresholdRule(WindowRule):
    """At least ``min_count`` mentions in the window, whatever the baseline (which the alert
    still reports: expected, ratio and p-value)."""

    kind: Literal["threshold"]

    def holds(self, stats: SpikeStats) -> bool:
        return stats.observed >= self.min_count


Rule = Annotated[SpikeRule | ThresholdRule, Field(discriminator="kind")]
RULE_KINDS: dict[str, type[WindowRule]] = {"spike": SpikeRule, "threshold": ThresholdRule}


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

    def for_subject(self, subject: str) -> list[WindowRule]:
        return [r for r in self.rules if r.enabled and r.matches(subject)]


def load_rules(path: str | Path | None = None) -> RulesFile:
    """The packaged default rules, or the file given (flag or ``RAQIB_RULES``)."""
    if path is None:
        return load_packaged("alerts", "rules.yaml", RulesFile)
    return load_model(path, RulesFile)
