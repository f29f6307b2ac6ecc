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


def mentions(article: TaggedArticle, *, pair_entities: int = PAIR_ENTITIES) -> list[Mention]:
    """The mention events to publish on topic ``mentions``, keyed by subject."""
    event_time = article.published_at or EPOCH
    return [
        Mention(
            subject=subject,
            article_id=article.id,
            event_time=event_time,
            source=article.source,
            title=article.title,
        )
        for subject in subjects(article, pair_entities=pair_entities)
    ]


@lru_cache(maxsize=200_000)
def partition_of(subject: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives the key ``subject`` (murmur2, as
    the Java client and kafka-python do), so a subject always lands on one partition.

    >>> partition_of("entity:iran", 4) == partition_of("entity:iran", 4) < 4
    True
    """
    return (murmur2(subject.encode("utf-8")) & 0x7FFFFFFF) % partitions


def batches(events: list[Mention], partitions: int) -> dict[int, MentionBatch]:
    """One article's mention events grouped by the partition of their subject, in order:
    one message per partition instead of one per subject."""
    grouped: dict[int, list[Mention]] = {}
    for event in events:
        grouped.setdefault(partition_of(event.subject, partitions), []).append(event)
    return {
        p: MentionBatch(article_id=group[0].article_id, mentions=group)
        for p, group in grouped.items()
    }
