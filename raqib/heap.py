"""The garbage collector's settings for a long-running raqib process.

A worker holds a large heap that lives as long as it does (the watchlist's automaton, the
rules, Faust's machinery, a day of counted mentions in the count mirror) and makes many
short-lived objects per batch. With CPython's defaults a young collection runs every 700
allocations and each older one walks every survivor again: a sixth of a worker's CPU on
the pipeline benchmark. Freezing what start-up built takes it out of every collection;
a larger first generation collects young garbage less often, for the same memory (what a
batch allocates is freed by reference counting, not by the collector).
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000
"""Allocations between two young collections (CPython's default is 700)."""


def settle() -> None:
    """Call once start-up is done: collect, freeze the survivors, widen the young
    generation. Forked children share the frozen pages instead of copying them when a
    collection would have touched them."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
