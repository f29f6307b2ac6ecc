"""The compiled core of the tagger: one pass over the normalized text finds every
whole-token, clitic-aware, longest match, with no Python work per raw hit.

A deterministic Aho-Corasick automaton (a dense transition table over the characters the
names use) is built once from the watchlist's keys; :func:`scan` (numba) walks the text,
keeps a hit only when it is a whole token (a letter after it, or letters before it that are
not an allowed proclitic, disqualify it) and then picks the longest among overlapping hits
(the earlier among equals). What is left is a few dozen hits per article for Python to
turn into tags.

>>> m = Matcher(["حلب", "دمشق", "ريف دمشق"], [0, 0, 0], [frozenset({"", "و", "ب", "وب"})])
>>> m.find("اشتباكات في ريف دمشق وبحلب وحلبة")
[(2, 12, 20), (0, 23, 26)]
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

from processors.normalize import alnum_table, cached_arrays

MAX_PREFIX = 2
"""Proclitics are at most two letters before a name (وب، فل، لل after و ...)."""

_CODE_POINTS = 0x110000


class Matcher:
    """Whole-token longest matches of ``keys`` (already normalized).

    ``classes[i]`` names the set of proclitics allowed before key ``i`` in
    ``prefixes`` (a set of strings of at most two letters; ``""`` means none).
    """

    def __init__(
        self,
        keys: Sequence[str],
        classes: Sequence[int],
        prefixes: Sequence[frozenset[str]],
    ) -> None:
        if not keys:
            raise ValueError("no patterns")
        alphabet = sorted({ch for key in keys for ch in key})
        self._alpha = np.zeros(_CODE_POINTS, dtype=_index_type(len(alphabet) + 1))
        for i, ch in enumerate(alphabet, start=1):  # 0: a character no key uses
            self._alpha[ord(ch)] = i
        self._lengths = np.array([len(k) for k in keys], dtype=np.int64)
        self._classes = np.array(classes, dtype=np.int64)
        width = max(len(p) for p in prefixes)
        self._allowed = np.full((len(prefixes), max(width, 1)), -1, dtype=np.int64)
        for c, allowed in enumerate(prefixes):
            for j, prefix in enumerate(sorted(allowed, key=lambda p: (len(p), p))):
                if len(prefix) > MAX_PREFIX:
                    raise ValueError(f"proclitic {prefix!r} is longer than {MAX_PREFIX}")
                self._allowed[c, j] = _prefix_code(prefix)
        width = len(alphabet) + 1
        tables = cached_arrays(
            "automaton",
            "\0".join([_SOURCE, *keys]),
            lambda: dict(zip(_TABLES, _automaton(keys, self._alpha, width), strict=True)),
            lambda t: _valid(t, width, len(keys)),
        )
        self._delta, self._out_start, self._out_end, self._out = (tables[t] for t in _TABLES)
        self._word = alnum_table()

    def __len__(self) -> int:
        return len(self._lengths)

    def find(self, text: str) -> list[tuple[int, int, int]]:
        """(key index, start, end) of the chosen matches in ``text``, by start."""
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        keys, starts, ends = self.find_codes(codes)
        return list(zip(keys.tolist(), starts.tolist(), ends.tolist(), strict=True))

    def find_codes(
        self, codes: npt.NDArray[np.uint32]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """:meth:`find` on the text's code points, as arrays (keys, starts, ends)."""
        if not len(codes):
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        result: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]] = scan(
            codes, *self.tables
        )
        return result

    @property
    def tables(self) -> tuple[npt.NDArray[Any], ...]:
        """The automaton and the boundary tables, as :func:`scan` takes them after the text
        (for a compiled pass of another module that scans as one of its steps)."""
        return (
            self._alpha,
            self._word,
            self._delta,
            self._out_start,
            self._out_end,
            self._out,
            self._lengths,
            self._classes,
            self._allowed,
        )


_SOURCE = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
"""This module's code: a cached automaton is one this code built."""
_TABLES = ("delta", "out_start", "out_end", "out")


def _valid(tables: dict[str, npt.NDArray[np.integer]], width: int, keys: int) -> bool:
    """Whether cached tables are an automaton over ``width`` characters and ``keys`` keys."""
    if set(tables) != set(_TABLES) or tables["delta"].ndim != 2:
        return False
    delta, starts, ends, out = (tables[t] for t in _TABLES)
    states = delta.shape[0]
    return bool(
        delta.shape[1] == width
        and starts.shape == ends.shape == (states,)
        and (delta.size == 0 or int(delta.max()) < states)
        and (starts <= ends).all()
        and (ends.size == 0 or int(ends.max()) <= len(out))
        and (out.size == 0 or int(out.max()) < max(keys, 1))
    )


def _index_type(count: int) -> type[np.integer]:
    """The smallest integer type that numbers ``count`` things."""
    for kind in (np.uint8, np.uint16, np.uint32):
        if count <= np.iinfo(kind).max + 1:
            return kind
    return np.int64


def _prefix_code(prefix: str) -> int:
    """0 for no proclitic, else the code points packed into one integer."""
    code = 0
    for ch in prefix:
        code = code * _CODE_POINTS + ord(ch)
    return code


