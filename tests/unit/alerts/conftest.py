"""Synthetic mention streams and an in-memory engine, as ``raqib backtest`` runs it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from itertools import cycle
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts.engine import RuleEngine, SubjectNames
from alerts.episodes import MemoryEpisodes
from alerts.rules import RulesFile, load_rules
from processors.counts import MemoryCounts
from raqib.messages import Alert, Mention

DATA = Path(__file__).resolve().parents[2] / "data"
T0 = datetime(2024, 12, 9, tzinfo=UTC)
"""Midnight UTC at the start of every synthetic stream; day two starts at T0 + 24h."""
HOUR = timedelta(hours=1)

Periodic = Callable[..., list[Mention]]
RunEngine = Callable[..., list[Alert]]


@pytest.fixture(scope="session")
def news_ar() -> dict[str, Any]:
    """Real Arabic headlines, bodies and outlets from the seeds (tests/data/news_ar.yaml)."""
    return yaml.safe_load((DATA / "news_ar.yaml").read_text(encoding="utf-8"))


@pytest.fixture
def names(news_ar: dict[str, Any]) -> SubjectNames:
    """subject -> (Arabic, English); unknown subjects are named by their id."""

    def lookup(subject: str) -> tuple[str, str]:
        ar, en = news_ar["names"].get(subject, [subject, subject])
        return ar, en

    return lookup


@pytest.fixture
def periodic(news_ar: dict[str, Any]) -> Periodic:
    """``count`` mentions of ``subject`` from ``start``, ``every`` apart, outlets cycled."""

    def build(
        subject: str,
        *,
        start: datetime,
        every: timedelta,
        count: int,
        prefix: str,
        sources: Sequence[str] | None = None,
    ) -> list[Mention]:
        outlets = cycle(sources if sources is not None else news_ar["sources"][:3])
        titles = cycle(news_ar["headlines"])
        return [
            Mention(
                subject=subject,
                article_id=f"{prefix}-{i:04d}",
                event_time=start + i * every,
                source=next(outlets),
                title=next(titles),
            )
            for i in range(count)
        ]

    return build


@pytest.fixture
def background(periodic: Periodic) -> list[Mention]:
    """A day of other news and six hours more: entity:y every 3 minutes (never 5 in a
    10-minute window, so it cannot spike even on its empty first-hour baseline) and
    entity:z once an hour; they push the watermark on after any burst."""
    y = periodic("entity:y", start=T0, every=timedelta(minutes=3), count=30 * 20, prefix="y")
    z = periodic("entity:z", start=T0 + timedelta(minutes=45), every=HOUR, count=30, prefix="z")
    return y + z


def in_order(*streams: list[Mention]) -> list[Mention]:
    """Streams merged by event time (stable: ties keep the order given)."""
    return sorted((m for s in streams for m in s), key=lambda m: m.event_time)


@pytest.fixture
def t0() -> datetime:
    return T0


@pytest.fixture
def merge() -> Callable[..., list[Mention]]:
    return in_order


@pytest.fixture
def run_engine(names: SubjectNames) -> RunEngine:
    """Feed the engine the stream in order, an article a step, as the worker and the
    backtest do (the engine records each mention in ``counts``). Returns every alert."""

    def run(
        mentions: Sequence[Mention],
        *,
        rules: RulesFile | None = None,
        counts: MemoryCounts | None = None,
        episodes: MemoryEpisodes | None = None,
    ) -> list[Alert]:
        store = MemoryCounts() if counts is None else counts
        engine = RuleEngine(
            load_rules() if rules is None else rules,
            store,
            MemoryEpisodes() if episodes is None else episodes,
            names,
        )

        return asyncio.run(engine.on_batch(mentions))

    return run
