"""What an input message may be: sizes, characters, nesting, clocks.

Every limit here exists because an input once broke something (or could): a 6 MB message
stopped the tag agent, a 100 KB id became a Redis key in every subject, a bidi override in
a source name reorders what an operator reads, a lone surrogate cannot be written back out
as UTF-8, a duplicate ``body`` key means two programs read two different articles, and a
clock a day fast drags the event-time watermark into the future. Each check raises
:class:`InvalidArticle` with a reason a person understands and a short ``kind`` for metrics.

>>> check_identifier("source", "SANA\\u202e", limit=200)
Traceback (most recent call last):
...
raqib.exceptions.InvalidArticle: source: contains the control character U+202E at 4
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from raqib.exceptions import InvalidArticle

KNOWN_FIELDS = frozenset({"id", "source", "url", "title", "body", "published_at", "lang"})
"""The article fields of the contract; every other input field goes under ``extra``."""
EXTRA_FIELD = "extra"


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-field limits of an input article (characters unless named otherwise)."""

    message_bytes: int = 1_000_000
    id_chars: int = 512
    source_chars: int = 200
    url_chars: int = 4096
    title_chars: int = 2_000
    lang_chars: int = 35
    extra_bytes: int = 64_000
    depth: int = 32
    clock_skew: timedelta = timedelta(minutes=5)
    """An article dated ahead of the time it was received by up to this is on time (clocks
    differ by seconds to minutes); further ahead, its time is clamped to the received time."""
    future: timedelta = timedelta(days=1)
    """Dated further ahead than this, an article is dead-lettered: no time zone slip or
    clock drift explains it, so its date is not a date."""


DEFAULT_LIMITS = Limits()

NUL = "\u0000"
# C0 controls but tab/newline/carriage return, DEL, C1 controls, and the bidi controls
# that reorder text (LRE RLE PDF LRO RLO U+202A-E, LRI RLI FSI PDI U+2066-9, LRM RLM
# U+200E-F, ALM U+061C): harmless inside prose, spoofing inside a name or an id.
_IDENTIFIER_BAD = frozenset(
    [chr(c) for c in range(0x20) if chr(c) not in "\t\n\r"]
    + [chr(c) for c in range(0x7F, 0xA0)]
    + [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)]
)
_IDENTIFIER_TABLE = dict.fromkeys(map(ord, _IDENTIFIER_BAD), None)


def _pairs_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads`` object hook: two values for one key are an error, not "last wins"."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise InvalidArticle(f"not JSON: duplicate key {key[:40]!r}", "duplicate_key")
        found[key] = value
    return found


def load_json(text: str) -> Any:
    """Parse JSON, refusing duplicate keys and nesting Python cannot recurse through."""
    try:
        return json.loads(text, object_pairs_hook=_pairs_without_duplicates)
    except json.JSONDecodeError as exc:
        reason = f"not JSON: {exc.msg} at line {exc.lineno} col {exc.colno}"
        raise InvalidArticle(reason, "not_json") from exc
    except RecursionError as exc:
        raise InvalidArticle("not JSON: nested too deeply to read", "too_deep") from exc


def depth(value: Any, limit: int) -> int:
    """How deeply ``value`` nests lists and objects, counting no further than ``limit + 1``.

    >>> depth({"a": [{"b": 1}]}, 32)
    3
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            level += 1
            deepest = max(deepest, level)
            if deepest > limit:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level) for child in children)
    return deepest


def check_text(name: str, value: object, *, limit: int | None) -> None:
    """A prose field (title, body): no NUL, no lone surrogate, not over its length."""
    if not isinstance(value, str):
        return  # the model reports the wrong type
    if limit is not None and len(value) > limit:
        raise InvalidArticle(
            f"{name}: {len(value):,} characters, at most {limit:,}", "field_too_long"
        )
    at = value.find(NUL)
    if at >= 0:
        raise InvalidArticle(f"{name}: contains NUL (U+0000) at {at}", "control_chars")
    _check_encodable(name, value)


def check_identifier(name: str, value: object, *, limit: int) -> None:
    """An identifier (id, source, url, lang): short, and no control or bidi character."""
    if not isinstance(value, str):
        return
    if len(value) > limit:
        raise InvalidArticle(
            f"{name}: {len(value):,} characters, at most {limit:,}", "field_too_long"
        )
    if len(value.translate(_IDENTIFIER_TABLE)) != len(value):
        at, char = next((i, c) for i, c in enumerate(value) if c in _IDENTIFIER_BAD)
        raise InvalidArticle(
            f"{name}: contains the control character U+{ord(char):04X} at {at}", "control_chars"
        )
    _check_encodable(name, value)


def _check_encodable(name: str, value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(value[exc.start])
        raise InvalidArticle(
            f"{name}: contains a lone surrogate (U+{code:04X}) at {exc.start}", "not_utf8"
        ) from exc


def namespaced(data: dict[str, Any], limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """The contract's fields as they came, every other field under ``extra`` (so that an
    input field named like raqib's output, ``entities`` or ``clean_body``, cannot collide
    with it), after checking each against its limit."""
    for name, limit in (
        ("id", limits.id_chars),
        ("source", limits.source_chars),
        ("url", limits.url_chars),
        ("lang", limits.lang_chars),
    ):
        check_identifier(name, data.get(name), limit=limit)
    check_text("title", data.get("title"), limit=limits.title_chars)
    check_text("body", data.get("body"), limit=None)  # bounded by the message size
    known = {k: v for k, v in data.items() if k in KNOWN_FIELDS}
    extra = {k: v for k, v in data.items() if k not in KNOWN_FIELDS}
    if extra:
        if depth(extra, limits.depth) > limits.depth:
            raise InvalidArticle(f"extra fields nest deeper than {limits.depth} levels", "too_deep")
        try:
            size = len(json.dumps(extra, ensure_ascii=False).encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise InvalidArticle("extra fields: contain a lone surrogate", "not_utf8") from exc
        if size > limits.extra_bytes:
            raise InvalidArticle(
                f"extra fields: {size:,} bytes, at most {limits.extra_bytes:,}", "field_too_long"
            )
        known[EXTRA_FIELD] = extra
    return known
