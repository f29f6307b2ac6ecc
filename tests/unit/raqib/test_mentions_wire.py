"""The ``mentions`` wire form: an article's shared fields once, each mention's own after.

Real seed news through the real tag stage: what the count stage reads back is what the
tag stage built, mention for mention; the older form (every field in every mention) is
still read; what is not a mentions message is a ``ValueError`` the count stage logs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from processors.pipeline import Pipeline
from processors.tag_agent import Tagged, TagStage, bundled
from processors.topics import load_topics
from processors.watchlist import load_watchlist
from producers.seeds import load_seed_dir
from raqib.messages import (
    BUNDLE_OVERHEAD,
    EPOCH,
    Mention,
    MentionBatch,
    decode_batch,
    decode_mentions,
    dumps,
    encode_batch,
    join_batches,
)

SEEDS = Path(__file__).resolve().parents[3] / "seeds"


@pytest.fixture(scope="module")
def sent() -> list[bytes]:
    """Every ``mentions`` message the tag stage writes for the seeds on four partitions."""
    watchlist = load_watchlist()
    stage = TagStage(Pipeline(watchlist, load_topics(None, watchlist)), 4)
    out: list[bytes] = []
    for article in load_seed_dir(SEEDS):
        raw = json.dumps(article, ensure_ascii=False, default=str).encode()
        outcome = stage.process(raw, None, origin=1)
        if isinstance(outcome, Tagged):
            out.extend(value for _, _, value in outcome.mentions)
    return out


def test_what_is_read_is_what_was_built_in_half_the_bytes(sent: list[bytes]) -> None:
    batches = [decode_batch(value) for value in sent]
    mentions = [m for b in batches for m in b.mentions]
    assert len(mentions) > 150 and any(m.highlight for m in mentions)
    assert any("ـ" in m.title or "إ" in m.title for m in mentions), "Arabic kept as written"
    for value, batch in zip(sent, batches, strict=True):
        assert encode_batch(batch) == value, "encoding is stable"
        assert MentionBatch.model_validate_json(value) == batch, "the plain model reads it too"
        older = dumps(batch)  # the older form: every field in every mention
        assert decode_batch(older) == batch
        assert len(value) < 0.6 * len(older) or not batch.mentions
        assert batch.origin == 1 and batch.event_time != EPOCH
        assert all(m.article_id == batch.article_id and m.seq is None for m in batch.mentions)


def test_a_mention_of_other_fields_travels_whole() -> None:
    at = EPOCH.replace(year=2024)
    a = Mention(subject="entity:iran", article_id="a", event_time=at, title="إيران", snippet="x")
    b = a.model_copy(update={"subject": "entity:syria", "title": "سوريا", "highlight": (0, 1)})
    batch = MentionBatch(article_id="a", mentions=[a, b], event_time=at, origin=0)
    back = decode_batch(encode_batch(batch))
    assert {(m.subject, m.title, m.highlight) for m in back.mentions} == {
        ("entity:iran", "إيران", None),
        ("entity:syria", "سوريا", (0, 1)),
    }


@pytest.mark.parametrize(
    "raw",
    [
        b"[]",
        b'{"event_time": "2024-12-01T00:00:00Z"}',
        b'{"article_id": "a", "entries": [{"subject": "entity:x"}]}',
        b'{"article_id": "a", "article": {"article_id": "a", "event_time": "2024-12-01T00:00:00Z"},'
        b' "entries": [{"snippet": "no subject"}]}',
        b'{"article_id": "a", "article": {"article_id": "a", "event_time": "2024-12-01T00:00:00Z"},'
        b' "entries": [{"subject": "entity:x", "highlight": [1, "2"]}]}',
        b"not json",
    ],
)
def test_what_is_not_a_mentions_message_is_a_value_error(raw: bytes) -> None:
    with pytest.raises(ValueError):
        decode_batch(raw)


def test_a_bundle_is_its_batches_in_order_and_a_lone_batch_goes_as_it_is(
    sent: list[bytes],
) -> None:
    bundle = join_batches(sent)
    assert (
        bundle.startswith(b'{"bundle":[')
        and len(bundle) == sum(map(len, sent)) + len(sent) - 1 + BUNDLE_OVERHEAD
    )
    assert decode_mentions(bundle) == [decode_batch(value) for value in sent]
    assert join_batches(sent[:1]) == sent[0]
    assert decode_mentions(sent[0]) == [decode_batch(sent[0])]


@pytest.mark.parametrize(
    "raw",
    [b'{"bundle": {"article_id": "a"}}', b'{"bundle": [[]]}', b'{"bundle": [], "x": 1}'],
)
def test_what_is_not_a_bundle_is_a_value_error(raw: bytes) -> None:
    with pytest.raises(ValueError):
        decode_mentions(raw)


def test_a_tag_batch_goes_as_few_messages_per_partition_as_fit(sent: list[bytes]) -> None:
    """Each partition's batches in order, split where the next would not fit, each
    message stamped with the earliest receipt it carries."""
    sends = [(i % 3, f"k{i}".encode(), value, 100.0 - i) for i, value in enumerate(sent)]
    limit = max(map(len, sent)) * 3
    out = bundled(sends, limit)
    assert all(len(value) <= limit for _, _, value, _ in out)
    for partition in range(3):
        mine = [s for s in sends if s[0] == partition]
        messages = [m for m in out if m[0] == partition]
        assert 1 < len(messages) < len(mine)
        assert [b for m in messages for b in decode_mentions(m[2])] == [
            decode_batch(s[2]) for s in mine
        ]
        assert messages[0][1] == mine[0][1]
        assert [m[3] for m in messages] == sorted((m[3] for m in messages), reverse=True)
    assert bundled(sends, 10**9) == [
        (
            p,
            sends[p][1],
            join_batches([s[2] for s in sends if s[0] == p]),
            min(s[3] for s in sends if s[0] == p),
        )
        for p in range(3)
    ]


def test_every_mention_read_is_stamped_with_where_it_was_read(sent: list[bytes]) -> None:
    """The count stage reads each message with its place (``partition:offset``): every
    mention of it carries that stamp, in either form, as a field that was set."""
    older = dumps(decode_batch(sent[0]))  # every field in every mention
    for raw in (join_batches(sent), older):
        batches = decode_mentions(raw, "3:1207")
        mentions = [m for b in batches for m in b.mentions]
        assert mentions and all(m.seq == "3:1207" for m in mentions)
        assert all("seq" in m.model_fields_set for m in mentions)
        unstamped = [m for b in decode_mentions(raw) for m in b.mentions]
        assert [m.model_copy(update={"seq": "3:1207"}) for m in unstamped] == mentions
        assert all(m.seq is None for m in unstamped)
