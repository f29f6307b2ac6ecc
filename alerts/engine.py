"""Rule evaluation against the event-time watermark: the same code live and in backtests.

The engine is told of each counted mention in stream order. It advances the watermark
(the latest event time seen in its partition), evaluates the rules of that mention's
subject, re-checks open episodes so they resolve when their subject goes quiet, and, each
event-time minute, asks silence rules whether a subject they watch has gone quiet.
Nothing here reads the wall clock: replaying a stream gives the same alerts.

Example::

    import asyncio
    from processors.counts import MemoryCounts
    engine = RuleEngine(load_rules(), MemoryCounts(), MemoryEpisodes(), names)
    asyncio.run(engine.on_mention(mention, new=True))
    # -> []
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from alerts.episodes import EpisodeStore, step
from alerts.rules import Observation, RulesFile, SilenceRule, WindowRule, silence_p
from alerts.spike import spike_stats
from raqib.counting import HOUR, MINUTE, CountStore, hour_of, minute_of
from raqib.durations import format_duration
from raqib.messages import Alert, Evidence, Mention, Window

SubjectNames = Callable[[str], tuple[str, str]]
"""subject -> (Arabic name, English name), for one-line summaries."""
SubjectTypes = Callable[[str], tuple[str, ...]]
"""subject -> the entity types it names (PER for entity:x, two for a pair, none for a
topic or a source), for rules that watch only some types; the same shape gives the
watchlist tags of its entities (media, ...), for rules that watch or skip some tags."""


def _no_types(subject: str) -> tuple[str, ...]:
    return ()


MAX_EVIDENCE = 20
MAX_LATE = timedelta(hours=24)
"""A mention later than this behind the watermark is counted but judged at the watermark:
its minute buckets may be gone (kept 2 days), and a day-old surge is history, not news."""
STREAM_GAP = timedelta(hours=6)
"""A partition whose event time jumps further than this resumed after an outage (or a
backfill of another period): its warm-up starts again, else every subject of the
resumed stream would look "new" against the empty days before it."""


def _spans(ends: set[int], reach: int) -> list[int]:
    """Every bucket within ``reach`` before one of ``ends`` (a few short runs, however far
    apart the ends are: a stream that jumps years loads two runs, not the years between).

    >>> _spans({10, 11, 50}, 2)
    [8, 9, 10, 11, 48, 49, 50]
    """
    buckets: set[int] = set()
    for end in ends:
        buckets.update(range(end - reach, end + 1))
    return sorted(buckets)


def _has_hours(rule: object) -> bool:
    return isinstance(rule, WindowRule | SilenceRule)


def _ts(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


@dataclass
class Evaluated:
    """What a batch did: its alerts, and how many mentions were new or redelivered."""

    alerts: list[Alert] = field(default_factory=list)
    new: int = 0
    duplicates: int = 0


@dataclass(frozen=True, slots=True)
class _Judgement:
    """A rule's verdict on one subject at the watermark, with the numbers an alert shows.

    Most verdicts change nothing, so the window and the summaries are only put into words
    (``describe``) when an alert event is emitted.
    """

    condition: bool
    observed: int
    expected: float
    ratio: float
    p_value: float
    evidence: list[Evidence]
    describe: Callable[[], tuple[Window, str, str]]  # window, firing and resolved summaries


class RuleEngine:
    """Evaluates one partition's rules; one instance per partition of ``mentions``."""

    def __init__(
        self,
        rules: RulesFile,
        counts: CountStore,
        episodes: EpisodeStore,
        names: SubjectNames,
        types: SubjectTypes = _no_types,
        tags: SubjectTypes = _no_types,
    ) -> None:
        self.rules = rules
        self.types = types
        self.tags = tags
        self.counts = counts
        self.episodes = episodes
        self.names = names
        self.watermark: datetime | None = None
        self.started: datetime | None = None
        self._loaded = False
        self._by_name = {r.name: r for r in rules.rules}
        self._silence = [r for r in rules.rules if isinstance(r, SilenceRule) and r.enabled]
        self._last_seen: dict[str, datetime] = {}
        self._rules_of: dict[str, list[WindowRule | SilenceRule]] = {}  # rules don't change
        self._usual: dict[tuple[str, str], tuple[datetime, int, float]] = {}
        windows = [r for r in rules.rules if isinstance(r, WindowRule)]
        # how far back rules read: the longest window plus the part hour before it, and
        # the longest baseline (plus the hour of a silent subject's last mention)
        self._reach_minutes = max((r.window_minutes for r in windows), default=0) + 60
        self._reach_hours = max((r.baseline_hours for r in rules.rules if _has_hours(r)), default=0)
        self._reach_hours += 2

    async def on_batch(self, batch: Sequence[Mention]) -> list[Alert]:
        """Count and evaluate a batch of this partition's mentions, in order: what the
        worker does with each batch it takes, and ``raqib backtest`` with each article."""
        await self.prepare(batch)
        done = await self.evaluate(batch)
        await self.flush()
        return done.alerts

    async def prepare(self, batch: Sequence[Mention]) -> None:
        """Read ahead what evaluating ``batch`` will read (counts, episodes) and record it
        in the count store; safe to retry after a failure."""
        if not batch:
            return
        if not self._loaded:
            await self._load(batch[0].event_time)
        # the watermarks the batch will be judged at, and the buckets rules read from them
        marks: set[datetime] = set()
        wm = self.watermark
        for m in batch:
            wm = m.event_time if wm is None or m.event_time > wm else wm
            marks.add(wm)
            if self._late(m.event_time, wm) is not None:
                marks.add(m.event_time)
        minutes = _spans({minute_of(t) for t in marks}, self._reach_minutes)
        hours = _spans(
            {hour_of(t) for t in marks | set(self._last_seen.values())}, self._reach_hours
        )
        open_pairs = await self.episodes.open_episodes()
        also = {subject for _, subject in open_pairs} | set(self._last_seen)
        await self.counts.prepare(batch, also, minutes, hours)
        pairs = {(r.name, m.subject) for m in batch for r in self._rules_for(m.subject)}
        await self.episodes.preload(pairs | set(open_pairs))

    async def evaluate(self, batch: Sequence[Mention]) -> Evaluated:
        """Record each prepared mention and evaluate it, in order.

        A redelivered mention is judged too: if a worker died after recording a batch but
        before its episodes were flushed, the replayed batch must still fire what it
        fires; judging an unchanged window again changes nothing.
        """
        done = Evaluated()
        for mention in batch:
            if await self.counts.record(mention):
                done.new += 1
            else:
                done.duplicates += 1
            done.alerts.extend(await self.on_mention(mention, new=True))
        return done

    async def flush(self) -> None:
        """Persist episode changes (once per batch, before its offsets are committed)."""
        await self.episodes.flush()

    async def _load(self, first: datetime) -> None:
        self.watermark = await self.episodes.load_watermark()
        self.started = await self.episodes.started(first)
        if self._silence:
            self._last_seen = await self.episodes.load_last_seen()
        self._loaded = True

    async def on_mention(self, mention: Mention, *, new: bool) -> list[Alert]:
        """Advance the watermark with a counted mention and evaluate what it touches."""
        if not self._loaded:
            await self._load(mention.event_time)
        previous = self.watermark
        advanced = previous is None or mention.event_time > previous
        if advanced:
            self.watermark = mention.event_time
            await self.episodes.save_watermark(mention.event_time)  # the store may debounce
            if previous is not None and mention.event_time - previous > STREAM_GAP:
                self.started = await self.episodes.started(mention.event_time, restart=True)
        if new:
            await self._heard(mention)
        alerts: list[Alert] = []
        done: set[tuple[str, str]] = set()
        if new:
            late = self._late(mention.event_time, self.watermark)
            for rule in self._rules_for(mention.subject):
                done.add((rule.name, mention.subject))
                at = late if isinstance(rule, WindowRule) else None
                alerts.extend(await self._evaluate(rule, mention.subject, at=at))
        # Windows are whole minutes: other subjects' windows change only when the
        # watermark enters a new minute, so open episodes and silences are re-judged then.
        if previous is None or minute_of(mention.event_time) > minute_of(previous):
            for rule_name, subject in await self.episodes.open_episodes():
                open_rule = self._by_name.get(rule_name)
                if open_rule is not None and (rule_name, subject) not in done:
                    done.add((rule_name, subject))
                    alerts.extend(await self._evaluate(open_rule, subject))
            alerts.extend(await self._check_silences(done))
        return alerts

    @staticmethod
    def _late(event_time: datetime, watermark: datetime | None) -> datetime | None:
        """The time to judge a mention at when it is late: its own (a surge that reaches
        this partition late, from a lagging producer or another partition of
        ``articles``, is still a surge), unless it is older than ``MAX_LATE``."""
        if watermark is None or minute_of(event_time) >= minute_of(watermark):
            return None
        return event_time if watermark - event_time <= MAX_LATE else None

    def _rules_for(self, subject: str) -> list[WindowRule | SilenceRule]:
        rules = self._rules_of.get(subject)
        if rules is None:
            rules = self.rules.for_subject(subject, self.types(subject), self.tags(subject))
            self._rules_of[subject] = rules
        return rules

    async def _heard(self, mention: Mention) -> None:
        """Remember when a subject that silence rules watch was last mentioned."""
        subject = mention.subject
        if not any(isinstance(rule, SilenceRule) for rule in self._rules_for(subject)):
            return
        last = self._last_seen.get(subject)
        if last is None or mention.event_time > last:
            self._last_seen[subject] = mention.event_time
            await self.episodes.save_last_seen(subject, mention.event_time)

    async def _check_silences(self, done: set[tuple[str, str]]) -> list[Alert]:
        alerts: list[Alert] = []
        for rule in self._silence:
            for subject in sorted(self._last_seen):
                if rule in self._rules_for(subject) and (rule.name, subject) not in done:
                    done.add((rule.name, subject))
                    alerts.extend(await self._evaluate(rule, subject))
        return alerts

    async def _evaluate(
        self, rule: WindowRule | SilenceRule, subject: str, *, at: datetime | None = None
    ) -> list[Alert]:
        """Judge one rule on one subject at the watermark (or at ``at``, a late mention's
        own time) and step its episode."""
        wm = at or self.watermark
        assert wm is not None  # noqa: S101 - set by on_mention before any evaluation
        episode = await self.episodes.load(rule.name, subject)
        if isinstance(rule, SilenceRule):
            judged = await self._judge_silence(rule, subject, wm)
        else:
            if episode is None or episode.status != "firing":
                # every window kind needs min_count in the window: below it, with no open
                # episode, nothing can happen, and the baseline need not be read
                last_minute = minute_of(wm)
                first_minute = last_minute - rule.window_minutes + 1
                if await self.counts.minutes(subject, first_minute, last_minute) < rule.min_count:
                    return []
            judged = await self._judge_window(rule, subject, wm)
        updated, event = step(
            episode,
            judged.condition,
            wm,
            rule=rule.name,
            subject=subject,
            resolve_after=rule.resolve_after,
            cooldown=rule.cooldown,
        )
        if updated is not None and updated != episode:
            await self.episodes.save(updated)
        if event is None or updated is None:
            return []
        window, firing, resolved = judged.describe()
        return [
            Alert(
                alert_id=updated.alert_id,
                rule=rule.name,
                kind=rule.kind,
                status=event,
                subject=subject,
                window=window,
                observed=judged.observed,
                expected=round(judged.expected, 6),
                ratio=round(judged.ratio, 6),
                p_value=judged.p_value,
                severity=rule.severity,
                articles=judged.evidence[-MAX_EVIDENCE:],
                event_time=wm,
                summary=firing if event == "firing" else resolved,
                labels=dict(rule.labels),
                channels=list(rule.channels),
            )
        ]

    async def _judge_window(self, rule: WindowRule, subject: str, wm: datetime) -> _Judgement:
        """The window ending at the watermark against the baseline just before it: whole
        hours, then the minutes of the part hour up to the window."""
        last_minute = minute_of(wm)
        first_minute = last_minute - rule.window_minutes + 1
        last_hour = (first_minute * MINUTE) // HOUR - 1
        first_hour = last_hour - rule.baseline_hours + 1
        gap_first = (last_hour + 1) * HOUR // MINUTE
        gap = (gap_first, first_minute - 1) if first_minute > gap_first else None
        observed, baseline = await self.counts.window(
            subject, (first_minute, last_minute), (first_hour, last_hour), gap
        )
        gap_minutes = first_minute - gap_first
        stats = spike_stats(
            observed=observed,
            baseline_count=baseline,
            baseline_minutes=rule.baseline_hours * 60 + gap_minutes,
            window_minutes=rule.window_minutes,
            prior_per_minute=rule.prior_per_day / 1440,
        )
        assert self.started is not None  # noqa: S101 - loaded with the watermark
        condition = rule.holds(Observation(stats, baseline, watching=wm - self.started))
        evidence: list[Evidence] = []
        if condition:
            evidence = await self.counts.evidence(subject, first_minute, last_minute)
            condition = len({e.source for e in evidence}) >= rule.min_sources

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

        return _Judgement(
            condition=condition,
            observed=stats.observed,
            expected=stats.expected,
            ratio=stats.ratio,
            p_value=stats.p_value,
            evidence=evidence,
            describe=describe,
        )

    async def _usual_rate(
        self, rule: SilenceRule, subject: str, last: datetime
    ) -> tuple[int, float]:
        """Mentions in the baseline hours before the last one and in its own hour, and
        their rate per minute; read once per last mention, not every minute of a silence."""
        cached = self._usual.get((rule.name, subject))
        if cached is not None and cached[0] == last:
            return cached[1], cached[2]
        hour = hour_of(last)
        count = await self.counts.hours(subject, hour - rule.baseline_hours, hour)
        into_hour = minute_of(last) - hour * HOUR // MINUTE + 1
        rate = count / (rule.baseline_hours * 60 + into_hour)
        self._usual[(rule.name, subject)] = (last, count, rate)
        return count, rate

    async def _judge_silence(self, rule: SilenceRule, subject: str, wm: datetime) -> _Judgement:
        last = self._last_seen.get(subject, wm)
        count, rate = await self._usual_rate(rule, subject, last)
        silent = (wm - last).total_seconds() / 60
        p_value = silence_p(silent, rate)
        condition = rule.holds(silent_minutes=silent, rate_per_minute=rate, baseline_count=count)
        evidence: list[Evidence] = []
        if condition:  # the last articles heard, so the operator sees where it stopped
            evidence = await self.counts.evidence(subject, minute_of(last), minute_of(last))

        def describe() -> tuple[Window, str, str]:
            ar, en = self.names(subject)
            quiet = format_duration(timedelta(minutes=int(silent)))
            return (
                Window(start=last, end=wm),
                f"silence: {ar} ({en}) quiet for {quiet}, usually {rate * 60:.1f} an hour "
                f"(p={p_value:.1e})",
                f"resolved: {ar} ({en}) heard again after {quiet}",
            )

        return _Judgement(
            condition=condition,
            observed=0,
            expected=rate * silent,
            ratio=0.0,
            p_value=p_value,
            evidence=evidence,
            describe=describe,
        )
