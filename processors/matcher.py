"""The compiled core of the tagger: one pass over the normalized text finds every
whole-token, clitic-aware, longest match, with no Python work per raw hit.

A deterministic Aho-Corasick automaton (a dense transition table over the characters the
names use) is built once from the watchlist's keys; :func:`_scan` (numba) walks the text,
keeps a hit only when it is a whole token (a letter after it, or letters before it that are
not an allowed proclitic, disqualify it) and then picks the longest among overlapping hits
(the earlier among equals). What is left is a few dozen hits per article for Python to
turn into tags.

>>> m = Matcher(["حلب", "دمشق", "ريف دمشق"], [0, 0, 0], [frozenset({"", "و", "ب", "وب"})])
>>> m.find("اشتباكات في ريف دمشق وبحلب وحلبة")
[(2, 12, 20), (0, 23, 26)]
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numba
import numpy as np
import numpy.typing as npt

MAX_PREFIX = 2
"""Proclitics are at most two letters before a name (وب، فل، لل after و ...)."""

_CODE_POINTS = 0x110000


def _word_table() -> npt.NDArray[np.bool_]:
    """``str.isalnum`` for every code point, as the Python tagger used it."""
    table = np.zeros(_CODE_POINTS, dtype=np.bool_)
    for code in range(_CODE_POINTS):
        if 0xD800 <= code <= 0xDFFF:
            continue
        if chr(code).isalnum():
            table[code] = True
    return table


_WORD: npt.NDArray[np.bool_] | None = None


def _word() -> npt.NDArray[np.bool_]:
    global _WORD  # noqa: PLW0603 - one table per process, built on first use
    if _WORD is None:
        _WORD = _word_table()
    return _WORD


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
        self._alpha = np.zeros(_CODE_POINTS, dtype=np.int32)
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
        self._delta, self._out_start, self._out_end, self._out = _automaton(
            keys, self._alpha, len(alphabet) + 1
        )
        self._word = _word()

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
        result: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]] = _scan(
            codes,
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
        return result


def _prefix_code(prefix: str) -> int:
    """0 for no proclitic, else the code points packed into one integer."""
    code = 0
    for ch in prefix:
        code = code * _CODE_POINTS + ord(ch)
    return code


def _automaton(
    keys: Sequence[str], alpha: npt.NDArray[np.int32], width: int
) -> tuple[
    npt.NDArray[np.int32], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]
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
    starts = np.zeros(size, dtype=np.int64)
    ends = np.zeros(size, dtype=np.int64)
    flat: list[int] = []
    for state, out in enumerate(outputs):
        starts[state] = len(flat)
        flat.extend(out)
        ends[state] = len(flat)
    return delta, starts, ends, np.array(flat or [0], dtype=np.int64)


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def _scan(
    codes: npt.NDArray[np.uint32],
    alpha: npt.NDArray[np.int32],
    word: npt.NDArray[np.bool_],
    delta: npt.NDArray[np.int32],
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
