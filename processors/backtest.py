"""``raqib backtest``: the live tagging, counting and rule code, offline and in order.

No broker and no Redis: counts and episodes live in memory behind the same interfaces
the worker uses, and messages are processed in file order — what a one-partition live
run does — so the alerts printed here are the alerts the live pipeline fires.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from alerts import MemoryEpisodes, RuleEngine, RulesFile
from processors.counts import MemoryCounts
from processors.pipeline import Pipeline
from raqib.exceptions import InvalidArticle
from raqib.messages import Alert, parse_article


@dataclass
class Rejected:
    """A line the live worker would have dead-lettered."""

    line: int
    reason: str


async def backtest(
    lines: Iterable[bytes], pipeline: Pipeline, rules: RulesFile
) -> list[Alert | Rejected]:
    """Alerts (and rejected lines) in the order the live pipeline would emit them."""
    counts = MemoryCounts()
    engine = RuleEngine(
        rules, counts, MemoryEpisodes(), pipeline.names, pipeline.types, pipeline.tags
    )
    out: list[Alert | Rejected] = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            article = parse_article(raw.rstrip(b"\r\n"), fallback_time=None)
        except InvalidArticle as exc:
            out.append(Rejected(number, exc.reason))
            continue
        _, mentions = pipeline.process(article)
        out.extend(await engine.on_batch(mentions))
    return out
