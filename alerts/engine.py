"""Rule evaluation against the event-time watermark: the same code live and in backtests.

The engine is told of each article in stream order, as a *step*: the article's event time
and its mentions that this partition counts (maybe none). It advances the watermark (the
latest event time of the articles seen — of every ``articles`` partition, once the count
stage has aligned them), evaluates the rules of the article's subjects, and, each
event-time minute, re-checks open episodes (so they resolve when their subject goes
quiet) and asks silence rules whether a subject they watch has gone quiet. What a rule
says of a subject at a moment (its window against its baseline, its silence) is
:mod:`alerts.judge`'s. Nothing here reads the wall clock: replaying a stream gives the
same alerts.

Subjects come from the input (``source:`` is free text), so what the engine keeps per
subject is bounded: the rules of a subject and its usual rate are LRU caches (a miss is
read again, never a different result: a usual rate is dropped whenever its subject is
heard, the only time its counts change), and the subjects silence rules watch are kept
as :mod:`alerts.last_seen` says — only those whose baseline could make a silence are
re-judged each minute, so a feed of invented one-off sources costs neither memory nor a
minute's worth of evaluations.

A rate is mentions over the time actually watched: a baseline starts no earlier than
when the partition began watching (its ``started``), and a rule fires only once the
partition has watched for the rule's ``warm_up`` — a partition twenty minutes old does not
divide twenty minutes of mentions by 24 hours and call every subject a surge.

Example::

    import asyncio
    from processors.counts import MemoryCounts
    engine = RuleEngine(load_rules(), MemoryCounts(), MemoryEpisodes(), names)
    asyncio.run(engine.on_steps([(article_time, mentions)]))
    # -> [Alert(...), ...]
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from alerts.episodes import STREAM_GAP, EpisodeStore, Position, step
from alerts.judge import Judge, SubjectNames
from alerts.last_seen import RETIRE_AFTER, LastSeen
from alerts.rules import RulesFile, SilenceRule, WindowRule
from raqib.counting import CountStore, Recorded, hour_of, minute_of
from raqib.lru import BoundedCache, caches_of
from raqib.messages import Alert, Mention

log = logging.getLogger(__name__)

SubjectTypes = Callable[[str], tuple[str, ...]]
"""subject -> the entity types it names (PER for entity:x, two for a pair, none for a
topic or a source), for rules that watch only some types; the same shape gives the
watchlist tags of its entities (media, ...), for rules that watch or skip some tags."""


def _no_types(subject: str) -> tuple[str, ...]:
    return ()


MAX_EVIDENCE = 20
MAX_SUBJECTS = 20_000
"""Subjects whose rules and usual rates are cached: every established silence subject
(:attr:`LastSeen.MAX_ESTABLISHED`) and a batch's subjects fit, so re-reads are rare."""
MAX_LATE = timedelta(hours=24)
"""A mention later than this behind the watermark is counted but judged at the watermark:
its minute buckets may be gone (kept 2 days), and a day-old surge is history, not news."""


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


def _is_silence(rule: object) -> bool:
    return isinstance(rule, SilenceRule)


Step = tuple[datetime, Sequence[Mention]]
"""One article as a partition sees it: its event time and its mentions there (maybe none)."""


def steps_of(batch: Sequence[Mention]) -> list[Step]:
    """Consecutive mentions of one article are one step at the article's time.

    >>> from datetime import UTC, datetime
    >>> t = datetime(2024, 12, 1, tzinfo=UTC)
    >>> ms = [Mention(subject=s, article_id=a, event_time=t) for s, a in
    ...       [("entity:iran", "a1"), ("entity:syria", "a1"), ("entity:iran", "a2")]]
    >>> [len(mentions) for _, mentions in steps_of(ms)]
    [2, 1]
    """
    steps: list[Step] = []
    current: list[Mention] = []
    for mention in batch:
        if current and mention.article_id != current[0].article_id:
            steps.append((current[0].event_time, current))
            current = []
        current.append(mention)
    if current:
        steps.append((current[0].event_time, current))
    return steps


@dataclass
class Evaluated:
    """What a batch did: its alerts, and how many mentions were new or redelivered."""

    alerts: list[Alert] = field(default_factory=list)
    new: int = 0
    duplicates: int = 0
    replayed: int = 0
    """Steps judged before a crash or a rebalance, counted and not judged again."""


