"""Every output fits the broker by rule: dead letters cut, tagged articles trimmed in order."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from processors.outputs import dead_letter, fit_tagged
from raqib.messages import EntityMention, TaggedArticle


def _tagged(body: str, entities: int) -> TaggedArticle:
    mention = EntityMention(id="iran", type="GPE", name="إيران", surface="إيران", start=0, end=5)
    return TaggedArticle(
        id="a1",
        source="سانا",
        title="عنوان",
        body=body,
        clean_body=body,
        entities=[mention] * entities,
    )


def test_a_dead_letter_keeps_its_head_its_size_and_its_hash() -> None:
    raw = "إيران ".encode() * 100_000
    letter = dead_letter(raw, "too large", limit=1_000, key=b"k" * 5_000, where={"offset": "7"})
    assert letter.value == raw[:1_000]
    assert letter.key == b"k" * 1_024
    assert letter.headers["raqib-truncated"] == b"true"
    assert letter.headers["raqib-original-size"] == str(len(raw)).encode()
    assert letter.headers["raqib-sha256"] == hashlib.sha256(raw).hexdigest().encode()
    assert letter.headers["raqib-offset"] == b"7"
    small = dead_letter(b"{}", "not an article", limit=1_000)
    assert small.value == b"{}" and "raqib-truncated" not in small.headers


def test_a_tagged_article_that_fits_is_sent_whole(news_ar: dict[str, Any]) -> None:
    tagged = _tagged(news_ar["bodies"]["hatami"], 3)
    data, trimmed = fit_tagged(tagged, 1_000_000)
    assert trimmed == [] and json.loads(data)["clean_body"] == tagged.clean_body


def test_trimming_cuts_clean_body_then_body_then_entities() -> None:
    body = "قالت إيران " * 20_000
    data, trimmed = fit_tagged(_tagged(body, 10), 500_000)
    assert trimmed == ["clean_body"] and len(data) <= 500_000
    assert json.loads(data)["body"] == body
    data, trimmed = fit_tagged(_tagged(body, 10), 100_000)
    assert trimmed == ["clean_body", "body"] and json.loads(data)["entities_total"] is None
    data, trimmed = fit_tagged(_tagged(body, 5_000), 100_000)
    out = json.loads(data)
    assert trimmed == ["clean_body", "body", "entities"] and len(data) <= 100_000
    assert 0 < len(out["entities"]) < out["entities_total"] == 5_000
    assert out["trimmed"] == trimmed
