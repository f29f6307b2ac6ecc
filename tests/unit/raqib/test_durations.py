"""Durations as operators write them: 90s, 10m, 24h, 2d."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from raqib.durations import Duration, format_duration, parse_duration


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("10m", timedelta(minutes=10)),
        ("24h", timedelta(hours=24)),
        ("2d", timedelta(days=2)),
        ("1.5h", timedelta(minutes=90)),
        (" 10 m ", timedelta(minutes=10)),
        ("0s", timedelta(0)),
        (90, timedelta(seconds=90)),
        (1.5, timedelta(seconds=1.5)),
        (timedelta(hours=3), timedelta(hours=3)),
    ],
)
def test_parse(value: object, expected: timedelta) -> None:
    assert parse_duration(value) == expected


@pytest.mark.parametrize("value", ["10", "-5m", "10x", "5 min", "", "m", True, None, [10]])
def test_parse_rejects_with_an_example(value: object) -> None:
    with pytest.raises(ValueError, match="like 90s, 10m, 24h or 2d"):
        parse_duration(value)


def test_parse_rejects_negative_numbers() -> None:
    with pytest.raises(ValueError):
        parse_duration(-60)


@pytest.mark.parametrize("value", [float("inf"), "99999999999d", 1e18])
def test_parse_rejects_durations_too_large_with_a_value_error(value: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(600, "10m"), (90, "90s"), (0, "0s"), (3600, "1h"), (86400, "1d"), (90000, "25h")],
)
def test_format_is_the_shortest_exact_spelling(seconds: int, text: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == text


@given(st.integers(min_value=0, max_value=400 * 86400))
def test_format_then_parse_round_trips(seconds: int) -> None:
    value = timedelta(seconds=seconds)
    assert parse_duration(format_duration(value)) == value


class _Conf(BaseModel):
    every: Duration


def test_duration_field_validates_in_models() -> None:
    assert _Conf.model_validate({"every": "30m"}).every == timedelta(minutes=30)
    with pytest.raises(ValidationError, match="like 90s"):
        _Conf.model_validate({"every": "30 minutes"})
