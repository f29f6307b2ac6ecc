"""When each subject that silence rules watch was last heard: bounded, and never at the
expense of the outlet that went quiet.

A silence rule fires for a subject only if its baseline before its last mention held
``min_baseline_count`` mentions (:class:`alerts.rules.SilenceRule`). A subject below that
at its last mention cannot fire until it is heard again, when it is judged afresh — so
it need not be watched. The subjects are kept in two tiers:

- **established** (``silence_established``, at most ``max_established``): subjects whose
  baseline at a mention met a silence rule's ``min_baseline_count``. These are the ones
  re-judged every event-time minute and kept in Redis (``P:{episodes:<scope>}:last``). A
  newcomer never pushes one out: the least recently heard outlet is exactly the one that
  went silent. When the tier is full a newcomer is *refused* (counted with its evictions,
  so /metrics shows it, and logged once) and stays provisional, never watched; an
  established subject leaves only when retired (quiet longer than ``RETIRE_AFTER``, its
  hour counts expired in Redis, and no episode open).
- **provisional** (``silence_provisional``, an LRU of ``max_provisional``): the others,
  with their last time, so that a late mention of a recently heard subject is judged
  against its true last mention. Memory only; what falls out is a subject that cannot
  fire, and it is promoted when next heard on time if its baseline then qualifies (a
  *late* mention of a forgotten subject promotes nothing: its last mention is unknown).

A feed that invents 100,000 sources, each heard once, fills the provisional LRU and
nothing else: none of them can meet ``min_baseline_count``, and the established outlets
are untouched.

>>> from datetime import UTC, datetime
>>> t = datetime(2024, 12, 1, tzinfo=UTC)
>>> seen = LastSeen(max_established=1, max_provisional=2)
>>> seen.promote("source:SANA", t), seen.promote("source:Okaz", t)
(True, False)
>>> for name in ("a", "b", "c"):
...     seen.provisional[f"source:{name}"] = t
>>> sorted(seen.established), sorted(seen.provisional), seen.refused
(['source:SANA'], ['source:b', 'source:c'], 1)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from raqib.lru import BoundedCache

RETIRE_AFTER = timedelta(days=35)
"""An established subject quiet this long (with no open episode) stops being watched: the
hour counts its baseline was read from have expired in Redis (35 days), so a restarted
worker could not judge it either."""


class LastSeen:
    """Last mention times of the subjects silence rules watch, in two bounded tiers.

    Example::

        seen = LastSeen()
        seen.provisional["source:x"] = at      # heard, cannot fire yet
        seen.promote("source:SANA", at)        # its baseline meets min_baseline_count
        sorted(seen.established)               # re-judged every minute
    """

    MAX_ESTABLISHED = 10_000
    MAX_PROVISIONAL = 20_000

    def __init__(
        self, max_established: int = MAX_ESTABLISHED, max_provisional: int = MAX_PROVISIONAL
    ) -> None:
        self.max_established = max_established
        self.established: dict[str, datetime] = {}
        self.provisional: BoundedCache[str, datetime] = BoundedCache(
            "silence_provisional", max_provisional
        )
        self.refused = 0
        """Promotions refused because the established tier was full (each mention that
        qualified a subject the tier had no room for)."""
        self.retired = 0

    def get(self, subject: str) -> datetime | None:
        """The subject's last mention, if either tier remembers it."""
        last = self.established.get(subject)
        return last if last is not None else self.provisional.get(subject)

    def promote(self, subject: str, last: datetime) -> bool:
        """Watch ``subject`` from now on, unless the established tier is full."""
        if subject not in self.established and len(self.established) >= self.max_established:
            self.refused += 1
            return False
        self.provisional.pop(subject, None)
        self.established[subject] = last
        return True

    def retire(self, subjects: Iterable[str]) -> None:
        for subject in subjects:
            if self.established.pop(subject, None) is not None:
                self.retired += 1

    def load(self, stored: dict[str, datetime]) -> list[str]:
        """Take the established subjects kept in Redis (the most recent first); return
        those beyond the bound (a store written before the bound), to be forgotten."""
        ranked = sorted(stored.items(), key=lambda item: (item[1], item[0]), reverse=True)
        kept, extra = ranked[: self.max_established], ranked[self.max_established :]
        self.established = dict(kept)
        for subject, at in extra:
            self.provisional[subject] = at
        return [subject for subject, _ in extra]

    def sizes(self) -> dict[str, tuple[int, int]]:
        """``name -> (entries, evictions)``; the established tier's evictions are the
        promotions it refused (it never pushes an outlet out) and the subjects retired."""
        return {
            "silence_established": (len(self.established), self.refused + self.retired),
            self.provisional.name: (len(self.provisional), self.provisional.evictions),
        }
