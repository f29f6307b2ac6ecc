"""Redis memory per subject and per mention, for the capacity model (README).

Run with ``make bench``. Records synthetic mentions with the count stage's own
``RedisCounts.record_many`` into the embedded Redis and reads ``used_memory`` before and
after, in two shapes that tell the two costs apart:

* spread: each of ``SUBJECTS`` subjects named once an hour for a day (24 articles each, 24
  minute buckets, 24 hour counts): a quiet watchlist;
* dense: each subject named by 24 articles within one minute (one minute bucket, one hour
  count): a story.

Every mention carries a 150-character snippet (the seeds' mean) and its article a title
and url; an article names ``PER_ARTICLE`` subjects, so its title is stored once for them.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from redis.asyncio import Redis

from processors.counts import RedisCounts
from raqib.embedded import EmbeddedRedis
from raqib.messages import Mention

SUBJECTS = 10_000
PER_SUBJECT = 24
PER_ARTICLE = 10
T0 = datetime(2025, 1, 1, tzinfo=UTC)
SNIPPET = "قالت وكالة الأنباء الرسمية إن وزير الخارجية التقى نظيره في العاصمة " * 2


def mentions(dense: bool) -> list[Mention]:
    """``PER_SUBJECT`` mentions of each subject, ``PER_ARTICLE`` subjects per article."""
    out = []
    for k in range(PER_SUBJECT):
        at = T0 + (timedelta(seconds=2 * k) if dense else timedelta(hours=k))
        for s in range(SUBJECTS):
            article = f"{'d' if dense else 's'}-{k}-{s // PER_ARTICLE}"
            out.append(
                Mention(
                    subject=f"entity:synthetic-{s}",
                    article_id=article,
                    event_time=at,
                    source="وكالة",
                    title="عنوان خبر عن لقاء وزيري الخارجية في العاصمة",
                    url=f"https://example.org/news/{article}",
                    snippet=SNIPPET[:150],
                    highlight=(10, 20),
                    seq=f"0:{k * SUBJECTS + s}",
                )
            )
    return out


async def measure(url: str, prefix: str, dense: bool) -> int:
    client = Redis.from_url(url)
    try:
        counts = RedisCounts(client, prefix=prefix)
        before = int((await client.info("memory"))["used_memory"])
        batch = mentions(dense)
        for i in range(0, len(batch), 5000):
            await counts.record_many(batch[i : i + 5000])
        return int((await client.info("memory"))["used_memory"]) - before
    finally:
        await client.aclose()


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        redis = EmbeddedRedis(Path(tmp))
        redis.start()
        try:
            spread = asyncio.run(measure(redis.url, "spread", dense=False))
            dense = asyncio.run(measure(redis.url, "dense", dense=True))
        finally:
            redis.stop()
    n = SUBJECTS * PER_SUBJECT
    print(
        f"Redis memory, {SUBJECTS:,} subjects x {PER_SUBJECT} mentions ({n:,} mentions, "
        f"{PER_ARTICLE} subjects per article, 150-character snippets):"
    )
    for label, used in (("spread over a day", spread), ("within one minute", dense)):
        print(
            f"  {label:<18} {used / 2**20:7.1f} MB: {used / n:5.0f} bytes per mention, "
            f"{used / SUBJECTS / 1024:6.1f} KB per subject"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
