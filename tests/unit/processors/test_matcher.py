"""The compiled automaton: the cached tables are the ones the matcher builds, and a damaged
cache file is built again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from processors.matcher import Matcher
from processors.normalize import CACHE_DIR_ENV

KEYS = ["حلب", "دمشق", "ريف دمشق"]
PREFIXES = [frozenset({"", "و", "ب", "وب"})]
TEXT = "اشتباكات في ريف دمشق وبحلب وحلبة"


def _tables(matcher: Matcher) -> list[np.ndarray]:
    return [matcher._delta, matcher._out_start, matcher._out_end, matcher._out]


def test_a_cached_automaton_is_the_built_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, "")
    built = Matcher(KEYS, [0, 0, 0], PREFIXES)
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    first, cached = Matcher(KEYS, [0, 0, 0], PREFIXES), Matcher(KEYS, [0, 0, 0], PREFIXES)
    assert len(list(tmp_path.glob("automaton-*.npz"))) == 1
    for a, b, c in zip(_tables(built), _tables(first), _tables(cached), strict=True):
        assert a.dtype == b.dtype == c.dtype and (a == b).all() and (a == c).all()
    assert built.find(TEXT) == cached.find(TEXT) == [(2, 12, 20), (0, 23, 26)]
    Matcher([*KEYS, "حمص"], [0, 0, 0, 0], PREFIXES)  # other keys: another file
    assert len(list(tmp_path.glob("automaton-*.npz"))) == 2


@pytest.mark.parametrize("damage", [b"", b"PK\x03\x04broken", b"\x00" * 512])
def test_a_damaged_cache_file_is_built_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: bytes
) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    Matcher(KEYS, [0, 0, 0], PREFIXES)
    (path,) = tmp_path.glob("automaton-*.npz")
    path.write_bytes(damage)
    assert Matcher(KEYS, [0, 0, 0], PREFIXES).find(TEXT) == [(2, 12, 20), (0, 23, 26)]


def test_tables_of_another_automaton_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A readable file whose tables do not fit the keys (states out of range) is rebuilt."""
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    Matcher(KEYS, [0, 0, 0], PREFIXES)
    (path,) = tmp_path.glob("automaton-*.npz")
    with np.load(path) as stored:
        tables = {k: stored[k] for k in stored.files}
    tables["delta"] = tables["delta"] + 100
    np.savez(path, **tables)
    assert Matcher(KEYS, [0, 0, 0], PREFIXES).find(TEXT) == [(2, 12, 20), (0, 23, 26)]
