"""Shared tagging fixture: the small test watchlist, built once."""

from __future__ import annotations

from pathlib import Path

import pytest

from processors.tagger import Tagger
from processors.watchlist import load_watchlist

DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.fixture(scope="session")
def small_tagger() -> Tagger:
    return Tagger(load_watchlist(DATA / "watchlist_small.yaml"))
