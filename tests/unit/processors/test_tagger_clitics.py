"""Tagging: clitics (cases in tests/data/tagging/clitics.yaml)."""

from __future__ import annotations

from typing import Any

import pytest

from processors.tagger import Tagger
from tests.unit.processors.tagging import cases, check


@pytest.mark.parametrize("case", cases("clitics"))
def test_clitics(small_tagger: Tagger, case: dict[str, Any]) -> None:
    check(small_tagger, case)
