"""Turn a tagged article into one mention event per (subject, article).

Subjects: ``entity:<id>`` for each distinct entity and ``source:<outlet>`` for the outlet
(so that source-silence rules can see it). Topic and pair subjects join here when their
rules do.

>>> from raqib.messages import TaggedArticle, EntityMention
>>> t = TaggedArticle(id="a1", source="SANA", body="x", entities=[
...     EntityMention(id="iran", type="GPE", name="إيران", surface="إيران", start=0, end=5)])
>>> subjects(t)
['entity:iran', 'source:SANA']
"""

from __future__ import annotations

from raqib.messages import EPOCH, Mention, TaggedArticle


def subjects(article: TaggedArticle) -> list[str]:
    """Distinct subjects of an article, entities first in order of first mention."""
    found: list[str] = []
    for entity in article.entities:
        subject = f"entity:{entity.id}"
        if subject not in found:
            found.append(subject)
    found.extend(f"topic:{topic.id}" for topic in article.topics)
    if article.source.strip():
        found.append(f"source:{article.source.strip()}")
    return found


def mentions(article: TaggedArticle) -> list[Mention]:
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
        for subject in subjects(article)
    ]
