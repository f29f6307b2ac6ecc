"""Turn a tagged article into one mention event per (subject, article).

Subjects: ``entity:<id>`` for each distinct entity, ``topic:<id>`` for each matched topic,
``pair:<a>+<b>`` (ids sorted) for two entities named in the same article, and
``source:<outlet>`` for the outlet (so that silence rules can see it).

Pairs grow with the square of the entities: a long article naming 30 actors would make
435 of them, most incidental. Only the ``pair_entities`` entities the article names most
often (ties: the first named) are paired, 6 by default: at most 15 pairs.

>>> from raqib.messages import TaggedArticle, EntityMention
>>> t = TaggedArticle(id="a1", source="SANA", body="x", entities=[
...     EntityMention(id="iran", type="GPE", name="إيران", surface="إيران", start=0, end=5)])
>>> subjects(t)
['entity:iran', 'source:SANA']
>>> t.entities.append(EntityMention(id="aleppo", type="GPE", name="حلب", surface="حلب",
...                                 start=9, end=12))
>>> subjects(t)
['entity:iran', 'entity:aleppo', 'pair:aleppo+iran', 'source:SANA']
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache
from itertools import chain, combinations
from operator import itemgetter
from typing import TypeVar

import numba
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

from raqib.messages import (
    EPOCH,
    MENTION_FIELDS_SET,
    Mention,
    MentionBatch,
    TaggedArticle,
    as_utc,
    trusted,
    trusted_many,
)

PAIR_ENTITIES = 6
M = TypeVar("M", bound=BaseModel)


def subjects(article: TaggedArticle, *, pair_entities: int = PAIR_ENTITIES) -> list[str]:
    """Distinct subjects of an article: entities in order of first mention, pairs, topics,
    the source."""
    return _subjects(article, [entity.id for entity in article.entities], pair_entities)


def _subjects(article: TaggedArticle, ids: list[str], pair_entities: int) -> list[str]:
    """:func:`subjects`, the ids of the article's entities read already."""
    counted = Counter(ids)  # keeps first-mention order
    found = [f"entity:{ident}" for ident in counted]
    main = sorted(ident for ident, _ in _most_common(counted, pair_entities))
    found.extend(f"pair:{a}+{b}" for a, b in combinations(main, 2))
    found.extend(f"topic:{topic.id}" for topic in article.topics)
    if article.source.strip():
        found.append(f"source:{article.source.strip()}")
    return found


def _most_common(counted: Counter[str], n: int) -> list[tuple[str, int]]:
    """``counted.most_common(n)`` (the first counted first among ties), as the sort that
    ``heapq.nlargest`` stands for: for a few dozen entities the sort is quicker."""
    return sorted(counted.items(), key=itemgetter(1), reverse=True)[: max(n, 0)]


SNIPPET_CONTEXT = 80
"""Characters kept on each side of an entity's first mention in its evidence snippet."""
SNIPPET_WORD_REACH = 20
"""How much further a snippet may reach to end on a whole word."""


def snippet(text: str, start: int, end: int) -> tuple[str, int, int]:
    """A line of context around ``text[start:end]`` and where the name is in it, so that
    each channel can highlight it in its own markup.

    >>> snippet("قال الوزير إن إيران سترد على الهجوم", 14, 19)
    ('قال الوزير إن إيران سترد على الهجوم', 14, 19)
    """
    return snippets(text, [(start, end)])[0]


def snippets(text: str, spans: list[tuple[int, int]]) -> list[tuple[str, int, int]]:
    """:func:`snippet` of each span of one text: up to ``SNIPPET_CONTEXT`` characters on
    each side, reaching up to ``SNIPPET_WORD_REACH`` further not to cut a word, every run
    of blanks written as one space. Where each window starts and ends, and where the name
    lies once blanks are flattened, are worked out in one compiled pass over the text."""
    return _snippets_within(text, [(start, end, 0, len(text)) for start, end in spans])


