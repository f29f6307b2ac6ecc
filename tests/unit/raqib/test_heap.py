"""The worker's collector settings: start-up objects frozen, a wider young generation."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from raqib import heap


@pytest.fixture
def restore_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restore_gc")
def test_settle_freezes_what_start_up_built_and_widens_the_young_generation() -> None:
    built = [{"alias": "إيران"} for _ in range(1000)]  # what start-up keeps
    _, middle, old = gc.get_threshold()
    heap.settle()
    assert gc.get_freeze_count() >= len(built)
    assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, middle, old)


@pytest.mark.usefixtures("restore_gc")
def test_garbage_made_after_settling_is_still_collected() -> None:
    heap.settle()

    class Cycle:
        other: object

    a, b = Cycle(), Cycle()
    a.other, b.other = b, a
    del a, b
    assert gc.collect() >= 2
