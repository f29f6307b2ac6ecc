"""Tagging throughput, beside two baselines measured in the same run.

Run with ``make bench``. Prints MB/s and articles/s of the raqib tagger on at least 10 MB
of Arabic news-like text (paragraphs of the seed articles recombined), with the default
watchlist and with a synthetic watchlist of 5,000 aliases, next to:

* ``regex``: one alternation of every alias, longest first, over the raw text — what a
  hand-rolled matcher does;
* ``bare scan``: pyahocorasick over the already-normalized text, consuming every hit —
  the floor of what any matcher costs (no normalization, no boundaries, no offsets).

Ratios are what to read: machines differ, the ratio between two runs of the same text on
the same machine much less.
"""

from __future__ import annotations

import random
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import ahocorasick

from processors.normalize import normalize_ar
from processors.tagger import Tagger
from processors.watchlist import Entity, EntityType, Names, Watchlist, load_watchlist

ROOT = Path(__file__).resolve().parents[2]
TARGET_BYTES = 10 * 1024 * 1024
ARABIC_LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"


def corpus(target: int = TARGET_BYTES, seed: int = 20241201) -> list[str]:
    """Articles of 6-14 paragraphs drawn from the seeds until ``target`` UTF-8 bytes."""
    paragraphs = [
        line.strip()
        for path in sorted((ROOT / "seeds").glob("*.txt"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if len(line.split()) > 8
    ]
    rng = random.Random(seed)
    articles: list[str] = []
    size = 0
    while size < target:
        article = "\n\n".join(rng.choice(paragraphs) for _ in range(rng.randint(6, 14)))
        articles.append(article)
        size += len(article.encode("utf-8"))
    return articles


def synthetic_watchlist(base: Watchlist, aliases: int = 5000, seed: int = 7) -> Watchlist:
    """The default watchlist plus made-up two-word Arabic names up to ``aliases`` patterns."""
    rng = random.Random(seed)
    entities = list(base.entities)
    count = sum(2 + len(e.aliases) + len(e.ambiguous) for e in entities)
    seen: set[str] = set()
    i = 0
    while count < aliases:
        words = [
            "".join(rng.choice(ARABIC_LETTERS) for _ in range(rng.randint(3, 7))) for _ in range(2)
        ]
        name = " ".join(words)
        if normalize_ar(name) in seen:
            continue
        seen.add(normalize_ar(name))
        entities.append(
            Entity(
                id=f"synthetic-{i}", type=EntityType.PER, names=Names(ar=name, en=f"Synthetic {i}")
            )
        )
        i += 1
        count += 2
    return Watchlist(entities=tuple(entities))


def all_aliases(watchlist: Watchlist) -> list[str]:
    out: list[str] = []
    for e in watchlist.entities:
        out.extend([e.names.ar, e.names.en, *e.aliases, *e.ambiguous])
    return out


def timed(fn: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def bench(name: str, watchlist: Watchlist, articles: list[str]) -> dict[str, float]:
    size_mb = sum(len(a.encode("utf-8")) for a in articles) / 1e6
    tagger = Tagger(watchlist)
    aliases = sorted(set(all_aliases(watchlist)), key=len, reverse=True)
    regex = re.compile("|".join(re.escape(a) for a in aliases))
    automaton = ahocorasick.Automaton()
    for alias in aliases:
        automaton.add_word(normalize_ar(alias), alias)
    automaton.make_automaton()
    normalized = [normalize_ar(a) for a in articles]

    def run_tagger() -> None:
        for article in articles:
            tagger.tag_text(article)

    def run_regex() -> None:
        for article in articles:
            for _ in regex.finditer(article):
                pass

    def run_scan() -> None:
        for text in normalized:
            for _ in automaton.iter(text):
                pass

    results = {
        "raqib tagger": timed(run_tagger),
        "regex alternation": timed(run_regex, repeat=1),
        "bare scan": timed(run_scan),
    }
    print(f"\n{name}: {len(aliases)} aliases, {len(articles)} articles, {size_mb:.1f} MB")
    print(f"  {'':20} {'MB/s':>8} {'articles/s':>11} {'seconds':>8}")
    for label, seconds in results.items():
        print(
            f"  {label:20} {size_mb / seconds:8.1f} {len(articles) / seconds:11.0f} {seconds:8.2f}"
        )
    ours = results["raqib tagger"]
    print(
        f"  tagger vs regex: {results['regex alternation'] / ours:.1f}x faster; "
        f"vs bare scan: {ours / results['bare scan']:.1f}x slower"
    )
    return {k: size_mb / v for k, v in results.items()}


def main() -> int:
    articles = corpus()
    default = load_watchlist()
    bench("default watchlist", default, articles)
    bench("synthetic watchlist", synthetic_watchlist(default), articles)
    return 0


if __name__ == "__main__":
    sys.exit(main())
