"""Silences: an operator says "not now" for alerts that match, for a while.

``raqib silence add --match rule=entity-spike --match subject=entity:iran --for 2h
--reason "known story"`` stores one in Redis; the router records and counts a silenced
alert but does not deliver it. Silences are wall-time (a person's "for two hours"), as in
Alertmanager; matching is on the alert's fields and labels (globs for rule and subject).

>>> from datetime import UTC, datetime, timedelta
>>> now = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
>>> s = Silence.create({"subject": "entity:iran*"}, now, timedelta(hours=2), "known")
>>> s.active(now + timedelta(hours=1)), s.active(now + timedelta(hours=3))
(True, False)
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase

from pydantic import BaseModel, Field

from raqib.messages import Alert
from raqib.redis_cluster import AsyncRedis

FIELDS = ("rule", "kind", "severity", "subject", "status", "alert_id")
REFRESH_S = 5.0


class Silence(BaseModel):
    """Alerts matching every ``matchers`` entry (fields, or ``label.<name>``) are held
    back from ``starts`` to ``ends``."""

    id: str
    matchers: dict[str, str] = Field(min_length=1)
    starts: datetime
    ends: datetime
    reason: str = ""

    @classmethod
    def create(
        cls, matchers: dict[str, str], now: datetime, span: timedelta, reason: str
    ) -> Silence:
        unknown = [k for k in matchers if k not in FIELDS and not k.startswith("label.")]
        if unknown:
            raise ValueError(
                f"cannot match on {', '.join(unknown)}: use {', '.join(FIELDS)} or label.<name>"
            )
        digest = hashlib.sha256(f"{sorted(matchers.items())}{now.isoformat()}".encode())
        return cls(
            id=digest.hexdigest()[:12],
            matchers=matchers,
            starts=now,
            ends=now + span,
            reason=reason,
        )

    def active(self, now: datetime) -> bool:
        return self.starts <= now < self.ends

    def matches(self, alert: Alert) -> bool:
        for key, pattern in self.matchers.items():
            if key.startswith("label."):
                value = alert.labels.get(key.removeprefix("label."), "")
            else:
                value = str(getattr(alert, key))
            if not fnmatchcase(value, pattern):
                return False
        return True


class Silences:
    """Silences in Redis (``P:silences``, a hash id -> JSON), read at most every few
    seconds by the router."""

    def __init__(self, redis: AsyncRedis, prefix: str) -> None:
        self.redis = redis
        self.key = f"{prefix}:silences"
        self._cache: list[Silence] = []
        self._read_at = 0.0

    async def add(self, silence: Silence) -> None:
        await self.redis.hset(self.key, silence.id, silence.model_dump_json())

    async def all(self) -> list[Silence]:
        raw = await self.redis.hgetall(self.key)
        found = [Silence.model_validate_json(v) for v in raw.values()]
        return sorted(found, key=lambda s: (s.starts, s.id))

    async def expire(self, silence_id: str, now: datetime) -> bool:
        """End a silence now; False if there is none with that id."""
        raw = await self.redis.hget(self.key, silence_id)
        if raw is None:
            return False
        silence = Silence.model_validate_json(raw)
        ended = silence.model_copy(update={"ends": min(silence.ends, now)})
        await self.redis.hset(self.key, silence_id, ended.model_dump_json())
        return True

    async def matching(self, alert: Alert) -> Silence | None:
        """The active silence that holds ``alert`` back, if any (cached a few seconds)."""
        if time.monotonic() - self._read_at > REFRESH_S:
            self._cache = await self.all()
            self._read_at = time.monotonic()
        now = datetime.now(UTC)
        return next((s for s in self._cache if s.active(now) and s.matches(alert)), None)