def _automaton(
    keys: Sequence[str], alpha: npt.NDArray[np.integer], width: int
) -> tuple[
    npt.NDArray[np.integer], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]
]:
    """Dense DFA transitions and, per state, the keys that end there (outputs by suffix)."""
    children: list[dict[int, int]] = [{}]
    terminal: list[int] = [-1]
    for index, key in enumerate(keys):
        state = 0
        for ch in key:
            a = int(alpha[ord(ch)])
            nxt = children[state].get(a)
            if nxt is None:
                nxt = len(children)
                children[state][a] = nxt
                children.append({})
                terminal.append(-1)
            state = nxt
        terminal[state] = index
    children, terminal = _breadth_first(children, terminal)
    size = len(children)
    delta = np.zeros((size, width), dtype=np.int32)
    fail = [0] * size
    outputs: list[list[int]] = [[] for _ in range(size)]
    queue: deque[int] = deque()
    for a, child in children[0].items():
        delta[0, a] = child
        queue.append(child)
    while queue:
        state = queue.popleft()
        own = [terminal[state]] if terminal[state] >= 0 else []
        outputs[state] = own + outputs[fail[state]]
        delta[state] = delta[fail[state]]
        for a, child in children[state].items():
            fail[child] = int(delta[fail[state], a]) if state else 0
            delta[state, a] = child
            queue.append(child)
    delta = delta.astype(_index_type(size))  # the smaller the table, the more stays in cache
    starts = np.zeros(size, dtype=np.int64)
    ends = np.zeros(size, dtype=np.int64)
    flat: list[int] = []
    for state, out in enumerate(outputs):
        starts[state] = len(flat)
        flat.extend(out)
        ends[state] = len(flat)
    return delta, starts, ends, np.array(flat or [0], dtype=np.int64)


def _breadth_first(
    children: list[dict[int, int]], terminal: list[int]
) -> tuple[list[dict[int, int]], list[int]]:
    """The trie's states renumbered by depth: the shallow states, where a scan spends most
    of its steps (news is mostly words no name starts like), get neighbouring rows of the
    transition table, which then stay in the cache (numbered as inserted, a scan of the
    default watchlist missed the cache on most characters: the table is 2 MB)."""
    order = [0]
    for state in order:  # grows as it is read: a breadth-first walk
        order.extend(children[state].values())
    number = {old: new for new, old in enumerate(order)}
    renumbered = [{a: number[c] for a, c in children[old].items()} for old in order]
    return renumbered, [terminal[old] for old in order]


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def scan(
    codes: npt.NDArray[np.uint32],
    alpha: npt.NDArray[np.integer],
    word: npt.NDArray[np.bool_],
    delta: npt.NDArray[np.integer],
    out_start: npt.NDArray[np.int64],
    out_end: npt.NDArray[np.int64],
    out: npt.NDArray[np.int64],
    lengths: npt.NDArray[np.int64],
    classes: npt.NDArray[np.int64],
    allowed: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    n = codes.shape[0]
    cap = 64
    cand_key = np.empty(cap, dtype=np.int64)
    cand_start = np.empty(cap, dtype=np.int64)
    count = 0
    state = 0
    for i in range(n):
        state = delta[state, alpha[codes[i]]]
        for o in range(out_start[state], out_end[state]):
            key = out[o]
            end = i + 1
            if end < n and word[codes[end]]:
                continue  # the token goes on: حلب in حلبة
            start = end - lengths[key]
            if start > 0 and word[codes[start - 1]]:
                token = start - 1
                while token > 0 and word[codes[token - 1]] and start - token <= 2:
                    token -= 1
                if start - token > 2:
                    continue  # a longer word, not a proclitic
                prefix = 0
                for j in range(token, start):
                    prefix = prefix * 0x110000 + codes[j]
                ok = False
                for a in allowed[classes[key]]:
                    if a == prefix and a != -1:
                        ok = True
                        break
                if not ok:
                    continue
            if count == cap:
                cap *= 2
                cand_key = np.concatenate((cand_key, np.empty(cap - count, dtype=np.int64)))
                cand_start = np.concatenate((cand_start, np.empty(cap - count, dtype=np.int64)))
            cand_key[count] = key
            cand_start[count] = start
            count += 1
    # longest first, then earliest; a candidate overlapping a chosen one is dropped
    order = np.argsort(cand_start[:count] - lengths[cand_key[:count]] * (n + 1), kind="mergesort")
    taken = np.zeros(n, dtype=np.bool_)
    chosen = np.zeros(count, dtype=np.bool_)
    for c in order:
        start = cand_start[c]
        end = start + lengths[cand_key[c]]
        free = True
        for p in range(start, end):
            if taken[p]:
                free = False
                break
        if free:
            chosen[c] = True
            for p in range(start, end):
                taken[p] = True
    keep = np.nonzero(chosen)[0]
    by_start = keep[np.argsort(cand_start[keep], kind="mergesort")]
    keys = cand_key[by_start]
    starts = cand_start[by_start]
    return keys, starts, starts + lengths[keys]
