"""Replay scenarios: seed articles turned into a timed stream of copies.

A scenario is a list of phases; each phase emits ``count`` copies of its seeds (cycled)
spaced ``every`` apart in event time, each copy with its own id, optionally spread over
several outlets. Drills like "a quiet day, then a surge about one actor" are written
this way; ``seeds/scenarios/drill.yaml`` is the one ``raqib demo`` plays.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import cycle
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from producers.seeds import load_manifest, seed_article
from raqib.config import load_model
from raqib.durations import Duration
from raqib.messages import as_utc


class Phase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    seeds: tuple[str, ...] = Field(min_length=1, description="seed file names or prefixes")
    count: int = Field(ge=1, le=100_000)
    every: Duration
    sources: tuple[str, ...] = Field((), description="outlets to cycle; default: the seed's")
    gap_before: Duration = timedelta(0)


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str = ""
    seeds_dir: str = Field("..", description="relative to the scenario file")
    start: datetime
    phases: tuple[Phase, ...] = Field(min_length=1)


def _resolve(seeds_dir: Path, name: str) -> Path:
    matches = sorted(
        p for p in seeds_dir.glob("*.txt") if p.name == name or p.name.startswith(name)
    )
    if len(matches) != 1:
        raise ValueError(f"seed {name!r} matches {len(matches)} files in {seeds_dir}")
    return matches[0]


def expand(path: Path) -> list[dict[str, Any]]:
    """The articles a scenario file describes, in event-time order."""
    scenario = load_model(path, Scenario)
    seeds_dir = (path.parent / scenario.seeds_dir).resolve()
    manifest = load_manifest(seeds_dir)
    t = as_utc(scenario.start)
    out: list[dict[str, Any]] = []
    for phase in scenario.phases:
        t += phase.gap_before
        seeds = cycle([seed_article(_resolve(seeds_dir, s), manifest) for s in phase.seeds])
        sources = cycle(phase.sources) if phase.sources else None
        for i in range(phase.count):
            article = dict(next(seeds))
            article["id"] = f"{scenario.name}-{phase.name}-{i:05d}"
            article["published_at"] = t.isoformat()
            article["scenario"] = scenario.name
            if sources is not None:
                article["source"] = next(sources)
            out.append(article)
            t += phase.every
    return out