def _snippets_within(
    text: str, spans: list[tuple[int, int, int, int]]
) -> list[tuple[str, int, int]]:
    """:func:`snippets` of (start, end, lo, hi) rows: each span's window kept inside its
    own [lo, hi) of ``text`` (so that the title's and the body's snippets, from ``title +
    body``, take one compiled call)."""
    if not spans:
        return []
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    bounds = np.fromiter(chain.from_iterable(spans), np.int64, 4 * len(spans)).reshape(-1, 4)
    flat, cuts = _windows(codes, _BLANK, bounds, SNIPPET_CONTEXT, SNIPPET_WORD_REACH)
    lines = flat.tobytes().decode("utf-32-le", "surrogatepass")
    return [(lines[a:b], lead, name) for a, b, lead, name in cuts.tolist()]


_BLANK = np.array([chr(code).isspace() for code in range(0x3001)], dtype=np.bool_)
"""``str.isspace`` (what ``str.split`` splits at) up to U+3000, the last blank."""


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def _windows(
    codes: npt.NDArray[np.uint32],
    blank: npt.NDArray[np.bool_],
    spans: npt.NDArray[np.int64],
    context: int,
    reach: int,
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64]]:
    """Every span's snippet, blanks flattened (``" ".join(text[first:last].split())`` of its
    window [first, last), kept inside the span's [lo, hi)), one after another in one array
    of code points; and per span where its snippet is in that array and where the name is
    in the snippet: as in the window when the window is flat already (no blank but single
    spaces inside it: flattening left it as long, and met no other blank), else the length
    of the flattened text before the name (a blank right before the name kept as one
    space) and of the flattened name."""
    windows = np.empty((spans.shape[0], 2), dtype=np.int64)
    size = 0
    for k in range(spans.shape[0]):
        start, end, lo, hi = spans[k, 0], spans[k, 1], spans[k, 2], spans[k, 3]
        first = max(lo, start - context)
        last = min(hi, end + context)
        while (
            first > lo
            and not _is_blank(codes[first - 1], blank)
            and start - first < context + reach
        ):
            first -= 1  # do not cut a word
        while last < hi and not _is_blank(codes[last], blank) and last - end < context + reach:
            last += 1
        windows[k, 0], windows[k, 1] = first, last
        size += max(last - first, 0)
    flat = np.empty(size, dtype=np.uint32)
    out = np.empty((spans.shape[0], 4), dtype=np.int64)
    at = 0
    for k in range(spans.shape[0]):
        start, end = spans[k, 0], spans[k, 1]
        first, last = windows[k, 0], windows[k, 1]
        out[k, 0] = at
        began = pending = other = False
        for i in range(first, last):
            if _is_blank(codes[i], blank):
                pending = began
                if codes[i] != 32:
                    other = True
            else:
                if pending:
                    flat[at] = 32  # SPACE
                    at += 1
                    pending = False
                flat[at] = codes[i]
                at += 1
                began = True
        out[k, 1] = at
        if not other and at - out[k, 0] == last - first:  # flat already
            out[k, 2], out[k, 3] = start - first, end - first
            continue
        lead = _flat_length(codes, blank, first, start)
        if lead > 0 and start > first and _is_blank(codes[start - 1], blank):
            lead += 1
        out[k, 2], out[k, 3] = lead, lead + _flat_length(codes, blank, start, end)
    return flat[:at], out


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def _is_blank(code: np.uint32, blank: npt.NDArray[np.bool_]) -> bool:
    return code < blank.shape[0] and blank[code]  # type: ignore[no-any-return]


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def _flat_length(
    codes: npt.NDArray[np.uint32], blank: npt.NDArray[np.bool_], start: int, end: int
) -> int:
    """``len(" ".join(text[start:end].split()))``."""
    letters = words = 0
    inside = False
    for i in range(start, end):
        if _is_blank(codes[i], blank):
            inside = False
        else:
            letters += 1
            if not inside:
                words += 1
                inside = True
    return letters + words - 1 if words else 0


