"""Tagging: english (cases in tests/data/tagging/english.yaml)."""

from __future__ import annotations

from typing import Any

import pytest

from processors.tagger import Tagger
from tests.unit.processors.tagging import cases, check


@pytest.mark.parametrize("case", cases("english"))
def test_english(small_tagger: Tagger, case: dict[str, Any]) -> None:
    check(small_tagger, case)
