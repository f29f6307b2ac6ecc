"""parse_article is the one gate into the pipeline: every rejection has a reason and a kind."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from raqib.exceptions import InvalidArticle
from raqib.ids import article_id
from raqib.limits import DEFAULT_LIMITS
from raqib.messages import (
    Alert,
    Article,
    EntityMention,
    Evidence,
    TaggedArticle,
    TopicMatch,
    Window,
    dumps,
    parse_article,
)

INGEST = datetime(2024, 12, 1, 12, 0, tzinfo=UTC)


def raw(**fields: Any) -> bytes:
    return json.dumps(fields, ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize(
    ("message", "kind", "reason"),
    [
        (b"\xff\xfe{}", "not_utf8", "not UTF-8"),
        (b'{"body": "x"', "not_json", "not JSON"),
        (b"[1, 2]", "not_object", "not a JSON object but list"),
        (b"null", "not_object", "not a JSON object but NoneType"),
        (b'{"title": "x"}', "invalid", "body: Field required"),
        (b'{"body": "  \\n\\t "}', "invalid", "body is empty"),
        (b'{"body": 5}', "invalid", "body: Input should be a valid string"),
        (b'{"body": "x", "source": ["a"]}', "invalid", "source:"),
        (b'{"body": "x", "published_at": "yesterday"}', "invalid", "published_at:"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_every_rejection_has_a_reason_and_a_kind(message: bytes, kind: str, reason: str) -> None:
    with pytest.raises(InvalidArticle) as info:
        parse_article(message, fallback_time=INGEST)
    assert info.value.kind == kind
    assert reason in info.value.reason
    assert str(info.value) == info.value.reason


def test_too_large_is_checked_on_bytes_before_decoding(news_ar: dict[str, Any]) -> None:
    message = raw(body=news_ar["bodies"]["hatami"])
    with pytest.raises(InvalidArticle) as info:
        parse_article(message, fallback_time=INGEST, max_bytes=len(message) - 1)
    assert info.value.kind == "too_large"
    assert f"{len(message)} bytes" in info.value.reason
    assert parse_article(message, fallback_time=INGEST, max_bytes=len(message)).body


def test_id_is_kept_when_given(news_ar: dict[str, Any]) -> None:
    article = parse_article(
        raw(id="sana-1", url="https://sana.sy/1", body=news_ar["bodies"]["araghchi"]),
        fallback_time=INGEST,
    )
    assert article.id == "sana-1"


def test_id_from_url_ignores_the_content_and_the_link_s_tracking(news_ar: dict[str, Any]) -> None:
    """An article published to ``articles`` without an id is named as raqib's producers
    name it (by its normalized URL): the same story, however it arrived, is one article."""
    url = "https://thiqa-agency.com/2024/12/hatami"
    first = parse_article(raw(url=url, body=news_ar["bodies"]["hatami"]), fallback_time=INGEST)
    edited = parse_article(
        raw(
            url="HTTP://Thiqa-Agency.com/2024/12/hatami?utm_source=rss#top",
            title=news_ar["headlines"][0],
            body=news_ar["bodies"]["araghchi"],
        ),
        fallback_time=INGEST,
    )
    assert first.id == edited.id == article_id("", url)
    assert first.id == "u-" + hashlib.sha256(url.encode()).hexdigest()[:20]


def test_a_url_that_does_not_parse_still_names_the_article(news_ar: dict[str, Any]) -> None:
    """An unbalanced IPv6 bracket is input like any other: named by the URL as written."""
    url = "http://[::1/خبر"
    article = parse_article(raw(url=url, body=news_ar["bodies"]["hatami"]), fallback_time=INGEST)
    assert article.id == "u-" + hashlib.sha256(url.encode()).hexdigest()[:20]


def test_id_from_content_without_url(news_ar: dict[str, Any]) -> None:
    """Without a URL, the outlet, title and body name it: the same wire story reprinted
    by another outlet is another article (one more outlet carried it)."""
    body, title = news_ar["bodies"]["hatami"], news_ar["headlines"][0]
    one = parse_article(raw(title=title, body=body, source="سانا"), fallback_time=INGEST)
    again = parse_article(raw(title=title, body=body, source="سانا"), fallback_time=INGEST)
    reprint = parse_article(raw(title=title, body=body, source="عكاظ"), fallback_time=INGEST)
    other = parse_article(raw(title=news_ar["headlines"][1], body=body), fallback_time=INGEST)
    assert one.id.startswith("h-") and len(one.id) == 22
    assert one.id == again.id == article_id("سانا", "", title, body)
    assert len({one.id, reprint.id, other.id}) == 3


def test_missing_published_at_falls_back_to_ingest_time(news_ar: dict[str, Any]) -> None:
    body = news_ar["bodies"]["araghchi"]
    assert parse_article(raw(body=body), fallback_time=INGEST).published_at == INGEST
    nulled = parse_article(raw(body=body, published_at=None), fallback_time=INGEST)
    assert nulled.published_at == INGEST
    naive_ingest = parse_article(raw(body=body), fallback_time=INGEST.replace(tzinfo=None))
    assert naive_ingest.published_at == INGEST
    assert naive_ingest.event_time.tzinfo is not None


@pytest.mark.parametrize(
    ("published_at", "expected"),
    [
        ("2024-12-01T09:30:00", datetime(2024, 12, 1, 9, 30, tzinfo=UTC)),  # naive: UTC
        ("2024-12-01T09:30:00Z", datetime(2024, 12, 1, 9, 30, tzinfo=UTC)),
        ("2024-12-01T12:30:00+03:00", datetime(2024, 12, 1, 9, 30, tzinfo=UTC)),  # Damascus
        ("2024-11-30T23:30:00-10:00", datetime(2024, 12, 1, 9, 30, tzinfo=UTC)),
    ],
)
def test_published_at_is_utc(published_at: str, expected: datetime) -> None:
    article = parse_article(raw(body="حلب", published_at=published_at), fallback_time=INGEST)
    assert article.published_at == expected
    assert article.published_at is not None and article.published_at.utcoffset() == timedelta(0)
    assert article.event_time == expected


def test_a_clock_slightly_ahead_is_on_time_and_further_ahead_is_clamped() -> None:
    skew = DEFAULT_LIMITS.clock_skew
    near = INGEST + skew
    kept = parse_article(raw(body="حلب", published_at=near.isoformat()), fallback_time=INGEST)
    assert kept.published_at == near
    ahead = INGEST + timedelta(hours=20)  # a time zone slip, or a clock a day fast
    clamped = parse_article(raw(body="حلب", published_at=ahead.isoformat()), fallback_time=INGEST)
    assert clamped.published_at == INGEST


def test_a_date_beyond_the_future_limit_is_dead_lettered_with_how_far_ahead() -> None:
    far = INGEST + DEFAULT_LIMITS.future + timedelta(seconds=1)
    with pytest.raises(InvalidArticle) as info:
        parse_article(raw(body="حلب", published_at=far.isoformat()), fallback_time=INGEST)
    assert info.value.kind == "future"
    assert "about 24 hours after the article was received" in info.value.reason
    with pytest.raises(InvalidArticle, match="about 27,424 days"):
        parse_article(raw(body="حلب", published_at="2100-01-01T00:00:00Z"), fallback_time=INGEST)


def test_offline_an_article_must_carry_its_time() -> None:
    with pytest.raises(InvalidArticle) as info:
        parse_article(raw(body="حلب"), fallback_time=None)
    assert info.value.kind == "invalid" and "published_at" in info.value.reason
    dated = parse_article(
        raw(body="حلب", published_at="2030-01-01T00:00:00+02:00"), fallback_time=None
    )
    assert dated.published_at == datetime(2029, 12, 31, 22, tzinfo=UTC)  # no cap offline


def test_unknown_fields_are_kept_under_extra(news_ar: dict[str, Any]) -> None:
    article = parse_article(
        raw(body=news_ar["bodies"]["hatami"], scenario="drill", meta={"section": "سياسة"}),
        fallback_time=INGEST,
    )
    dumped = article.model_dump()
    assert dumped["extra"] == {"scenario": "drill", "meta": {"section": "سياسة"}}
    assert json.loads(dumps(article))["extra"]["meta"] == {"section": "سياسة"}


def test_an_input_field_named_like_raqibs_output_cannot_collide_with_it() -> None:
    article = parse_article(
        raw(body="قالت إيران", entities="x", topics=[1], clean_body=5, extra="mine"),
        fallback_time=INGEST,
    )
    tagged = TaggedArticle(**article.model_dump())
    assert tagged.entities == [] and tagged.topics == [] and tagged.clean_body == ""
    assert tagged.extra == {"entities": "x", "topics": [1], "clean_body": 5, "extra": "mine"}


def _nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("fields", "kind", "reason"),
    [
        ({"id": "x" * 100_000}, "field_too_long", "id: 100,000 characters, at most 512"),
        ({"source": "س" * 201}, "field_too_long", "source: 201 characters, at most 200"),
        ({"title": "ع" * 2_001}, "field_too_long", "title: 2,001 characters, at most 2,000"),
        ({"url": "https://a/" + "b" * 5000}, "field_too_long", "url: 5,010 characters"),
        ({"body": "حلب\u0000"}, "control_chars", "body: contains NUL (U+0000) at 3"),
        (
            {"source": "سانا\u202e"},
            "control_chars",
            "source: contains the control character U+202E",
        ),
        ({"id": "a\x1bb"}, "control_chars", "id: contains the control character U+001B at 1"),
        ({"title": "\ud800"}, "not_utf8", "title: contains a lone surrogate (U+D800) at 0"),
        ({"meta": _nested(33)}, "too_deep", "nest deeper than 32"),
        ({"meta": "x" * 70_000}, "field_too_long", "extra fields: 70,0"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 40 else None,
)
def test_field_limits_have_clear_reasons(fields: dict[str, Any], kind: str, reason: str) -> None:
    message = json.dumps({"body": "قالت إيران", **fields}, ensure_ascii=True).encode()
    with pytest.raises(InvalidArticle) as info:
        parse_article(message, fallback_time=INGEST)
    assert info.value.kind == kind
    assert reason in info.value.reason


def test_prose_may_carry_bidi_marks_that_arabic_uses() -> None:
    body = "قال \u200fالرئيس\u200f إن \u061cإيران"
    assert parse_article(raw(body=body, title="\u202bعنوان\u202c"), fallback_time=INGEST).body


def test_duplicate_keys_and_unreadable_nesting_are_refused() -> None:
    with pytest.raises(InvalidArticle) as info:
        parse_article(b'{"body": "x", "body": "y"}', fallback_time=INGEST)
    assert (info.value.kind, info.value.reason) == (
        "duplicate_key",
        "not JSON: duplicate key 'body'",
    )
    deep = b'{"body": "x", "m": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(InvalidArticle) as info:
        parse_article(deep, fallback_time=INGEST)
    assert info.value.kind == "too_deep"


def test_dumps_keeps_arabic_unescaped_and_round_trips(news_ar: dict[str, Any]) -> None:
    title = news_ar["headlines"][0]
    article = parse_article(
        raw(source="عكاظ", title=title, body=news_ar["bodies"]["hatami"]), fallback_time=INGEST
    )
    data = dumps(article)
    assert title.encode("utf-8") in data
    assert b"\\u06" not in data
    assert Article.model_validate_json(data) == article


def test_dumps_writes_the_bytes_of_model_dump_json() -> None:
    """The serializer's bytes as they are: what ``model_dump_json().encode()`` gives (Arabic
    with diacritics and tatweel unescaped, nested messages, extra fields)."""
    body = "وصـــل وزيرُ الخارجية الإيراني إلى دمشقَ، وقال: «سنعود»."
    tagged = TaggedArticle(
        id="a1",
        source="عكاظ",
        title="ظريف في دمشق",
        body=body,
        published_at=INGEST,
        extra={"وسوم": ["سياسة", 1, None]},
        clean_body=body,
        entities=[
            EntityMention(id="damascus", type="GPE", name="دمشق", surface="دمشقَ", start=36, end=41)
        ],
        topics=[TopicMatch(id="diplomatic-visits", evidence=["entity:damascus", "زيارة"])],
    )
    for message in (tagged, Article(body=body), TopicMatch(id="x")):
        assert dumps(message) == message.model_dump_json().encode("utf-8")


def test_alert_round_trips_with_an_arabic_summary(news_ar: dict[str, Any]) -> None:
    start = datetime(2024, 12, 10, 0, 10, tzinfo=timezone(timedelta(hours=3)))
    alert = Alert(
        alert_id="a1",
        rule="entity-spike",
        kind="spike",
        status="firing",
        subject="entity:x",
        window=Window(start=start, end=start + timedelta(minutes=10)),
        observed=12,
        expected=0.1,
        ratio=120.0,
        p_value=1e-20,
        severity="warning",
        articles=[Evidence(id="e1", title=news_ar["headlines"][0], source="عكاظ")],
        event_time=start,
        summary="spike: أمير حاتمي (Amir Hatami)",
    )
    data = dumps(alert)
    assert "أمير حاتمي".encode() in data
    assert Alert.model_validate_json(data) == alert
