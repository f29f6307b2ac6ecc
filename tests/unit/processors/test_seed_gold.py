"""The tagger against the hand annotation of the five seeds (tests/data/gold/): precision
and recall of every watchlist mention, page chrome included in the input.

A predicted mention matches a gold one with the same entity id and an overlapping span
(one to one); the figures are printed in the run's summary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from processors.pipeline import Pipeline
from processors.watchlist import load_watchlist

ROOT = Path(__file__).resolve().parents[3]
SEEDS = ROOT / "seeds"
GOLD = ROOT / "tests" / "data" / "gold"
SEED_FILES = sorted(p.name for p in SEEDS.glob("*.txt"))
THRESHOLD = 0.97


@dataclass(frozen=True)
class Span:
    id: str
    start: int
    end: int
    surface: str


def gold_spans(seed: str) -> list[Span]:
    """Resolve (line, surface, nth) to str offsets into the seed's text."""
    text = (SEEDS / seed).read_text(encoding="utf-8")
    data = yaml.safe_load((GOLD / seed.replace(".txt", ".yaml")).read_text(encoding="utf-8"))
    assert data["seed"] == seed
    starts = [0]
    for line in text.split("\n"):
        starts.append(starts[-1] + len(line) + 1)
    lines = text.split("\n")
    known = load_watchlist().by_id
    spans = []
    for m in data["mentions"]:
        line = lines[m["line"] - 1]
        at = -1
        for _ in range(m["nth"]):
            at = line.find(m["surface"], at + 1)
            assert at >= 0, f"{seed}: {m} does not resolve"
        assert m["id"] in known, f"{seed}: {m['id']} is not in the watchlist"
        start = starts[m["line"] - 1] + at
        spans.append(Span(m["id"], start, start + len(m["surface"]), m["surface"]))
    return spans


def match(gold: list[Span], found: list[Span]) -> tuple[list[Span], list[Span]]:
    """One-to-one matching by id and overlap; returns (missed gold, unmatched found)."""
    unmatched = list(found)
    missed = []
    for g in gold:
        hit = next(
            (f for f in unmatched if f.id == g.id and f.start < g.end and g.start < f.end), None
        )
        if hit is None:
            missed.append(g)
        else:
            unmatched.remove(hit)
    return missed, unmatched


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline(load_watchlist())


def test_every_seed_is_annotated() -> None:
    assert len(SEED_FILES) == 5
    assert sorted(p.name for p in GOLD.glob("*.yaml")) == [
        s.replace(".txt", ".yaml") for s in SEED_FILES
    ]


def test_precision_and_recall_on_the_seeds(
    pipeline: Pipeline, report: Callable[[str], None]
) -> None:
    total_gold = total_found = total_missed = total_extra = 0
    problems: list[str] = []
    for seed in SEED_FILES:
        if not (GOLD / seed.replace(".txt", ".yaml")).exists():
            continue
        text = (SEEDS / seed).read_text(encoding="utf-8")
        gold = gold_spans(seed)
        tags, _ = pipeline.tag_text(text)
        found = [Span(t.id, t.start, t.end, t.surface) for t in tags]
        missed, extra = match(gold, found)
        total_gold += len(gold)
        total_found += len(found)
        total_missed += len(missed)
        total_extra += len(extra)
        p = 1 - len(extra) / len(found) if found else 1.0
        r = 1 - len(missed) / len(gold) if gold else 1.0
        report(f"gold {seed}: {len(gold)} mentions, precision {p:.3f}, recall {r:.3f}")
        problems += [f"{seed}: missed {s.id} {s.surface!r} at {s.start}" for s in missed]
        problems += [f"{seed}: extra {s.id} {s.surface!r} at {s.start}" for s in extra]
    precision = 1 - total_extra / total_found
    recall = 1 - total_missed / total_gold
    report(
        f"gold, all seeds: {total_gold} mentions, {total_found} tagged, "
        f"precision {precision:.3f}, recall {recall:.3f} (goal {THRESHOLD})"
    )
    for line in problems:
        report(f"  {line}")
    assert precision >= THRESHOLD and recall >= THRESHOLD, "\n".join(problems)
