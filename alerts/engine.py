"""Rule evaluation against the event-time watermark: the same code live and in backtests.

The engine is told of each counted mention in stream order. It advances the watermark
(the latest event time seen in its partition), evaluates the rules of that mention's
subject, and re-checks open episodes so they resolve when their subject goes quiet.
Nothing here reads the wall clock: replaying a stream gives the same alerts.

Example::

    import asyncio
    from processors.counts import MemoryCounts
    engine = RuleEngine(load_rules(), MemoryCounts(), MemoryEpisodes(), names)
    asyncio.run(engine.on_mention(mention, new=True))
    # -> []
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from alerts.episodes import EpisodeStore, step
from alerts.rules import RulesFile, WindowRule
from alerts.spike import SpikeStats, spike_stats
from raqib.counting import HOUR, MINUTE, CountStore, minute_of
from raqib.durations import format_duration
from raqib.messages import Alert, Evidence, Mention, Window

SubjectNames = Callable[[str], tuple[str, str]]
"""subject -> (Arabic name, English name), for one-line summaries."""

MAX_EVIDENCE = 20


def _ts(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


class RuleEngine:
    """Evaluates one partition's rules; one instance per partition of ``mentions``."""

    def __init__(
        self,
        rules: RulesFile,
        counts: CountStore,
        episodes: EpisodeStore,
        names: SubjectNames,
    ) -> None:
        self.rules = rules
        self.counts = counts
        self.episodes = episodes
        self.names = names
        self.watermark: datetime | None = None
        self._loaded = False
        self._by_name = {r.name: r for r in rules.rules}

    async def on_mention(self, mention: Mention, *, new: bool) -> list[Alert]:
        """Advance the watermark with a counted mention and evaluate what it touches."""
        if not self._loaded:
            self.watermark = await self.episodes.load_watermark()
            self._loaded = True
        advanced = self.watermark is None or mention.event_time > self.watermark
        if advanced:
            self.watermark = mention.event_time
            await self.episodes.save_watermark(mention.event_time)  # the store may debounce
        alerts: list[Alert] = []
        if new:
            for rule in self.rules.for_subject(mention.subject):
                alerts.extend(await self._evaluate(rule, mention.subject))
        if advanced:
            for rule_name, subject in await self.episodes.open_episodes():
                open_rule = self._by_name.get(rule_name)
                if open_rule is not None and not (new and subject == mention.subject):
                    alerts.extend(await self._evaluate(open_rule, subject))
        return alerts

    async def _stats(self, rule: WindowRule, subject: str, wm: datetime) -> tuple[SpikeStats, int]:
        last_minute = minute_of(wm)
        first_minute = last_minute - rule.window_minutes + 1
        last_hour = (first_minute * MINUTE) // HOUR - 1  # full hours before the window
        first_hour = last_hour - rule.baseline_hours + 1
        observed, baseline = await self.counts.window(
            subject, (first_minute, last_minute), (first_hour, last_hour)
        )
        stats = spike_stats(
            observed=observed,
            baseline_count=baseline,
            baseline_minutes=rule.baseline_hours * 60,
            window_minutes=rule.window_minutes,
            prior_per_minute=rule.prior_per_day / 1440,
        )
        return stats, first_minute

    async def _evaluate(self, rule: WindowRule, subject: str) -> list[Alert]:
        wm = self.watermark
        assert wm is not None  # noqa: S101 - set by on_mention before any evaluation
        stats, first_minute = await self._stats(rule, subject, wm)
        last_minute = minute_of(wm)
        condition = rule.holds(stats)
        evidence: list[Evidence] = []
        if condition:
            evidence = await self.counts.evidence(subject, first_minute, last_minute)
            condition = len({e.source for e in evidence}) >= rule.min_sources
        episode = await self.episodes.load(rule.name, subject)
        updated, event = step(
            episode,
            condition,
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
        window = Window(start=_ts(first_minute * MINUTE), end=_ts((last_minute + 1) * MINUTE))
        return [
            Alert(
                alert_id=updated.alert_id,
                rule=rule.name,
                kind=rule.kind,
                status=event,
                subject=subject,
                window=window,
                observed=stats.observed,
                expected=round(stats.expected, 6),
                ratio=round(stats.ratio, 6),
                p_value=stats.p_value,
                severity=rule.severity,
                articles=evidence[-MAX_EVIDENCE:],
                event_time=wm,
                summary=self._summary(rule, subject, stats, event),
                labels=dict(rule.labels),
                channels=list(rule.channels),
            )
        ]

    def _summary(self, rule: WindowRule, subject: str, stats: SpikeStats, event: str) -> str:
        ar, en = self.names(subject)
        window = format_duration(rule.window)
        if event == "resolved":
            return (
                f"resolved: {ar} ({en}) back to {stats.observed} mentions in {window} "
                f"(expected {stats.expected:.1f})"
            )
        return (
            f"{rule.kind}: {ar} ({en}) {stats.observed} mentions in {window}, "
            f"expected {stats.expected:.1f} (x{stats.ratio:.0f}, p={stats.p_value:.1e})"
        )