class RuleEngine:
    """Evaluates one partition's rules; one instance per partition of ``mentions``.

    ``max_subjects`` bounds the per-subject caches and ``last_seen`` the subjects silence
    rules watch (see the module's docstring)."""

    def __init__(
        self,
        rules: RulesFile,
        counts: CountStore,
        episodes: EpisodeStore,
        names: SubjectNames,
        types: SubjectTypes = _no_types,
        tags: SubjectTypes = _no_types,
        *,
        max_subjects: int = MAX_SUBJECTS,
        last_seen: LastSeen | None = None,
    ) -> None:
        self.rules = rules
        self.types = types
        self.tags = tags
        self.counts = counts
        self.episodes = episodes
        self.watermark: datetime | None = None
        self.started: datetime | None = None
        self.judged: Position | None = None
        """The last step judged (live: restored from the episode store)."""
        self._loaded = False
        self._by_name = {r.name: r for r in rules.rules}
        self._silence = [r for r in rules.rules if isinstance(r, SilenceRule) and r.enabled]
        self._seen = LastSeen() if last_seen is None else last_seen
        # rules don't change: a subject's are worked out again when it falls out
        self._rules_of: BoundedCache[str, list[WindowRule | SilenceRule]] = BoundedCache(
            "engine_rules", max_subjects
        )
        self.judge = Judge(counts, names, max_subjects=max_subjects)
        windows = [r for r in rules.rules if isinstance(r, WindowRule)]
        # how far back rules read: the longest window plus the part hour before it, and
        # the longest baseline (plus the hour of a silent subject's last mention)
        self._reach_minutes = max((r.window_minutes for r in windows), default=0) + 60
        self._reach_hours = max((r.baseline_hours for r in rules.rules if _has_hours(r)), default=0)
        self._reach_hours += 2

    async def on_batch(self, batch: Sequence[Mention]) -> list[Alert]:
        """Count and evaluate a batch of this partition's mentions, in order, an article
        (consecutive mentions of one article id) a step: what ``raqib backtest`` does with
        each article."""
        return await self.on_steps(steps_of(batch))

    async def on_steps(self, steps: Sequence[Step]) -> list[Alert]:
        """Prepare, evaluate and flush ``steps`` (see :meth:`evaluate`)."""
        await self.prepare(steps)
        done = await self.evaluate(steps)
        await self.flush()
        return done.alerts

    async def prepare(self, steps: Sequence[Step]) -> None:
        """Read ahead what evaluating ``steps`` will read (counts, episodes) and record
        their mentions in the count store; safe to retry after a failure."""
        if not steps:
            return
        if not self._loaded:
            await self._load(steps[0][0])
        # the watermarks the steps will be judged at, and the buckets rules read from them
        marks: set[datetime] = set()
        wm = self.watermark
        for at, _ in steps:
            wm = at if wm is None or at > wm else wm
            marks.add(wm)
            if self._late(at, wm) is not None:
                marks.add(at)
        batch = [m for _, mentions in steps for m in mentions]
        watched = self._seen.established
        # the last mentions silences are judged from: the watched subjects', and those of
        # the batch's provisional subjects (a late mention is judged at its subject's last)
        lasts = set(watched.values())
        lasts.update(t for m in batch if (t := self._seen.provisional.get(m.subject)) is not None)
        minutes = _spans({minute_of(t) for t in marks}, self._reach_minutes)
        hours = _spans({hour_of(t) for t in marks | lasts}, self._reach_hours)
        open_pairs = await self.episodes.open_episodes()
        also = {subject for _, subject in open_pairs} | set(watched)
        await self.counts.prepare(batch, also, minutes, hours)
        pairs = {
            (r.name, m.subject)
            for m in batch
            for r in self._rules_for(m.subject)
            if self._judged(r, m.subject)
        }
        pairs.update((r.name, s) for s in watched for r in self._rules_for(s) if _is_silence(r))
        await self.episodes.preload(pairs | set(open_pairs))

    async def evaluate(
        self, steps: Sequence[Step], positions: Sequence[Position] | None = None
    ) -> Evaluated:
        """Record each prepared step's mentions and evaluate the step, in order.

        A step is one article as this partition sees it: its event time and its mentions
        here (none: the article named nothing this partition counts, and still moves the
        watermark). A redelivered mention is judged too: if a worker died after recording
        a batch but before its episodes were flushed, the replayed batch must still fire
        what it fires.

        ``positions`` (one per step, live) say where each step stands in the partition's
        canonical order. A step at or before the last one judged as of the last flush was
        judged before a crash or a rebalance — its alerts sent, its episode changes
        written — and is only counted (into the mirror) now: judged again, against the
        episodes and the watermark it led to, it would not be judged as it was. A step
        with a mention never counted before was never judged, and is judged (late).
        """
        done = Evaluated()
        for i, (at, mentions) in enumerate(steps):
            new = False
            for mention in mentions:
                flag = await self.counts.record(mention)
                if flag:
                    done.new += 1
                    new = new or flag == Recorded.NEW
                else:
                    done.duplicates += 1
            position = positions[i] if positions is not None else None
            if position is not None and self.judged is not None:
                if position <= self.judged and not new:
                    done.replayed += 1
                    continue
            done.alerts.extend(await self._step(at, mentions))
            if position is not None and (self.judged is None or position > self.judged):
                self.judged = position
                await self.episodes.save_position(position)
        return done

    async def flush(self) -> None:
        """Persist episode changes (once per batch, before its offsets are committed)."""
        await self.episodes.flush()

    def cache_sizes(self) -> dict[str, tuple[int, int]]:
        """``name -> (entries, evictions)`` of every bounded cache of this engine and of
        its stores, for /metrics."""
        return {**caches_of(self, self.judge, self.counts, self.episodes), **self._seen.sizes()}

    async def _load(self, first: datetime) -> None:
        self.watermark = await self.episodes.load_watermark()
        self.judged = await self.episodes.load_position()
        self.started = await self.episodes.started(first)
        if self._silence:
            extra = self._seen.load(await self.episodes.load_last_seen())
            if extra:
                await self.episodes.forget_last_seen(extra)
        self._loaded = True

    async def _step(self, at: datetime, mentions: Sequence[Mention]) -> list[Alert]:
        """Advance the watermark to an article's time, judge its (recorded) mentions, then
        — when the watermark entered a new minute — every other open episode and silence.

        The article's own subjects are judged by their mentions and skipped by the
        minute's re-check, so a subject is judged the same way whichever partition holds
        it and whatever else the partition holds: live on N partitions equals backtest.
        """
        if not self._loaded:
            await self._load(at)
        previous = self.watermark
        if previous is None or at > previous:
            self.watermark = at
            await self.episodes.save_watermark(at)  # the store may debounce
            if previous is not None and at - previous > STREAM_GAP:
                self.started = await self.episodes.started(at, restart=True)
        for mention in mentions:
            await self._heard(mention)
        alerts: list[Alert] = []
        done: set[tuple[str, str]] = set()
        late = self._late(at, self.watermark)
        open_now: set[tuple[str, str]] | None = None
        for mention in mentions:
            for rule in self._rules_for(mention.subject):
                pair = (rule.name, mention.subject)
                if not self._judged(rule, mention.subject):
                    # a subject not watched cannot fire a silence: judged only to end one
                    if open_now is None:
                        open_now = set(await self.episodes.open_episodes())
                    if pair not in open_now:
                        continue
                done.add(pair)
                when = late if isinstance(rule, WindowRule) else None
                alerts.extend(await self._evaluate(rule, mention.subject, at=when))
        # Windows are whole minutes: other subjects' windows change only when the
        # watermark enters a new minute, so open episodes and silences are re-judged then.
        if previous is None or minute_of(at) > minute_of(previous):
            open_pairs = await self.episodes.open_episodes()
            for rule_name, subject in open_pairs:
                open_rule = self._by_name.get(rule_name)
                if open_rule is not None and (rule_name, subject) not in done:
                    done.add((rule_name, subject))
                    alerts.extend(await self._evaluate(open_rule, subject))
            alerts.extend(await self._check_silences(done, open_pairs))
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

    def _judged(self, rule: WindowRule | SilenceRule, subject: str) -> bool:
        """Whether ``rule`` is judged on ``subject``: silence rules only on the subjects
        they watch (established, :mod:`alerts.last_seen`)."""
        return not isinstance(rule, SilenceRule) or subject in self._seen.established

    async def _heard(self, mention: Mention) -> None:
        """Remember when a subject that silence rules watch was last mentioned, and watch
        it from the first mention at which its baseline could make a silence."""
        subject, at = mention.subject, mention.event_time
        silences = [rule for rule in self._rules_for(subject) if isinstance(rule, SilenceRule)]
        if not silences:
            return
        for rule in silences:  # its counts changed: its usual rate is read again
            self.judge.heard(rule, subject)
        watched = self._seen.established.get(subject)
        if watched is not None:
            if at > watched:
                self._seen.established[subject] = at
                await self.episodes.save_last_seen(subject, at)
            return
        known = self._seen.provisional.get(subject)
        if known is None and self.watermark is not None and at < self.watermark:
            return  # late, and its latest mention forgotten: judged when next heard on time
        last = at if known is None or at > known else known
        self._seen.provisional[subject] = last
        for rule in silences:
            assert self.started is not None  # noqa: S101 - loaded with the watermark
            count, _ = await self.judge.baseline_rate(rule, subject, last, self.started)
            if count < rule.min_baseline_count:
                continue
            if self._seen.promote(subject, last):
                await self.episodes.save_last_seen(subject, last)
            elif self._seen.refused == 1:
                log.warning(
                    "%d subjects are watched for silences, the most this partition keeps: "
                    "%s and those after it are not (raqib_cache_evictions_total"
                    '{cache="silence_established"} counts them)',
                    len(self._seen.established),
                    subject[:80],
                )
            return

    async def _check_silences(
        self, done: set[tuple[str, str]], open_pairs: Sequence[tuple[str, str]]
    ) -> list[Alert]:
        """Judge the silence rules of every watched subject (the others cannot fire),
        after retiring those quiet longer than ``RETIRE_AFTER`` with nothing open."""
        assert self.watermark is not None  # noqa: S101 - set by _step before
        watched = self._seen.established
        busy = {subject for _, subject in open_pairs}
        stale = [s for s, t in watched.items() if self.watermark - t > RETIRE_AFTER]
        stale = [s for s in stale if s not in busy]
        if stale:
            self._seen.retire(stale)
            await self.episodes.forget_last_seen(stale)
        alerts: list[Alert] = []
        for rule in self._silence:
            for subject in sorted(watched):
                if rule in self._rules_for(subject) and (rule.name, subject) not in done:
                    done.add((rule.name, subject))
                    alerts.extend(await self._evaluate(rule, subject))
        return alerts

    async def _evaluate(
        self, rule: WindowRule | SilenceRule, subject: str, *, at: datetime | None = None
    ) -> list[Alert]:
        """Judge one rule on one subject at the watermark (or at ``at``, a late mention's
        own time: its alert is labelled ``late``, whoever saw it late — the aligner, or
        this engine, whose watermark a restart reads back from Redis) and step its
        episode."""
        wm = at or self.watermark
        assert wm is not None  # noqa: S101 - set by _step before any evaluation
        episode = await self.episodes.load(rule.name, subject)
        if (episode is None or episode.status != "firing") and not self._warm(rule, wm):
            return []  # nothing may open during the warm-up: nothing to read
        assert self.started is not None  # noqa: S101 - loaded with the watermark
        if isinstance(rule, SilenceRule):
            seen = self._seen.get(subject)
            last = wm if seen is None else seen
            judged = await self.judge.silence(rule, subject, wm, last, self.started)
        else:
            if (episode is None or episode.status != "firing") and not (
                await self.judge.may_open(rule, subject, wm, self.started)
            ):
                return []
            judged = await self.judge.window(rule, subject, wm, self.started)
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
                p_value=judged.p_value(),
                severity=rule.severity,
                articles=(await judged.evidence())[-MAX_EVIDENCE:],
                event_time=wm,
                summary=firing if event == "firing" else resolved,
                labels=dict(rule.labels) | ({"late": "true"} if at is not None else {}),
                channels=list(rule.channels),
            )
        ]

    def _warm(self, rule: WindowRule | SilenceRule, wm: datetime) -> bool:
        assert self.started is not None  # noqa: S101 - loaded with the watermark
        return rule.warm(wm - self.started)
