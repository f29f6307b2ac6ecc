"""``raqib backtest``: the live tagging, counting and rule code, offline and in order.

No broker and no Redis: counts and episodes live in memory behind the same interfaces
the worker uses, and messages are processed in file order — what a one-partition live
run does — so the alerts printed here are the alerts the live pipeline fires.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from alerts import MemoryEpisodes, RuleEngine, RulesFile, Step
from processors.align import Aligner, Released
from processors.counts import MemoryCounts
from processors.pipeline import Pipeline
from raqib.exceptions import InvalidArticle
from raqib.messages import Alert, MentionBatch, parse_article


@dataclass
class Rejected:
    """A line the live worker would have dead-lettered."""

    line: int
    reason: str


async def backtest(
    lines: Iterable[bytes], pipeline: Pipeline, rules: RulesFile
) -> list[Alert | Rejected]:
    """Alerts (and rejected lines) in the order the live pipeline would emit them.

    Articles are judged in the order the live count stage judges them: through the same
    aligner, so articles of one event time go in article-id order whatever the file's.
    """
    counts = MemoryCounts()
    engine = RuleEngine(
        rules, counts, MemoryEpisodes(), pipeline.names, pipeline.types, pipeline.tags
    )
    aligner = Aligner(origins=1)
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
        batch = MentionBatch(
            article_id=article.id, mentions=mentions, event_time=article.event_time
        )
        aligner.add(batch, None)
        out.extend(await engine.on_steps(_steps(aligner.release())))
    # the end of the stream: what is held goes, as live once the partition is idle
    aligner.add(MentionBatch(article_id="", origin=0, idle=True), None)
    out.extend(await engine.on_steps(_steps(aligner.release())))
    return out


def _steps(released: list[Released]) -> list[Step]:
    return [(r.batch.event_time, r.batch.mentions) for r in released]
