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

from kafka.partitioner.default import murmur2

from raqib.messages import EPOCH, Mention, MentionBatch, TaggedArticle

PAIR_ENTITIES = 6


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


def snippet(text: str, start: int, end: int) -> tuple[str, int, int]:
    """A line of context around ``text[start:end]`` and where the name is in it, so that
    each channel can highlight it in its own markup.

    >>> snippet("قال الوزير إن إيران سترد على الهجوم", 14, 19)
    ('قال الوزير إن إيران سترد على الهجوم', 14, 19)
    """
    first = max(0, start - SNIPPET_CONTEXT)
    last = min(len(text), end + SNIPPET_CONTEXT)
    while first > 0 and not text[first - 1].isspace() and start - first < SNIPPET_CONTEXT + 20:
        first -= 1  # do not cut a word
    while last < len(text) and not text[last].isspace() and last - end < SNIPPET_CONTEXT + 20:
        last += 1
    raw = text[first:last]
    flat = " ".join(raw.split())
    if flat == raw:
        return raw, start - first, end - first
    lead = " ".join(raw[: start - first].split())
    name = " ".join(raw[start - first : end - first].split())
    lead = lead + " " if lead and raw[: start - first][-1:].isspace() else lead
    return flat, len(lead), len(lead) + len(name)


def mentions(article: TaggedArticle, *, pair_entities: int = PAIR_ENTITIES) -> list[Mention]:
    """The mention events to publish on topic ``mentions``, keyed by subject: an entity's
    carries a snippet around its first mention (the evidence an alert shows)."""
    event_time = article.published_at or EPOCH
    first: dict[str, tuple[str, int, int]] = {}
    for entity in article.entities:
        key = f"entity:{entity.id}"
        if key not in first:
            text = article.title if entity.field == "title" else article.body
            first[key] = snippet(text, entity.start, entity.end)
    out = []
    for subject in subjects(article, pair_entities=pair_entities):
        context = first.get(subject)
        out.append(
            Mention(
                subject=subject,
                article_id=article.id,
                event_time=event_time,
                source=article.source,
                title=article.title,
                url=article.url,
                snippet=context[0] if context else "",
                highlight=context[1:] if context else None,
            )
        )
    return out


@lru_cache(maxsize=200_000)
def partition_of(subject: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives the key ``subject`` (murmur2, as
    the Java client and kafka-python do), so a subject always lands on one partition.

    >>> partition_of("entity:iran", 4) == partition_of("entity:iran", 4) < 4
    True
    """
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
        chunks = grouped.setdefault(partition, [[]])
        if chunks[-1] and sizes[partition] + size > max_bytes:
            chunks.append([])
            sizes[partition] = 0
        chunks[-1].append(event)
        sizes[partition] = sizes.get(partition, 0) + size
    return [
        (p, MentionBatch(article_id=chunk[0].article_id, mentions=chunk))
        for p, chunks in grouped.items()
        for chunk in chunks
    ]
