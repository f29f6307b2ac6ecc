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
from itertools import combinations
from typing import TypeVar

import numba
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

from raqib.messages import (
    EPOCH,
    MENTION_FIELDS,
    EntityMention,
    Mention,
    MentionBatch,
    TaggedArticle,
)

PAIR_ENTITIES = 6
M = TypeVar("M", bound=BaseModel)


def subjects(article: TaggedArticle, *, pair_entities: int = PAIR_ENTITIES) -> list[str]:
    """Distinct subjects of an article: entities in order of first mention, pairs, topics,
    the source."""
    counted = Counter(entity.id for entity in article.entities)  # keeps first-mention order
    found = [f"entity:{ident}" for ident in counted]
    main = sorted(ident for ident, _ in counted.most_common(pair_entities))
    found.extend(f"pair:{a}+{b}" for a, b in combinations(main, 2))
    found.extend(f"topic:{topic.id}" for topic in article.topics)
    if article.source.strip():
        found.append(f"source:{article.source.strip()}")
    return found


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
    if not spans:
        return []
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    bounds = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
    windows = _windows(codes, _BLANK, bounds, SNIPPET_CONTEXT, SNIPPET_WORD_REACH).tolist()
    found = []
    for (start, _), (first, last, flat, lead, name) in zip(spans, windows, strict=True):
        raw = text[first:last]
        if flat:
            found.append((raw, start - first, name))
        else:
            found.append((" ".join(raw.split()), lead, lead + name))
    return found


_BLANK = np.array([chr(code).isspace() for code in range(0x3001)], dtype=np.bool_)
"""``str.isspace`` (what ``str.split`` splits at) up to U+3000, the last blank."""


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def _windows(
    codes: npt.NDArray[np.uint32],
    blank: npt.NDArray[np.bool_],
    spans: npt.NDArray[np.int64],
    context: int,
    reach: int,
) -> npt.NDArray[np.int64]:
    """Per span: the window [first, last); whether it is flat already (no blank but single
    spaces inside it); else the length of the flattened text before the name (a blank
    right before the name kept as one space) and of the flattened name; when flat, the
    name's end in the window."""
    n = codes.shape[0]
    out = np.empty((spans.shape[0], 5), dtype=np.int64)
    for k in range(spans.shape[0]):
        start, end = spans[k, 0], spans[k, 1]
        first = max(0, start - context)
        last = min(n, end + context)
        while (
            first > 0 and not _is_blank(codes[first - 1], blank) and start - first < context + reach
        ):
            first -= 1  # do not cut a word
        while last < n and not _is_blank(codes[last], blank) and last - end < context + reach:
            last += 1
        flat = True
        after_space = True  # a leading blank is not flat
        for i in range(first, last):
            if _is_blank(codes[i], blank):
                if codes[i] != 32 or after_space:
                    flat = False
                    break
                after_space = True
            else:
                after_space = False
        if flat and last > first and codes[last - 1] == 32:
            flat = False
        out[k, 0], out[k, 1], out[k, 2] = first, last, flat
        if flat:
            out[k, 3], out[k, 4] = start - first, end - first
            continue
        lead = _flat_length(codes, blank, first, start)
        if lead > 0 and start > first and _is_blank(codes[start - 1], blank):
            lead += 1
        out[k, 3], out[k, 4] = lead, _flat_length(codes, blank, start, end)
    return out


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


_new = BaseModel.__new__
_set = object.__setattr__


def mentions(article: TaggedArticle, *, pair_entities: int = PAIR_ENTITIES) -> list[Mention]:
    """The mention events to publish on topic ``mentions``, keyed by subject: an entity's
    carries a snippet around its first mention (the evidence an alert shows).

    The fields every event of the article shares are validated once (the event time made
    UTC, the title and url cut); each event then only adds its subject and snippet, which
    need no validation: the same events, built in a fraction of the time."""
    named: dict[str, EntityMention] = {}  # each entity's first mention
    for entity in article.entities:
        if entity.id not in named:
            named[entity.id] = entity
    first: dict[str, tuple[str, int, int]] = {}
    for in_title, text in ((True, article.title), (False, article.body)):
        here = [(i, e) for i, e in named.items() if (e.field == "title") == in_title]
        cut = snippets(text, [(e.start, e.end) for _, e in here])
        first.update((f"entity:{i}", context) for (i, _), context in zip(here, cut, strict=True))
    shared = Mention(
        subject="",
        article_id=article.id,
        event_time=article.published_at or EPOCH,
        source=article.source,
        title=article.title,
        url=article.url,
    ).__dict__
    out = []
    for subject in subjects(article, pair_entities=pair_entities):
        context = first.get(subject)
        values = shared.copy()
        values["subject"] = subject
        if context:
            values["snippet"], values["highlight"] = context[0], context[1:]
        event = _new(Mention)
        _set(event, "__dict__", values)  # as trusted() does, without a call per event
        _set(event, "__pydantic_fields_set__", set(MENTION_FIELDS))
        _set(event, "__pydantic_extra__", None)
        _set(event, "__pydantic_private__", None)
        out.append(event)
    return out


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


def _size_bound(mention: Mention) -> int:
    """An upper bound of a mention's serialized size (UTF-8 takes at most 4 bytes a
    character), cheap enough to take for every mention."""
    chars = len(mention.subject) + len(mention.article_id) + len(mention.source)
    chars += len(mention.title) + len(mention.url) + len(mention.snippet)
    return 4 * chars + MENTION_OVERHEAD_BYTES


def batches(
    events: list[Mention], partitions: int, *, max_bytes: int = 1_000_000
) -> list[tuple[int, MentionBatch]]:
    """One article's mention events grouped by the partition of their subject, in order:
    one message per partition instead of one per subject, split where a message would
    exceed ``max_bytes`` (an article naming thousands of entities of a large watchlist).

    >>> from datetime import UTC, datetime
    >>> ms = [Mention(subject=f"entity:e{i}", article_id="a", event_time=EPOCH, title="t" * 250)
    ...       for i in range(30)]
    >>> [(p, len(b.mentions)) for p, b in batches(ms, 1, max_bytes=10_000)]
    [(0, 8), (0, 8), (0, 8), (0, 6)]
    """
    grouped: dict[int, list[list[Mention]]] = {}
    sizes: dict[int, int] = {}
    for event in events:
        partition = partition_of(event.subject, partitions)
        size = _size_bound(event)
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
    return [
        (p, MentionBatch(article_id=chunk[0].article_id, mentions=chunk))
        for p, chunks in grouped.items()
        for chunk in chunks
    ]
