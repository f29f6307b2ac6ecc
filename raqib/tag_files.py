"""``raqib tag FILE...``: one JSON line per file, in the order given, from one process or
from workers forked once the tagger has started.

Start-up (imports, the watchlist, numba's compiled code) costs more than tagging a hundred
files, so it is paid once: the parent tags the first run of files itself (which loads
everything), then forks workers that inherit the started tagger and tag the other runs;
the parent writes their lines in input order, so the output is the same bytes as from one
process. A file that cannot be read stops the output where one process stops: the lines of
the files before it, then its error (``ClickException``, exit status 1).
"""

from __future__ import annotations

import gc
import json
import json.encoder
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from processors.pipeline import Pipeline

RUN_FILES = 32
"""Files a worker tags per task: enough that sending a task costs nothing beside it."""
PARALLEL_MIN_FILES = 4 * RUN_FILES
"""Fewer files are tagged in one process: forking and collecting would cost more than the
second core gives back."""

Run = tuple[list[str], str | None]
"""The lines of a run of files, and the error of the file that stopped it (None: none did)."""


def tag_line(pipeline: Pipeline, name: str, text: str, *, clean: bool) -> str:
    """The JSON line ``raqib tag`` prints for one file: ``json.dumps`` of
    ``{"file", "entities", "topics"}`` (``ensure_ascii=False``), written out piece by piece:
    the fields an entity takes from the watchlist are the same in each of its mentions, so
    they are serialized once (json.dumps took about a tenth of the time per file)."""
    tags, found = pipeline.tag_text(text, clean=clean)
    heads = _HEADS
    entities = []
    for t in tags:
        key = (t.id, t.type, t.name, t.wikidata)
        head = heads.get(key)
        if head is None:
            fields = dict(zip(_HEAD, key, strict=True))
            head = heads[key] = json.dumps(fields, ensure_ascii=False)[:-1]
        entities.append(
            f'{head}, "surface": {_quote(t.surface)}, "start": {t.start}, "end": {t.end}}}'
        )
    topics = json.dumps([{"id": t.id, "evidence": t.evidence} for t in found], ensure_ascii=False)
    return f'{{"file": {_quote(name)}, "entities": [{", ".join(entities)}], "topics": {topics}}}'


_quote = json.encoder.encode_basestring
"""A string as ``json.dumps(..., ensure_ascii=False)`` writes it (its own C function)."""
_HEAD = ("id", "type", "name", "wikidata")
_HEADS: dict[tuple[str, str, str, str | None], str] = {}
"""Each watched entity's fields from the watchlist as the start of its JSON object (no
closing brace), by those fields: one per entity of the watchlist the process loaded."""


def lines_of(pipeline: Pipeline, names: Sequence[str], *, clean: bool) -> Iterator[str]:
    """The lines of ``names`` in order, each as soon as its file is tagged; a file that
    cannot be read raises ``ClickException``."""
    for name in names:
        if name == "-":
            text = sys.stdin.read()
        else:
            try:
                text = Path(name).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise click.ClickException(f"{name}: {exc}") from exc
        yield tag_line(pipeline, name, text, clean=clean)


def load_numba_quietly() -> None:
    """Load numba and the part of it that compiled code needs with scipy out of its sight:
    numba imports scipy to check its version and probes scipy's BLAS as it first loads
    compiled code, a fifth of a second of each start where scipy is installed. raqib's
    compiled code does no linear algebra and scipy is no dependency of raqib's (the tests
    bring it), so a process of raqib's starts as it would without it; the probe only
    decides whether numba's ``np.dot`` fallbacks may call BLAS. scipy stays importable."""
    if "numba.np.arraymath" in sys.modules:
        return
    hidden = [name for name in ("scipy", "scipy.linalg.cython_blas") if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # its import fails at once
    try:
        import numba.np.arraymath  # noqa: F401 - loaded here, where the probe finds nothing
    finally:
        for name in hidden:
            del sys.modules[name]


def workers(jobs: int) -> int:
    """Processes to tag with: ``jobs``, or one per core this process may run on (0)."""
    if jobs:
        return jobs
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def tag_files(
    pipeline: Pipeline, names: Sequence[str], *, clean: bool, jobs: int = 0
) -> Iterator[str]:
    """Every file's line, in the order of ``names``, as blocks of lines to print (a line
    each as it is tagged from one process; a run's lines at once from the workers, one
    write instead of dozens); a file that cannot be read raises ``ClickException`` after
    the lines before it."""
    processes = workers(jobs)
    if processes < 2 or len(names) < PARALLEL_MIN_FILES or "-" in names:
        yield from lines_of(pipeline, names, clean=clean)
        return
    # the first run here loads the compiled code, which the workers then inherit
    yield from lines_of(pipeline, names[:RUN_FILES], clean=clean)
    runs = [list(names[i : i + RUN_FILES]) for i in range(RUN_FILES, len(names), RUN_FILES)]
    yield from _forked(pipeline, runs, clean=clean, processes=processes)


_STARTED: tuple[Pipeline, bool] | None = None
"""The parent's tagger, as a forked worker inherits it (set in the worker only)."""


def _start_worker(pipeline: Pipeline, clean: bool) -> None:
    global _STARTED  # one per worker process, set once as it starts
    _STARTED = (pipeline, clean)


def _worker_run(names: list[str]) -> Run:
    """A run's lines, up to the first file that cannot be read (and its error)."""
    assert _STARTED is not None  # set by the pool's initializer
    pipeline, clean = _STARTED
    lines: list[str] = []
    try:
        lines.extend(lines_of(pipeline, names, clean=clean))
    except click.ClickException as exc:
        return lines, exc.message
    return lines, None


def _forked(
    pipeline: Pipeline, runs: list[list[str]], *, clean: bool, processes: int
) -> Iterator[str]:
    """The lines of ``runs`` tagged by ``processes`` forked workers, in order, a run's
    lines as one block."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    sys.stdout.flush()  # a worker flushes the streams it inherits as it exits
    gc.freeze()  # what start-up built stays shared with the workers, untouched
    pool = ProcessPoolExecutor(
        processes,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_start_worker,
        initargs=(pipeline, clean),
    )
    try:
        for lines, error in pool.map(_worker_run, runs):
            if lines:
                yield "\n".join(lines)
            if error is not None:
                raise click.ClickException(error)
    finally:
        pool.shutdown(cancel_futures=True)
