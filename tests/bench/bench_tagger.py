"""Tagging throughput, beside baselines measured in the same run.

Run with ``make bench`` (or ``python tests/bench/bench_tagger.py [matcher] [stage] [cli]``).

* ``matcher``: MB/s and articles/s of the raqib tagger on at least 10 MB of Arabic
  news-like text (paragraphs of the seed articles recombined), with the default watchlist
  and with a synthetic watchlist of 5,000 aliases, next to ``regex`` (one alternation of
  every alias, longest first, over the raw text — what a hand-rolled matcher does) and
  ``bare scan`` (pyahocorasick over the already-normalized text, consuming every hit — the
  floor of what any matcher costs: no normalization, no boundaries, no offsets).
* ``stage``: the whole tag stage (:meth:`Pipeline.process`: clean, normalize, tag, topics,
  mention events; then :func:`processors.mentions.batches`) on seed-news articles (the
  five seeds, ~5 KB, each copy with its own id and time), in articles/s per core (CPU time
  of one thread), with the time of each step, beside a bare pyahocorasick scan of the same
  texts (normalized, then scanned).
* ``cli``: ``raqib tag FILE...`` as a whole process (start-up included) over ~4,000 files,
  18 MB of Arabic made from the seeds' and review sets' paragraphs, beside a bare
  pyahocorasick scan of the same files (read, normalized, scanned, in a warm process), and
  the start-up alone (``raqib tag`` on one short file).

Ratios are what to read: machines differ, the ratio between two runs of the same text on
the same machine much less.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import ahocorasick
import yaml
from benchkit import record

from processors.clean import clean_body
from processors.mentions import batches, mentions
from processors.normalize import normalize_ar
from processors.pipeline import Pipeline, tagged_article
from processors.tagger import Tagger
from processors.topics import load_topics
from processors.watchlist import Entity, EntityType, Names, Watchlist, load_watchlist
from producers.seeds import load_seed_dir
from raqib import heap
from raqib.messages import Article

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


def bare_automaton(watchlist: Watchlist) -> ahocorasick.Automaton:
    """pyahocorasick over every normalized alias: the baseline scan."""
    automaton = ahocorasick.Automaton()
    for alias in set(all_aliases(watchlist)):
        automaton.add_word(normalize_ar(alias), alias)
    automaton.make_automaton()
    return automaton


def cpu_timed(fn: Callable[[], object], repeat: int = 3) -> float:
    """Best of ``repeat`` runs in CPU seconds of this thread: per core, whatever else the
    machine runs."""
    best = float("inf")
    for _ in range(repeat):
        start = time.thread_time()
        fn()
        best = min(best, time.thread_time() - start)
    return best


STAGE_ARTICLES = 3000
PARTITIONS = 4


def seed_articles(count: int = STAGE_ARTICLES) -> list[Article]:
    """The seeds as the worker gets them: each copy its own id and event time."""
    seeds = load_seed_dir(ROOT / "seeds")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    return [
        Article.model_validate(
            {
                **seeds[i % len(seeds)],
                "id": f"bench-{i}",
                "published_at": (start + timedelta(seconds=30 * i)).isoformat(),
            }
        )
        for i in range(count)
    ]


def stage_bench() -> None:
    """The tag stage, per core, with its steps, beside a bare scan of the same texts."""
    articles = seed_articles()
    watchlist = load_watchlist()
    pipeline = Pipeline(watchlist, load_topics(None, watchlist))
    for article in articles[:20]:  # numba's compiled code loaded, caches warm
        batches(pipeline.process(article)[1], PARTITIONS)
    heap.settle()  # the collector as the tag process runs it once started
    size_mb = sum(len(a.body.encode()) + len(a.title.encode()) for a in articles) / 1e6
    texts = [f"{a.title}\n{a.body}" for a in articles]
    automaton = bare_automaton(watchlist)

    def run_stage() -> None:
        for article in articles:
            batches(pipeline.process(article)[1], PARTITIONS)

    def run_scan() -> None:
        for text in texts:
            for _ in automaton.iter(normalize_ar(text)):
                pass

    stage, scan = cpu_timed(run_stage), cpu_timed(run_scan)
    steps = stage_steps(pipeline, articles)
    print(f"\ntag stage: {len(articles)} seed-news articles, {size_mb:.1f} MB, one core (CPU time)")
    print(f"  {'':36} {'articles/s':>11} {'MB/s':>7} {'us/article':>11}")
    for label, seconds in (
        ("Pipeline.process + batches", stage),
        ("bare scan (normalize + pyahocorasick)", scan),
    ):
        print(
            f"  {label:36} {len(articles) / seconds:11,.0f} {size_mb / seconds:7.1f} "
            f"{seconds / len(articles) * 1e6:11.0f}"
        )
    print(f"  tag stage vs bare scan: {stage / scan:.1f}x the time")
    record("tag_stage", per_s=len(articles) / stage, scan_per_s=len(articles) / scan)
    print(
        "  where an article's time goes (us): "
        + ", ".join(f"{k} {v:.0f}" for k, v in steps.items())
    )


def stage_steps(pipeline: Pipeline, articles: list[Article]) -> dict[str, float]:
    """Microseconds of CPU per article in each step of :meth:`Pipeline.process` (done by
    hand here, step by step, as the pipeline does them)."""
    clock = time.thread_time
    spent = dict.fromkeys(("clean", "tag", "topics", "messages", "mentions", "batches"), 0.0)
    for article in articles:
        t0 = clock()
        cleaned = clean_body(article.body, title=article.title, source=article.source)
        t1 = clock()
        entities = pipeline.tagger.find(title=article.title, body=article.body, cleaned=cleaned)
        t2 = clock()
        found = pipeline.matcher.match_tagged(entities, pipeline.pattern_leaves)
        t3 = clock()
        tagged = tagged_article(article, cleaned.text, entities.messages, found)
        t4 = clock()
        events = mentions(tagged)
        t5 = clock()
        batches(events, PARTITIONS)
        t6 = clock()
        laps = (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5)
        for step, seconds in zip(spent, laps, strict=True):
            spent[step] += seconds
    return {step: seconds / len(articles) * 1e6 for step, seconds in spent.items()}


CLI_FILES = 4000
CLI_BYTES = 18 * 1000 * 1000


def cli_corpus(directory: Path, files: int = CLI_FILES, seed: int = 20241202) -> list[Path]:
    """``files`` texts of about ``CLI_BYTES`` in all: paragraphs of the seeds and of the
    review sets (tests/data/review) recombined, a blank line between them."""
    paragraphs = [
        line.strip()
        for path in sorted((ROOT / "seeds").glob("*.txt"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if len(line.split()) > 8
    ]
    for path in sorted((ROOT / "tests" / "data" / "review").glob("*.yaml")):
        cases = yaml.safe_load(path.read_text(encoding="utf-8"))["cases"]
        paragraphs.extend(case["text"].strip() for case in cases)
    rng = random.Random(seed)
    per_file = CLI_BYTES // files
    paths = []
    for i in range(files):
        chosen: list[str] = []
        while sum(len(p.encode()) + 2 for p in chosen) < per_file:
            chosen.append(rng.choice(paragraphs))
        path = directory / f"{i:05d}.txt"
        path.write_text("\n\n".join(chosen), encoding="utf-8")
        paths.append(path)
    return paths


def wall_timed(command: list[str], repeat: int = 3) -> tuple[float, float]:
    """Best wall times of a whole process (run from this checkout) to its first line of
    output and to its exit."""
    first = whole = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        with subprocess.Popen(command, stdout=subprocess.PIPE, cwd=ROOT) as process:
            assert process.stdout is not None
            process.stdout.readline()
            first = min(first, time.perf_counter() - start)
            for _ in process.stdout:
                pass
        whole = min(whole, time.perf_counter() - start)
        if process.returncode:
            raise subprocess.CalledProcessError(process.returncode, command)
    return first, whole


def cli_bench() -> None:
    """``raqib tag`` over many files as a whole process, beside a bare scan of the files."""
    raqib = [sys.executable, "-c", "import sys; from raqib.cli import main; sys.exit(main())"]
    watchlist = load_watchlist()
    automaton = bare_automaton(watchlist)
    with tempfile.TemporaryDirectory() as tmp:
        paths = cli_corpus(Path(tmp))
        size_mb = sum(p.stat().st_size for p in paths) / 1e6
        short = Path(tmp) / "short.txt"
        short.write_text("زار الوزير ظريف دمشق اليوم مع وفد\n", encoding="utf-8")

        def run_scan() -> None:
            for path in paths:
                for _ in automaton.iter(normalize_ar(path.read_text(encoding="utf-8"))):
                    pass

        scan = timed(run_scan)
        startup, one = wall_timed([*raqib, "tag", str(short)], repeat=5)
        _, whole = wall_timed([*raqib, "tag", *map(str, paths)])
    print(f"\nraqib tag: {len(paths):,} files, {size_mb:.1f} MB, wall time of the whole process")
    print(f"  {'':48} {'MB/s':>7} {'seconds':>8}")
    rows = (
        ("raqib tag FILE... (start to exit)", size_mb / whole, whole),
        ("  less one short file's whole run", size_mb / (whole - one), whole - one),
        ("bare scan (read, normalize, pyahocorasick)", size_mb / scan, scan),
    )
    for label, speed, seconds in rows:
        print(f"  {label:48} {speed:7.1f} {seconds:8.2f}")
    print(f"  {'start-up: one short file, to its line':48} {'':>7} {startup:8.2f}")
    print(f"  {'one short file, start to exit':48} {'':>7} {one:8.2f}")
    print(f"  raqib tag vs bare scan: {whole / scan:.1f}x the time")
    record("raqib_tag", seconds=whole, scan_seconds=scan, startup_s=startup)


def main() -> int:
    sections = set(sys.argv[1:]) or {"matcher", "stage", "cli"}
    if "matcher" in sections:
        articles = corpus()
        default = load_watchlist()
        bench("default watchlist", default, articles)
        bench("synthetic watchlist", synthetic_watchlist(default), articles)
    if "stage" in sections:
        stage_bench()
    if "cli" in sections:
        cli_bench()
    return 0


if __name__ == "__main__":
    sys.exit(main())
