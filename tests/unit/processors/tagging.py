"""Helpers for the per-phenomenon tagging tests: load a case file, check one case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from processors.tagger import Tagger

DATA = Path(__file__).resolve().parents[2] / "data"


def cases(phenomenon: str) -> list[Any]:
    """The cases of ``tests/data/tagging/<phenomenon>.yaml`` as pytest params."""
    path = DATA / "tagging" / f"{phenomenon}.yaml"
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))["cases"]
    return [pytest.param(case, id=case["name"]) for case in loaded]


def check(tagger: Tagger, case: dict[str, Any]) -> None:
    """The ids in order, the surfaces where given, and offsets that slice to them."""
    found = tagger.tag_text(case["text"])
    assert [m.id for m in found] == case["ids"]
    if "surfaces" in case:
        assert [m.surface for m in found] == case["surfaces"]
    for m in found:
        assert case["text"][m.start : m.end] == m.surface
