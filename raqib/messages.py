"""The messages that travel between the stages, as pydantic models (JSON, UTF-8).

Every topic carries these models serialized with :func:`dumps`; readers validate with
``Model.model_validate_json``. :func:`parse_article` is the one gate an input message
passes: anything it rejects goes to the dead-letter topic with the reason it raises.

>>> a = parse_article('{"source": "SANA", "body": "حلب"}'.encode(), fallback_time=EPOCH)
>>> a.id.startswith("h-")
True
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import from_json, to_json

from raqib.durations import format_duration
from raqib.exceptions import InvalidArticle
from raqib.ids import article_id
from raqib.limits import DEFAULT_LIMITS, Limits, load_json, namespaced

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MENTION_URL_CHARS = 1_000
MENTION_TITLE_CHARS = 300
"""A mention carries its article's title (the evidence an alert shows) cut to this: an
article names up to hundreds of subjects, and each of its mentions repeats the title."""

Field_ = Literal["title", "body"]


def as_utc(value: datetime) -> datetime:
    """Naive timestamps are taken as UTC; aware ones are converted to it."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class Article(BaseModel):
    """An input article on topic ``articles``; unknown input fields are kept as they came,
    under ``extra`` (their own namespace: an input field cannot pose as raqib's output)."""

    model_config = ConfigDict(str_strip_whitespace=False)

    id: str = ""
    source: str = ""
    url: str = ""
    title: str = ""
    body: str
    published_at: datetime | None = None
    lang: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)

    @field_validator("body")
    @classmethod
    def _body_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("body is empty")
        return value

    @field_validator("published_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else as_utc(value)

    @property
    def event_time(self) -> datetime:
        """Event time; :func:`parse_article` always fills ``published_at``."""
        return self.published_at or EPOCH


def parse_article(
    raw: bytes,
    *,
    fallback_time: datetime | None,
    max_bytes: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Article:
    """Validate one raw message; raise :class:`InvalidArticle` with a readable reason.

    ``fallback_time`` is when the message was received (the broker's timestamp, bounded by
    the consumer's clock): the event time of an article without ``published_at``, and the
    bound on one dated ahead of it — clamped to it within ``limits.future``, dead-lettered
    beyond. Offline (``None``: no receive time) an article must carry its ``published_at``.
    """
    max_bytes = limits.message_bytes if max_bytes is None else max_bytes
    if len(raw) > max_bytes:
        raise InvalidArticle(f"too large: {len(raw):,} bytes > {max_bytes:,}", "too_large")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidArticle(f"not UTF-8: {exc.reason} at byte {exc.start}", "not_utf8") from exc
    data = load_json(text)
    if not isinstance(data, dict):
        raise InvalidArticle(f"not a JSON object but {type(data).__name__}", "not_object")
    try:
        article = Article.model_validate(namespaced(data, limits), strict=False)
    except ValidationError as exc:
        raise InvalidArticle(_first_error(exc)) from exc
    if not article.id:
        article.id = article_id(article.source, article.url, article.title, article.body)
    if fallback_time is None:
        if article.published_at is None:
            raise InvalidArticle("invalid article: published_at: required offline", "invalid")
        return article
    received = as_utc(fallback_time)
    if article.published_at is None:
        article.published_at = received
    elif article.published_at > received + limits.future:
        ahead = _roughly(article.published_at - received)
        raise InvalidArticle(
            f"published_at {article.published_at.isoformat()} is {ahead} after the article "
            f"was received ({received.isoformat()}); at most {format_duration(limits.future)}",
            "future",
        )
    elif article.published_at > received + limits.clock_skew:
        article.published_at = received  # a clock or time zone slip: it is news now
    return article


def _roughly(span: timedelta) -> str:
    """A span as a person reads it: ``about 3 days``, ``about 20 hours``, ``12 minutes``."""
    hours = span.total_seconds() / 3600
    if hours >= 48:
        return f"about {hours / 24:,.0f} days"
    if hours >= 2:
        return f"about {hours:.0f} hours"
    return f"{span.total_seconds() / 60:.0f} minutes"


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    parts = []
    for err in errors[:3]:
        loc = ".".join(str(p) for p in err["loc"]) or "article"
        parts.append(f"{loc}: {err['msg']}")
    return "invalid article: " + "; ".join(parts)


class EntityMention(BaseModel):
    """One occurrence of a watched entity; ``text[start:end] == surface`` on the named field."""

    id: str
    type: str
    name: str
    name_en: str = ""
    wikidata: str | None = None
    surface: str
    start: int
    end: int
    field: Field_ = "body"


class TopicMatch(BaseModel):
    """A watched topic found in the article, with the evidence that made it match."""

    id: str
    evidence: list[str] = Field(default_factory=list)


class TaggedArticle(Article):
    """The article plus what the processors found in it (topic ``articles.tagged``)."""

    clean_body: str = ""
    entities: list[EntityMention] = Field(default_factory=list)
    topics: list[TopicMatch] = Field(default_factory=list)
    trimmed: list[str] = Field(
        default_factory=list, description="fields cut so the message fits the broker"
    )
    entities_total: int | None = Field(None, description="entities found, when some were cut")


class Mention(BaseModel):
    """One counting event per (subject, article); travels in a :class:`MentionBatch`."""

    subject: str
    article_id: str
    event_time: datetime
    source: str = ""
    title: str = ""
    url: str = ""
    snippet: str = Field("", description="context of an entity's first mention")
    highlight: tuple[int, int] | None = Field(None, description="the name in the snippet")
    seq: str | None = Field(
        None,
        exclude=True,
        description="where the count stage read it (partition:offset); set there, never sent",
    )

    @field_validator("event_time")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)

    @field_validator("title")
    @classmethod
    def _short_title(cls, value: str) -> str:
        return value[:MENTION_TITLE_CHARS]

    @field_validator("url")
    @classmethod
    def _short_url(cls, value: str) -> str:
        return value[:MENTION_URL_CHARS]


class MentionBatch(BaseModel):
    """A message on topic ``mentions``: one article's mention events whose subjects hash
    to the same partition (Kafka's key hash, murmur2, of the subject), sent to that
    partition with the first subject as key. Every subject's events still reach one
    partition, in order, so counting stays partition-local; an article costs one message
    per partition instead of one per subject (40 on average).

    Every partition hears of every article: one with no mentions for a partition sends it
    an empty batch (a heartbeat), so each partition knows how far every ``articles``
    partition (``origin``) has got and judges in one order (:mod:`processors.align`).

    An *idle marker* (``idle``, no article, no mentions) says that its origin's tag stage
    has read all the partition holds and heard nothing new for a while: the count stage
    stops waiting for that origin until it sends again."""

    article_id: str
    mentions: list[Mention] = Field(default_factory=list)
    event_time: datetime = EPOCH
    origin: int | None = Field(None, description="the articles partition it came from")
    idle: bool = Field(False, description="an idle marker of ``origin``, not an article")

    @model_validator(mode="before")
    @classmethod
    def _wire(cls, data: Any) -> Any:
        """The wire form (:func:`encode_batch`) read by a plain ``model_validate_json``:
        its entries become whole mentions (:func:`decode_batch` is the fast way)."""
        if isinstance(data, dict) and "entries" in data:
            data = dict(data)
            article, entries = data.pop("article", None) or {}, data.pop("entries") or []
            whole = list(data.get("mentions") or [])
            if isinstance(article, dict) and isinstance(entries, list):
                whole += [{**article, **e} for e in entries if isinstance(e, dict)]
            data["mentions"] = whole
        return data

    @model_validator(mode="after")
    def _time(self) -> MentionBatch:
        if self.mentions and self.event_time == EPOCH:
            self.event_time = self.mentions[0].event_time
        self.event_time = as_utc(self.event_time)
        return self


class MentionArticle(BaseModel):
    """The fields every mention of one article shares, sent once per message."""

    article_id: str
    event_time: datetime
    source: str = ""
    title: str = ""
    url: str = ""


class MentionsWire(BaseModel):
    """How a :class:`MentionBatch` travels on ``mentions``, less its ``entries``: an
    article's ~40 mentions repeated its id, time, outlet, title and url in every one —
    half the bytes of the topic and of the count stage's parsing. Each entry is
    ``{"subject", "snippet"?, "highlight"?}``; ``mentions`` holds any mention that does not
    share ``article`` (never, from raqib's tag stage) and reads messages of the older form."""

    article_id: str
    event_time: datetime = EPOCH
    origin: int | None = None
    idle: bool = False
    article: MentionArticle | None = None
    mentions: list[Mention] = Field(default_factory=list)


_shared = attrgetter("article_id", "event_time", "source", "title", "url")
"""The fields a mention shares with its article's other mentions, as a tuple."""


def encode_batch(batch: MentionBatch) -> bytes:
    """A batch as it is sent (see :class:`MentionsWire`; :func:`decode_batch` reads it)."""
    wire: dict[str, Any] = {"article_id": batch.article_id, "event_time": batch.event_time}
    if batch.origin is not None:
        wire["origin"] = batch.origin
    if batch.idle:
        wire["idle"] = True
    if batch.mentions:
        first = batch.mentions[0]
        shared = _shared(first)
        wire["article"] = dict(zip(MENTION_FIELDS[1:6], shared, strict=True))
        entries: list[dict[str, Any]] = []
        others: list[Mention] = []
        for m in batch.mentions:
            if _shared(m) != shared:
                others.append(m)
                continue
            values = m.__dict__  # read as a dict: three attribute lookups a mention less
            entry: dict[str, Any] = {"subject": values["subject"]}
            if values["snippet"]:
                entry["snippet"] = values["snippet"]
            if values["highlight"] is not None:
                entry["highlight"] = values["highlight"]
            entries.append(entry)
        wire["entries"] = entries
        if others:
            wire["mentions"] = [m.model_dump(exclude={"seq"}) for m in others]
    return to_json(wire)


BUNDLE_OPEN, BUNDLE_CLOSE = b'{"bundle":[', b"]}"
BUNDLE_OVERHEAD = len(BUNDLE_OPEN) + len(BUNDLE_CLOSE)


def join_batches(values: Sequence[bytes]) -> bytes:
    """Encoded batches (:func:`encode_batch`) of one ``mentions`` partition as one message,
    in order, without encoding them again: ``{"bundle": [batch, ...]}``, or a lone batch as
    it is. A message costs the producer and the consumer far more than its bytes, so the
    tag stage sends a partition one message per batch of articles, not one per article.
    Its size is the values' plus ``BUNDLE_OVERHEAD`` and a comma between two."""
    if len(values) == 1:
        return values[0]
    return BUNDLE_OPEN + b",".join(values) + BUNDLE_CLOSE


def decode_mentions(raw: bytes | str, seq: str | None = None) -> list[MentionBatch]:
    """Read a ``mentions`` message: one batch (:func:`decode_batch`) or a bundle of them
    (:func:`join_batches`), in order; a ``ValueError`` if it is neither. ``seq``: where the
    message was read, stamped on every mention (``Mention.seq``)."""
    data = from_json(raw)
    if isinstance(data, dict) and "bundle" in data:
        batches = data["bundle"]
        if not isinstance(batches, list) or len(data) != 1:
            raise ValueError('a mentions bundle is {"bundle": [batch, ...]} and nothing else')
        return [_batch_of(batch, seq) for batch in batches]
    return [_batch_of(data, seq)]


def decode_batch(raw: bytes | str) -> MentionBatch:
    """Read a ``mentions`` message of one batch (either form); a ``ValueError``
    (``ValidationError`` is one) if it is not one."""
    return _batch_of(from_json(raw))


def _batch_of(data: object, seq: str | None = None) -> MentionBatch:
    """A batch from its decoded JSON. The article's fields are validated once for all its
    mentions, each entry's own three by type, in one loop (a batch of a bundle holds
    dozens; the count stage reads every one of them)."""
    if not isinstance(data, dict):
        raise ValueError(f"a mentions message is a JSON object, not {type(data).__name__}")
    entries = data.pop("entries", None) or []
    wire = MentionsWire.model_validate(data)
    mentions = list(wire.mentions)
    if seq is not None:
        for mention in mentions:  # the older form, whole mentions: never from raqib
            mention.seq = seq
    if entries:
        if wire.article is None or not isinstance(entries, list):
            raise ValueError("mentions entries without their article")
        a = wire.article
        shared = Mention(
            subject="", article_id=a.article_id, event_time=a.event_time,
            source=a.source, title=a.title, url=a.url, seq=seq,
        ).__dict__  # fmt: skip
        rows = []
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(subject := entry.get("subject"), str):
                raise ValueError(f"a mention entry without a subject: {str(entry)[:80]}")
            snippet = entry.get("snippet", "")
            if not isinstance(snippet, str):
                raise ValueError(f"{subject}: snippet is not a string")
            highlight = entry.get("highlight")
            if highlight is not None:
                highlight = _highlight(subject, highlight)
            values = shared.copy()
            values["subject"], values["snippet"], values["highlight"] = subject, snippet, highlight
            rows.append(values)
        fields = MENTION_FIELDS_SET if seq is None else STAMPED_FIELDS_SET
        mentions.extend(trusted_many(Mention, rows, fields))
    at = wire.event_time
    if mentions and at == EPOCH:
        at = mentions[0].event_time
    values = {
        "article_id": wire.article_id,
        "mentions": mentions,
        "event_time": as_utc(at),
        "origin": wire.origin,
        "idle": wire.idle,
    }
    return trusted(MentionBatch, values, values)  # every part validated above


def _highlight(subject: str, highlight: object) -> tuple[int, int]:
    """An entry's highlight, checked: two integer offsets."""
    if not (isinstance(highlight, list) and len(highlight) == 2) or not all(
        type(n) is int for n in highlight
    ):
        raise ValueError(f"{subject}: highlight is not two offsets")
    return highlight[0], highlight[1]


MENTION_FIELDS = (
    "subject",
    "article_id",
    "event_time",
    "source",
    "title",
    "url",
    "snippet",
    "highlight",
)
"""The fields a mention is built with (``seq`` is left unset, as the count stage expects)."""
MENTION_FIELDS_SET = frozenset(MENTION_FIELDS)
STAMPED_FIELDS_SET = MENTION_FIELDS_SET | {"seq"}
"""A mention's fields as read by the count stage, which stamps where it read it."""

_new = BaseModel.__new__
# BaseModel's slots, set straight through their descriptors (a sixth quicker per instance
# than object.__setattr__, which looks each one up first)
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__
M = TypeVar("M", bound=BaseModel)


def trusted(model: type[M], values: dict[str, Any], fields_set: Iterable[str]) -> M:
    """An instance of ``model`` from values that already have the fields' validated types
    and every field (in the model's order), without validating them again: what
    ``model_construct`` does, without its per-field loop. Only for values raqib builds
    itself or validated once for many; input is always validated."""
    instance = _new(model)
    _set_dict(instance, values)
    _set_fields_set(instance, set(fields_set))
    _set_extra(instance, None)
    _set_private(instance, None)
    return instance


def trusted_many(
    model: type[M], rows: Iterable[dict[str, Any]], fields_set: frozenset[str]
) -> list[M]:
    """:func:`trusted` of each of ``rows`` (each its own ``fields_set``), without a call per
    instance: for what a stage builds per mention, dozens an article."""
    out = []
    for values in rows:
        instance = _new(model)
        _set_dict(instance, values)
        _set_fields_set(instance, set(fields_set))
        _set_extra(instance, None)
        _set_private(instance, None)
        out.append(instance)
    return out


class Evidence(BaseModel):
    """An article that counted in an alert's window."""

    id: str
    title: str = ""
    source: str = ""
    url: str = ""
    snippet: str = ""
    highlight: tuple[int, int] | None = None


class Window(BaseModel):
    start: datetime
    end: datetime


EntityTypeName = Literal["PER", "ORG", "GPE", "LOC", "FAC"]
"""The entity types of the watchlist, as rules name them."""
AlertKind = Literal["spike", "new", "cooccurrence", "threshold", "silence"]
AlertStatus = Literal["firing", "resolved"]


class Alert(BaseModel):
    """An alert event on topic ``alerts``; one ``alert_id`` per episode."""

    alert_id: str
    rule: str
    kind: AlertKind
    status: AlertStatus
    subject: str
    window: Window
    observed: int
    expected: float
    ratio: float
    p_value: float
    severity: str
    articles: list[Evidence] = Field(default_factory=list)
    event_time: datetime
    summary: str
    labels: dict[str, str] = Field(default_factory=dict)
    channels: list[str] = Field(default_factory=list)


def dumps(model: BaseModel) -> bytes:
    """Serialize a message for a topic: compact JSON, UTF-8, Arabic unescaped. The bytes of
    ``model_dump_json().encode()``, taken as the serializer writes them: ``model_dump_json``
    decodes them to a string, and encoding it again took a third of a tagged article's time."""
    return model.__pydantic_serializer__.to_json(model)


def loads_dict(raw: bytes) -> dict[str, Any]:
    """Decode a JSON object message (for tools that only display it)."""
    value = json.loads(raw.decode("utf-8"))
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    return value
