"""Durations as operators write them in YAML: ``90s``, ``10m``, ``24h``, ``2d``."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


MAX_SECONDS = 10 * 365 * 86400
"""Ten years: longer is a typo, and timedelta overflows not far beyond."""


def parse_duration(value: object) -> timedelta:
    """``10m`` -> 10 minutes; a bare number is seconds; a timedelta passes through.

    Negative, non-finite and absurdly long durations are a ``ValueError`` (so pydantic
    reports them with file and line) rather than a crash.
    """
    seconds: float | None = None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION_RE.match(value)
        if match:
            seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds is None:
        raise ValueError(f"expected a duration like 90s, 10m, 24h or 2d, got {value!r}")
    if not math.isfinite(seconds) or seconds < 0 or seconds > MAX_SECONDS:
        raise ValueError(f"duration must be between 0 and 10 years, got {value!r}")
    return timedelta(seconds=seconds)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def format_duration(value: timedelta) -> str:
    """The shortest exact spelling: 600 s -> ``10m``."""
    seconds = int(value.total_seconds())
    for unit in ("d", "h", "m"):
        if seconds and seconds % _UNIT_SECONDS[unit] == 0:
            return f"{seconds // _UNIT_SECONDS[unit]}{unit}"
    return f"{seconds}s"
