"""What a rule says of one subject at one moment, read from one partition's counts: its
window against its baseline (spike, new, co-occurrence rules), or its silence against its
usual rate (silence rules), with the numbers and the words an alert shows.

:class:`alerts.engine.RuleEngine` decides *when* to judge (the watermark, the steps of the
stream, the episodes); this module says *what* a judgement is. Neither reads the wall
clock: ``wm`` is the watermark (or a late mention's own time), ``started`` when the
partition began watching (a baseline starts no earlier: mentions over the time actually
watched).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from alerts.rules import Observation, SilenceRule, WindowRule, silence_p
from alerts.spike import spike_stats
from raqib.counting import HOUR, MINUTE, CountStore, hour_of, minute_of
from raqib.durations import format_duration
from raqib.lru import BoundedCache
from raqib.messages import Evidence, Window

SubjectNames = Callable[[str], tuple[str, str]]
"""subject -> (Arabic name, English name), for one-line summaries."""


@dataclass(frozen=True, slots=True)
class Baseline:
    """The buckets of a baseline and the minutes they watched: hour buckets ``hours`` and
    the minute buckets ``gap`` of the part hour before the window (inclusive ranges; the
    hours are empty when ``hours[1] < hours[0]``)."""

    hours: tuple[int, int]
    gap: tuple[int, int] | None
    minutes: int


def baseline_before(first_minute: int, baseline_hours: int, since_minute: int) -> Baseline:
    """The baseline before a window that starts at minute ``first_minute``: the
    ``baseline_hours`` whole hours before the window's hour, then that hour up to the
    window, clipped to start no earlier than ``since_minute``, the partition's first watched
    minute (mentions over the time actually watched).

    The hour bucket that holds ``since_minute`` is read whole: nothing before it was
    counted. Live (Redis, mirrored) and ``raqib backtest`` (memory) read these same buckets.

    Minutes and hours below count from a midnight ``M`` (in minutes since the epoch); a
    window at 10:20 with a 24 h baseline, watched since 09:00 the day before, reads the
    hours from 10:00 the day before to 09:00 (-14..9), then 10:00-10:19, all watched:

    >>> H, M = 60, 20_000 * 24 * 60
    >>> def at(b: Baseline) -> tuple[list[int], list[int] | None, int]:
    ...     gap = None if b.gap is None else [m - M for m in b.gap]
    ...     return [h - M // H for h in b.hours], gap, b.minutes
    >>> at(baseline_before(M + 10 * H + 20, 24, M - 15 * H))
    ([-14, 9], [600, 619], 1460)

    Watched since 09:40: the 09:00 hour (40 minutes of it watched) and 10:00-10:19.

    >>> at(baseline_before(M + 10 * H + 20, 24, M + 9 * H + 40))
    ([9, 9], [600, 619], 40)

    Since 10:05: no hour, 10:05-10:19; since 10:30, after the window began: nothing.

    >>> at(baseline_before(M + 10 * H + 20, 24, M + 10 * H + 5))
    ([10, 9], [605, 619], 15)
    >>> at(baseline_before(M + 10 * H + 20, 24, M + 10 * H + 30))
    ([10, 9], None, 0)
    """
    per_hour = HOUR // MINUTE
    window_hour = first_minute // per_hour  # the hour bucket the window starts in
    first_hour = max(window_hour - baseline_hours, since_minute // per_hour)
    gap_first = max(window_hour * per_hour, since_minute)
    gap = (gap_first, first_minute - 1) if first_minute > gap_first else None
    start = max((window_hour - baseline_hours) * per_hour, since_minute)
    return Baseline((first_hour, window_hour - 1), gap, max(first_minute - start, 0))


def _ts(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


@dataclass(frozen=True, slots=True)
class Judgement:
    """A rule's verdict on one subject at the watermark, with the numbers an alert shows.

    Most verdicts change nothing, so the window and the summaries are only put into words
    (``describe``) when an alert event is emitted.
    """

    condition: bool
    observed: int
    expected: float
    ratio: float
    p_value: Callable[[], float]  # worked out only for an alert event
    evidence: Callable[[], Awaitable[list[Evidence]]]  # read only for an alert event
    describe: Callable[[], tuple[Window, str, str]]  # window, firing and resolved summaries


_Span = tuple[int, int, Baseline]
"""A window's first and last minutes and the baseline before it."""


class Judge:
    """Judges rules on subjects over ``counts``; ``names`` puts subjects into words.

    A subject's usual rate (silence rules) is cached, at most ``max_subjects`` of them:
    it changes only when the subject is heard (:meth:`heard`)."""

    def __init__(self, counts: CountStore, names: SubjectNames, *, max_subjects: int) -> None:
        self.counts = counts
        self.names = names
        self._usual: BoundedCache[tuple[str, str], tuple[datetime, datetime, int, float]] = (
            BoundedCache("engine_usual", max_subjects)
        )
        self._spans: dict[str, tuple[datetime, datetime, _Span]] = {}
        """Per rule, the span of the last watermark it was asked at."""

    def heard(self, rule: SilenceRule, subject: str) -> None:
        """The subject's counts changed: its usual rate is read again."""
        self._usual.pop((rule.name, subject), None)

    def _span(self, rule: WindowRule, wm: datetime, started: datetime) -> _Span:
        """The window's first and last minutes and its baseline: the same for every
        subject a rule judges at one watermark (dozens a step), so worked out once per
        rule and watermark."""
        cached = self._spans.get(rule.name)
        if cached is not None and cached[0] is wm and cached[1] is started:
            return cached[2]
        last_minute = minute_of(wm)
        first_minute = last_minute - rule.window_minutes + 1
        base = baseline_before(first_minute, rule.baseline_hours, minute_of(started))
        span = first_minute, last_minute, base
        self._spans[rule.name] = (wm, started, span)
        return span

    async def may_open(
        self, rule: WindowRule, subject: str, wm: datetime, started: datetime
    ) -> bool:
        """Whether the window ending at ``wm`` holds the rule's ``min_count``: every window
        kind needs it, so below it (with no episode open) nothing can happen and the
        baseline need not be read."""
        first_minute, last_minute, _ = self._span(rule, wm, started)
        return await self.counts.minutes(subject, first_minute, last_minute) >= rule.min_count

    async def window(
        self, rule: WindowRule, subject: str, wm: datetime, started: datetime
    ) -> Judgement:
        """The window ending at ``wm`` against the baseline just before it: whole hours,
        then the minutes of the part hour up to the window, as far as watched (since
        ``started``, when the partition began watching)."""
        first_minute, last_minute, base = self._span(rule, wm, started)
        observed, baseline = await self.counts.window(
            subject, (first_minute, last_minute), base.hours, base.gap
        )
        stats = spike_stats(
            observed=observed,
            baseline_count=baseline,
            baseline_minutes=base.minutes,
            window_minutes=rule.window_minutes,
            prior_per_minute=rule.prior_per_day / 1440,
        )
        spiked = rule.warm(wm - started) and rule.holds(Observation(stats, baseline))
        condition = spiked
        if spiked and rule.min_sources > 1:  # a window that holds has a mention, an outlet
            enough = rule.min_sources
            condition = (
                await self.counts.sources(subject, first_minute, last_minute, enough) >= enough
            )

        async def evidence() -> list[Evidence]:
            """The window's articles, shown by an alert event (a resolution that only
            lacked outlets shows them too)."""
            if not spiked:
                return []
            return await self.counts.evidence(subject, first_minute, last_minute)

        def describe() -> tuple[Window, str, str]:
            ar, en = self.names(subject)
            window = format_duration(rule.window)
            return (
                Window(start=_ts(first_minute * MINUTE), end=_ts((last_minute + 1) * MINUTE)),
                f"{rule.kind}: {ar} ({en}) {stats.observed} mentions in {window}, "
                f"expected {stats.expected:.1f} (x{stats.ratio:.0f}, p={stats.p_value:.1e})",
                f"resolved: {ar} ({en}) back to {stats.observed} mentions in {window} "
                f"(expected {stats.expected:.1f})",
            )

        return Judgement(
            condition=condition,
            observed=stats.observed,
            expected=stats.expected,
            ratio=stats.ratio,
            p_value=lambda: stats.p_value,
            evidence=evidence,
            describe=describe,
        )

    async def usual_rate(
        self, rule: SilenceRule, subject: str, last: datetime, started: datetime
    ) -> tuple[int, float]:
        """Mentions in the baseline hours before the last one and in its own hour, as far
        as watched, and their rate per minute over the minutes watched; read once per last
        mention, not every minute of a silence (:meth:`heard` forgets it)."""
        cached = self._usual.get((rule.name, subject))
        if cached is not None and cached[:2] == (last, started):
            return cached[2], cached[3]
        count, rate = await self.baseline_rate(rule, subject, last, started)
        self._usual[(rule.name, subject)] = (last, started, count, rate)
        return count, rate

    async def baseline_rate(
        self, rule: SilenceRule, subject: str, last: datetime, started: datetime
    ) -> tuple[int, float]:
        """:meth:`usual_rate`, read from the counts."""
        since = minute_of(started)
        hour = hour_of(last)
        first_hour = max(hour - rule.baseline_hours, since * MINUTE // HOUR)
        count = await self.counts.hours(subject, first_hour, hour)
        start = max((hour - rule.baseline_hours) * HOUR // MINUTE, since)
        watched = minute_of(last) + 1 - start  # to the end of the last mention's minute
        return count, count / watched if watched > 0 else 0.0

    async def silence(
        self, rule: SilenceRule, subject: str, wm: datetime, last: datetime, started: datetime
    ) -> Judgement:
        """How long a subject last heard at ``last`` has been quiet at ``wm``, against its
        usual rate."""
        count, rate = await self.usual_rate(rule, subject, last, started)
        silent = (wm - last).total_seconds() / 60
        p_value = silence_p(silent, rate)
        condition = rule.warm(wm - started) and rule.holds(
            silent_minutes=silent, rate_per_minute=rate, baseline_count=count
        )

        async def evidence() -> list[Evidence]:
            """The last articles heard, so that the operator sees where it stopped."""
            if not condition:
                return []
            return await self.counts.evidence(subject, minute_of(last), minute_of(last))

        def describe() -> tuple[Window, str, str]:
            ar, en = self.names(subject)
            quiet = format_duration(timedelta(minutes=int(silent)))
            return (
                Window(start=last, end=wm),
                f"silence: {ar} ({en}) quiet for {quiet}, usually {rate * 60:.1f} an hour "
                f"(p={p_value:.1e})",
                f"resolved: {ar} ({en}) heard again after {quiet}",
            )

        return Judgement(
            condition=condition,
            observed=0,
            expected=rate * silent,
            ratio=0.0,
            p_value=lambda: p_value,
            evidence=evidence,
            describe=describe,
        )
