"""Suppress articles already sent, by any producer, before or since a restart (Redis).

Three tests, cheapest first, each key under ``RAQIB_REDIS_PREFIX`` with a TTL:

1. the id (``<prefix>:dedupe:id:<id>``, SET NX): the same URL or the same content;
2. the fingerprint of the folded text (:func:`producers.textfold.fold_ar`; SET NX): copies
   that differ only in spacing, diacritics, tatweel, letter forms or punctuation;
3. MinHash LSH over character 5-grams of the folded text: light rewrites (a word changed,
   a clause added). Each of ``bands`` bands of the signature is a key naming the last
   article that had it; an article sharing a band with one whose estimated Jaccard
   similarity reaches ``threshold`` is a duplicate of it.

2 and 3 look within one outlet: another outlet carrying the same wire copy is a publication
of its own, which the rules' ``min_sources`` weighs.

An article found new is claimed at once (before it is sent), so two producers racing
with the same id or text send it once; :meth:`Deduper.release` gives the claim back when
the broker refuses the article.

Example::

    deduper = Deduper(redis_sync_client(settings), prefix="raqib")
    verdict = deduper.check(Fingerprint.of("u-1", title, body))
    if not verdict.duplicate:
        publish(...)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import numpy as np

from producers.textfold import fold_ar
from raqib.redis_cluster import SyncRedis, mget_sync

DEFAULT_TTL = timedelta(days=7)
DEFAULT_THRESHOLD = 0.5
"""Estimated Jaccard similarity of character 5-grams from which two texts are one story
lightly rewritten; measured on the seeds (see the README, "Producers")."""
NUM_PERM = 128
SHINGLE_CHARS = 5
MIN_SIMILAR_CHARS = 200
"""Texts shorter than this (folded) are compared exactly only: a few dozen shingles say
little, and two short bulletins on one event are not one article."""
Reason = Literal["id", "text", "similar"]


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What an article is compared by: its id, its folded text's hash and its MinHash."""

    id: str
    text: str
    signature: np.ndarray | None
    outlet: str = ""
    """A digest of the folded source: copies are looked for within one outlet only."""

    @classmethod
    def of(cls, article_id: str, title: str, body: str, *, source: str = "") -> Fingerprint:
        """One outlet's copy of its own article (sent twice, by two producers, or with
        spacing and diacritics changed) is a duplicate; another outlet carrying the same
        wire copy is another publication — what the rules' ``min_sources`` counts — and
        is kept."""
        folded = fold_ar(f"{title}\n{body}")
        text = hashlib.sha256(folded.encode()).hexdigest()[:32]
        outlet = hashlib.sha256(fold_ar(source).encode()).hexdigest()[:12]
        long_enough = len(folded) >= MIN_SIMILAR_CHARS
        return cls(article_id, text, signature(folded) if long_enough else None, outlet)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether an article repeats one already sent: which, why, and how similar."""

    duplicate_of: str | None = None
    reason: Reason | None = None
    similarity: float | None = None

    @property
    def duplicate(self) -> bool:
        return self.reason is not None


def signature(folded: str) -> np.ndarray:
    """The MinHash signature (``NUM_PERM`` 32-bit values) of a folded text's 5-grams."""
    from datasketch import MinHash  # imports SciPy: only producers that deduplicate pay

    grams = {folded[i : i + SHINGLE_CHARS] for i in range(len(folded) - SHINGLE_CHARS + 1)}
    minhash = MinHash(num_perm=NUM_PERM, seed=1)
    minhash.update_batch([g.encode() for g in grams])
    return np.asarray(minhash.hashvalues, dtype=np.uint32)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of the two texts' shingle sets."""
    return float(np.mean(a == b))


def lsh_bands(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """(bands, rows) that best separate pairs above ``threshold`` from those below, as
    datasketch's LSH chooses them."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    return lsh.b, lsh.r


class Deduper:
    """Remembers what was sent in Redis; see the module docstring for the three tests."""

    def __init__(
        self,
        redis: SyncRedis,
        *,
        prefix: str,
        ttl: timedelta = DEFAULT_TTL,
        threshold: float = DEFAULT_THRESHOLD,
    ) -> None:
        self.redis = redis
        self.prefix = f"{prefix}:dedupe"
        self.ttl_s = max(int(ttl.total_seconds()), 1)
        self.threshold = threshold
        self.bands, self.rows = lsh_bands(threshold)

    def _band_keys(self, sig: np.ndarray, outlet: str) -> list[str]:
        keys = []
        for band in range(self.bands):
            chunk = sig[band * self.rows : (band + 1) * self.rows].tobytes()
            digest = hashlib.sha1(chunk).hexdigest()[:16]  # noqa: S324 - a bucket name
            keys.append(f"{self.prefix}:lsh:{outlet}:{band}:{digest}")
        return keys

    def check(self, fp: Fingerprint) -> Verdict:
        """Whether ``fp``'s article was sent already; if not, claim it as sent now."""
        id_key = f"{self.prefix}:id:{fp.id}"
        text_key = f"{self.prefix}:text:{fp.outlet}:{fp.text}"
        bands = self._band_keys(fp.signature, fp.outlet) if fp.signature is not None else []
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(id_key, 1, nx=True, ex=self.ttl_s)
        pipe.set(text_key, fp.id, nx=True, ex=self.ttl_s)
        pipe.get(text_key)
        for key in bands:
            pipe.get(key)
        new_id, new_text, text_owner, *owners = pipe.execute()
        if not new_id:
            return Verdict(fp.id, "id")
        if not new_text:
            return Verdict(_text(text_owner), "text")
        if fp.signature is None:
            return Verdict()
        found = self._most_similar(fp, {_text(o) for o in owners if o} - {fp.id})
        if found is not None:
            return found
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(f"{self.prefix}:minhash:{fp.id}", fp.signature.tobytes(), ex=self.ttl_s)
        for key in bands:
            pipe.set(key, fp.id, ex=self.ttl_s)
        pipe.execute()
        return Verdict()

    def _most_similar(self, fp: Fingerprint, candidates: set[str]) -> Verdict | None:
        if not candidates or fp.signature is None:
            return None
        ordered = sorted(candidates)
        stored = mget_sync(self.redis, [f"{self.prefix}:minhash:{c}" for c in ordered])
        best: Verdict | None = None
        for candidate, raw in zip(ordered, stored, strict=True):
            if not isinstance(raw, bytes) or len(raw) != fp.signature.nbytes:
                continue
            score = similarity(fp.signature, np.frombuffer(raw, dtype=np.uint32))
            if score >= self.threshold and (best is None or score > (best.similarity or 0)):
                best = Verdict(candidate, "similar", score)
        return best

    def seen(self, article_id: str) -> bool:
        """Whether an article of this id was sent (a cheap look before costly work, such as
        fetching its page); claims nothing."""
        return bool(self.redis.exists(f"{self.prefix}:id:{article_id}"))

    def release(self, fp: Fingerprint) -> None:
        """Forget a claim (the broker refused the article): a later attempt may send it."""
        self.redis.delete(
            f"{self.prefix}:id:{fp.id}",
            f"{self.prefix}:text:{fp.outlet}:{fp.text}",
            f"{self.prefix}:minhash:{fp.id}",
        )


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