def mentions(article: TaggedArticle, *, pair_entities: int = PAIR_ENTITIES) -> list[Mention]:
    """The mention events to publish on topic ``mentions``, keyed by subject: an entity's
    carries a snippet around its first mention (the evidence an alert shows).

    The fields every event of the article shares are validated once (the event time made
    UTC, the title and url cut); each event then only adds its subject and snippet, which
    need no validation: the same events, built in a fraction of the time."""
    ids = [e.id for e in article.entities]
    named = dict(zip(reversed(ids), reversed(article.entities), strict=True))  # first mentions
    split, size = len(article.title), len(article.title) + len(article.body)
    spans = [
        (e.start, e.end, 0, split)
        if e.field == "title"
        else (e.start + split, e.end + split, split, size)
        for e in named.values()
    ]
    cut = _snippets_within(article.title + article.body, spans)
    first = {f"entity:{i}": context for i, context in zip(named, cut, strict=True)}
    shared = Mention(
        subject="",
        article_id=article.id,
        event_time=article.published_at or EPOCH,
        source=article.source,
        title=article.title,
        url=article.url,
    )
    base = shared.__dict__  # the fields in the model's order, as validation builds them
    rows = []
    for subject in _subjects(article, ids, pair_entities):
        row = base.copy()  # the same keys, so the same order
        row["subject"] = subject
        context = first.get(subject)
        if context:
            row["snippet"], row["highlight"] = context[0], context[1:]
        rows.append(row)
    return trusted_many(Mention, rows, MENTION_FIELDS_SET)


@lru_cache(maxsize=200_000)
def partition_of(subject: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives the key ``subject`` (murmur2, as
    the Java client and kafka-python do), so a subject always lands on one partition.

    >>> partition_of("entity:iran", 4) == partition_of("entity:iran", 4) < 4
    True
    """
    from kafka.partitioner.default import murmur2  # imported here: only the worker sends

    return (murmur2(subject.encode("utf-8")) & 0x7FFFFFFF) % partitions


MENTION_OVERHEAD_BYTES = 128
"""JSON field names, the event time and punctuation of one serialized mention."""


def batches(
    events: list[Mention], partitions: int, *, max_bytes: int = 1_000_000
) -> list[tuple[int, MentionBatch]]:
    """One article's mention events grouped by the partition of their subject, in order:
    one message per partition instead of one per subject, split where a message would
    exceed ``max_bytes`` (an article naming thousands of entities of a large watchlist).
    Each event's size is bounded from above (UTF-8 takes at most 4 bytes a character) in
    the same pass, from its values as they are (no attribute lookups).

    >>> from datetime import UTC, datetime
    >>> ms = [Mention(subject=f"entity:e{i}", article_id="a", event_time=EPOCH, title="t" * 250)
    ...       for i in range(30)]
    >>> [(p, len(b.mentions)) for p, b in batches(ms, 1, max_bytes=10_000)]
    [(0, 8), (0, 8), (0, 8), (0, 6)]
    """
    grouped: dict[int, list[list[Mention]]] = {}
    sizes: dict[int, int] = {}
    for event in events:
        m = event.__dict__
        subject = m["subject"]
        size = (
            4 * (len(subject) + len(m["article_id"]) + len(m["source"]))
            + 4 * (len(m["title"]) + len(m["url"]) + len(m["snippet"]))
            + MENTION_OVERHEAD_BYTES
        )
        partition = partition_of(subject, partitions)
        chunks = grouped.get(partition)
        if chunks is None:
            grouped[partition] = [[event]]
            sizes[partition] = size
            continue
        if sizes[partition] + size > max_bytes:
            chunks.append([])
            sizes[partition] = 0
        chunks[-1].append(event)
        sizes[partition] += size
    return [(p, _batch(chunk)) for p, chunks in grouped.items() for chunk in chunks]


_BATCH_SET = frozenset({"article_id", "mentions", "event_time"})


def _batch(chunk: list[Mention]) -> MentionBatch:
    """``MentionBatch(article_id=chunk[0].article_id, mentions=chunk)`` without validating
    the mentions again: its validators' result (the first mention's time, in UTC)."""
    first = chunk[0]
    values = {
        "article_id": first.article_id,
        "mentions": chunk,
        "event_time": as_utc(first.event_time),
        "origin": None,
        "idle": False,
    }
    return trusted(MentionBatch, values, _BATCH_SET)
