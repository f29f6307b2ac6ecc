"""Messages the worker writes always fit the broker: by rule, never by luck.

A producer refuses a message over its request size (``MessageSizeTooLargeError``), and
an agent that meets that error dies. So every output is sized before it is sent:

* **dead letters** keep the first ``limit`` bytes of the input, with the original size
  and the SHA-256 of the whole in headers (a person can still see what came, and match
  it to the producer's copy);
* **tagged articles** over the limit are trimmed in a fixed order — ``clean_body`` (it is
  the body less its chrome), then ``body`` (the original stays on ``articles``), then the
  tail of ``entities`` (``entities_total`` says how many there were) — and name what was
  cut in ``trimmed``;
* **mention batches** are split: one article's mentions for a partition go out as as many
  messages as they need, in order (see :func:`processors.mentions.batches`).

>>> record = dead_letter(b"x" * 10, "too large", limit=4)
>>> record.value, record.headers["raqib-original-size"]
(b'xxxx', b'10')
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from raqib.messages import TaggedArticle, dumps

REASON_HEADER = "raqib-reason"
REASON_CHARS = 1_000
KEY_BYTES = 1_024
HEADROOM_BYTES = 16_384
"""Room left under the broker's limit for the record's key, headers and framing."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A dead letter as it is sent: raw bytes (maybe cut), key and headers."""

    value: bytes
    key: bytes | None
    headers: dict[str, bytes]


def dead_letter(
    raw: bytes,
    reason: str,
    *,
    limit: int,
    key: bytes | None = None,
    where: dict[str, str] | None = None,
) -> DeadLetter:
    """The dead letter of ``raw``: why, where from, and the bytes, cut to ``limit``."""
    headers = {REASON_HEADER: reason[:REASON_CHARS].encode("utf-8", "replace")}
    headers.update({f"raqib-{k}": v.encode() for k, v in (where or {}).items()})
    value = raw
    if len(raw) > limit:
        value = raw[:limit]
        headers["raqib-truncated"] = b"true"
    headers["raqib-original-size"] = str(len(raw)).encode()
    headers["raqib-sha256"] = hashlib.sha256(raw).hexdigest().encode()
    if key is not None and len(key) > KEY_BYTES:
        key = key[:KEY_BYTES]
    return DeadLetter(value=value, key=key, headers=headers)


def fit_tagged(tagged: TaggedArticle, limit: int) -> tuple[bytes, list[str]]:
    """The tagged article serialized within ``limit`` bytes, and what had to be cut."""
    data = dumps(tagged)
    if len(data) <= limit:
        return data, []
    trimmed: list[str] = []
    for name in ("clean_body", "body"):
        tagged = tagged.model_copy(update={name: ""})
        trimmed.append(name)
        data = _with_trimmed(tagged, trimmed)
        if len(data) <= limit:
            return data, trimmed
    entities = tagged.entities
    trimmed.append("entities")
    low, high = 0, len(entities)  # the most entities that still fit
    while low < high:
        middle = (low + high + 1) // 2
        candidate = tagged.model_copy(update={"entities": entities[:middle]})
        if len(_with_trimmed(candidate, trimmed, total=len(entities))) <= limit:
            low = middle
        else:
            high = middle - 1
    tagged = tagged.model_copy(update={"entities": entities[:low]})
    return _with_trimmed(tagged, trimmed, total=len(entities)), trimmed


def _with_trimmed(tagged: TaggedArticle, trimmed: list[str], total: int | None = None) -> bytes:
    return dumps(tagged.model_copy(update={"trimmed": list(trimmed), "entities_total": total}))
