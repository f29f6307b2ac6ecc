"""Bounded caches: memory that input can grow must have a ceiling.

Subjects come from the input (``source:`` is free text), so every per-subject structure a
long-running worker keeps is an LRU with a maximum size; what falls out is read again
from Redis when needed. Each cache counts its evictions so that /metrics shows a cache
that is too small (evictions climbing) next to its size.

>>> cache: BoundedCache[str, int] = BoundedCache("demo", 2)
>>> cache["a"], cache["b"], cache["c"] = 1, 2, 3
>>> sorted(cache), cache.evictions
(['b', 'c'], 1)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from cachetools import LRUCache

K = TypeVar("K")
V = TypeVar("V")


class BoundedCache(LRUCache[K, V], Generic[K, V]):
    """An LRU cache with a name and an eviction count (``on_evict`` sees what leaves)."""

    def __init__(
        self, name: str, maxsize: int, on_evict: Callable[[K, V], None] | None = None
    ) -> None:
        super().__init__(maxsize=maxsize)
        self.name = name
        self.evictions = 0
        self._on_evict = on_evict

    def clear(self) -> None:
        """Empty the cache on purpose: not evictions, and ``on_evict`` is not told."""
        while self:
            LRUCache.popitem(self)

    def popitem(self) -> tuple[K, V]:
        key, value = super().popitem()
        self.evictions += 1
        if self._on_evict is not None:
            self._on_evict(key, value)
        return key, value


def sizes(*caches: Any) -> dict[str, tuple[int, int]]:
    """``name -> (entries, evictions)`` of the caches given, for metrics."""
    return {c.name: (len(c), c.evictions) for c in caches if isinstance(c, BoundedCache)}


def caches_of(*holders: object) -> dict[str, tuple[int, int]]:
    """:func:`sizes` of every cache the objects given hold as attributes (a store need
    not list its caches for metrics to see them).

    >>> class Store:
    ...     def __init__(self) -> None:
    ...         self.subjects: BoundedCache[str, int] = BoundedCache("subjects", 10)
    >>> caches_of(Store(), None)
    {'subjects': (0, 0)}
    """
    return sizes(*(v for h in holders for v in getattr(h, "__dict__", {}).values()))
