"""Shared fixtures for the contract package's unit tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.fixture(scope="session")
def news_ar() -> dict[str, Any]:
    """Real Arabic headlines, bodies and outlets from the seeds (tests/data/news_ar.yaml)."""
    return yaml.safe_load((DATA / "news_ar.yaml").read_text(encoding="utf-8"))
