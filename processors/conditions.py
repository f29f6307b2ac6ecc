"""Topic conditions evaluated in compiled code, over arrays: every topic of a file against
one article in one call.

:class:`processors.topics.TopicMatcher` numbers the leaves of its topics (entity, type and
keyword terms) and writes each condition tree as rows of :data:`NODE_COLUMNS`; per article
it hands over where each keyword starts (word index) and, per entity mention, its leaves,
field and offset. :func:`match_topics` works out where each leaf holds in the body, the
title and both together, and walks every topic's tree there, as the tree walk this
replaced did (tests/unit/processors/test_topic_identity.py holds it to that walk): an
``all`` stops at its first failing part (the evidence of the parts before it stays), an
``any`` tries every part, a ``none`` looks at the whole article and keeps no evidence, a
``within`` asks for one position of each part inside a window of words.

The walk in Python closures it replaced, with the per-place dicts it read, cost ~60 µs an
article of the seeds over the default topics (a call and a list per node and place); this
call takes ~12 µs.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

LEAF, ANY, NONE, ALL, TITLE = range(5)
"""Node kinds: a leaf, ``any``, ``none``, ``all`` and ``title``."""
KIND, ARG, FIRST, END, MASK, PLACED = range(6)
NODE_COLUMNS = 6
"""A node's row: its kind; its leaf (-1: a keyword with no word, never found) or an
``all``'s ``within`` (-1: none); its parts that are not leaves of an ``any`` or a
``none``, ``children[first:end]``; the row of ``masks`` that holds those leaves (as bits
of :data:`WORD_BITS`-bit words: an ``any`` of forty places is one test, not forty); and
whether a ``within`` above reads its positions (else none are gathered)."""
WORD_BITS = 64
TOPIC_COLUMNS = 3
"""A topic's row: its root node, and the range of its rows of ``needs``: what it cannot
hold without, as clauses, each two rows of ``masks`` (leaves of the place looked at,
leaves of the title) of which some leaf must hold (a place failing one is not walked)."""
ENTITY, TYPE, FIELD, START = range(4)
"""The rows of the mentions :func:`match_topics` takes, a column per mention: the leaf of
its entity, of its type (-1: a leaf no topic has), its field, its start offset there."""
IN_BODY, IN_TITLE, ELSEWHERE = range(3)
"""A mention's field (``ELSEWHERE``: counted nowhere)."""
BODY, HEADING, WHOLE = range(3)
"""The places a condition is looked for in: the body, the title, and both together."""

Ints = npt.NDArray[np.int64]


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def match_topics(
    nodes: Ints,
    children: Ints,
    masks: Ints,
    topics: Ints,
    needs: Ints,
    keywords: Ints,
    uses: Ints,
    starts: Ints,
    keys: Ints,
    at: Ints,
    mentions: Ints,
    title_length: int,
    has_body: bool,
) -> Ints:
    """Which ``topics`` (rows of :data:`TOPIC_COLUMNS`) hold, and each one's evidence.

    The article: ``starts``, where each word of ``title + "\\n" + body`` starts (the body's
    offsets past the title's and the line break); ``keys``/``at``, each keyword found (its
    number: its leaf is ``keywords[0, key]``, the count of its words after the first
    ``keywords[1, key]``) and the word it starts at; ``mentions``, a column per entity
    mention (rows :data:`ENTITY`, :data:`TYPE`, :data:`FIELD`, :data:`START`). ``uses``:
    how many times each leaf is named in the conditions (a walk finds it at most as often).

    A topic holds where, in the body, the title or (with both) the two together, its root
    does. Each topic that holds, in order, as a run of the array returned (one array: one
    conversion for Python): its number, the count of its evidence, and its evidence (the
    leaves its walk looked at and found there, a leaf twice if looked at twice)."""
    leaves = uses.shape[0]
    split = int(np.searchsorted(starts, title_length)) if title_length > 0 else 0
    count, positions, present, size = _positions(
        keywords, uses, starts, keys, at, mentions, split, title_length
    )
    scratch = np.empty(size, dtype=np.int64)
    frames = np.empty((nodes.shape[0], _FRAME), dtype=np.int64)
    groups = np.empty(2 * nodes.shape[0] + 1, dtype=np.int64)
    found = np.empty(uses.sum() + 1, dtype=np.int64)
    places = 3 if title_length > 0 and has_body else 2
    out = np.empty(0, dtype=np.int64)
    for t in range(topics.shape[0]):
        for place in range(places):
            if not _possible(needs, topics[t, 1], topics[t, 2], masks, present, place):
                continue
            got = _holds(
                topics[t, 0],
                place,
                nodes,
                children,
                masks,
                leaves,
                count,
                positions,
                present,
                scratch,
                frames,
                groups,
                found,
            )
            if got >= 0:
                head = np.array([t, got], dtype=np.int64)
                out = np.concatenate((out, head, found[:got]))
                break
    return out


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def _positions(
    keywords: Ints,
    uses: Ints,
    starts: Ints,
    keys: Ints,
    at: Ints,
    mentions: Ints,
    split: int,
    title_length: int,
) -> tuple[Ints, Ints, Ints, int]:
    """Where each leaf holds in each place, by word index counted from the place's start:
    ``positions[count[p * leaves + leaf]:count[p * leaves + leaf + 1]]``; the leaves that
    hold in each place, as bits (a row a place); and how many positions one walk may
    gather at most (each use of a leaf, all its positions in every place, and one). The
    body's words are counted from ``split`` (its first), an entity's floored at 0; the
    title's entities capped at its last word; a keyword counts in the title only if all its
    words are there. Without a title, both together is the body."""
    leaves = uses.shape[0]
    titled = title_length > 0
    last = max(split - 1, 0)
    shift = title_length + 1 if titled else 0
    words = np.empty(mentions.shape[1], dtype=np.int64)
    for m in range(mentions.shape[1]):
        offset = mentions[START, m] + shift if mentions[FIELD, m] == IN_BODY else mentions[START, m]
        words[m] = max(np.searchsorted(starts, offset, side="right") - 1, 0)
    count = np.zeros(3 * leaves + 1, dtype=np.int64)
    positions = np.empty(0, dtype=np.int64)
    present = np.zeros((3, (leaves + WORD_BITS - 1) // WORD_BITS), dtype=np.int64)
    gather = 1
    for fill in range(2):  # count, then fill
        for j in range(keys.shape[0]):
            k, i = keys[j], at[j]
            leaf = keywords[0, k]
            if leaf < 0:
                continue
            if i >= split:
                _put(count, positions, fill, BODY * leaves + leaf, i - split)
            if i < split - keywords[1, k]:
                _put(count, positions, fill, HEADING * leaves + leaf, i)
            _put(count, positions, fill, WHOLE * leaves + leaf, i)
        for m in range(mentions.shape[1]):
            field = mentions[FIELD, m]
            w = words[m]
            for row in (ENTITY, TYPE):
                leaf = mentions[row, m]
                if leaf < 0:
                    continue
                if field == IN_BODY:
                    _put(count, positions, fill, BODY * leaves + leaf, max(w - split, 0))
                    _put(count, positions, fill, WHOLE * leaves + leaf, w)
                elif field == IN_TITLE:
                    _put(count, positions, fill, HEADING * leaves + leaf, min(w, last))
                    if titled:
                        _put(count, positions, fill, WHOLE * leaves + leaf, w)
        if fill == 0:  # each slot's count -> where it starts, its cursor while filling
            total = 0
            for slot in range(3 * leaves):
                size = count[slot + 1]
                if size:
                    place, leaf = slot // leaves, slot % leaves
                    present[place, leaf // WORD_BITS] |= np.int64(1) << (leaf % WORD_BITS)
                    gather += uses[leaf] * size
                count[slot + 1] = total
                total += size
            positions = np.empty(total, dtype=np.int64)
    # each cursor is now at its slot's end: the next slot's start
    return count, positions, present, gather


@numba.njit(cache=True, nogil=True, inline="always")  # type: ignore[misc]
def _put(count: Ints, positions: Ints, fill: int, slot: int, value: int) -> None:
    """Count a position of ``slot`` (``fill`` 0), or write it at the slot's next place."""
    if fill == 0:
        count[slot + 1] += 1
    else:
        positions[count[slot + 1]] = value
        count[slot + 1] += 1


_FRAME = 5
_NODE, _PLACE, _BEGIN, _NEXT, _HELD = range(_FRAME)
"""A node being walked: the node, its place, where its positions begin in the scratch,
its next part, and whether it holds so far (an ``any``) or where its parts' positions
are bounded in ``groups`` (an ``all``)."""


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def _holds(
    root: int,
    place: int,
    nodes: Ints,
    children: Ints,
    masks: Ints,
    leaves: int,
    count: Ints,
    positions: Ints,
    present: Ints,
    scratch: Ints,
    frames: Ints,
    groups: Ints,
    found: Ints,
) -> int:
    """How many leaves the walk of ``root`` in ``place`` found (in ``found``), or -1 where it
    does not hold. A walk with a stack of ``frames``: each node's positions (placed nodes
    only) end on ``scratch`` from its frame's begin on (nothing of a node that fails); a
    ``none`` below walks its parts in the whole article, finding nothing."""
    depth = 1
    frames[0, _NODE] = root
    frames[0, _PLACE] = place
    frames[0, _BEGIN] = 0
    frames[0, _NEXT] = nodes[root, FIRST]
    frames[0, _HELD] = 0
    used = 0  # of scratch
    quiet = 0  # depth of the outermost ``none`` frame + 1 (0: finding leaves)
    got = 0  # leaves found
    held = False  # the last node's answer, when its frame is popped
    top = 0  # of groups
    returning = False
    while depth > 0:
        d = depth - 1
        node, where = frames[d, _NODE], frames[d, _PLACE]
        kind = nodes[node, KIND]
        if kind == LEAF:
            leaf = nodes[node, ARG]
            held = leaf >= 0 and count[where * leaves + leaf + 1] > count[where * leaves + leaf]
            if held:
                if quiet == 0:
                    found[got] = leaf
                    got += 1
                if nodes[node, PLACED]:
                    used = _copy(count, positions, where * leaves + leaf, scratch, used)
            depth -= 1
            returning = True
            continue
        end, at = nodes[node, END], frames[d, _NEXT]
        if not returning:  # first visit: the leaves of an ``any`` or ``none``
            row = nodes[node, MASK]
            if kind == ALL:
                frames[d, _HELD] = top
                groups[top] = used
                top += 1
            elif kind == NONE:
                if quiet == 0:
                    quiet = depth
                if _any_bit(masks, row, present, WHOLE):
                    held = False
                    used = frames[d, _BEGIN]
                    if quiet == depth:
                        quiet = 0
                    depth -= 1
                    returning = True
                    continue
            elif kind == ANY and row >= 0 and _any_bit(masks, row, present, where):
                frames[d, _HELD] = 1
                if quiet == 0 or nodes[node, PLACED]:
                    got, used = _collect(
                        masks,
                        row,
                        present,
                        where,
                        leaves,
                        count,
                        positions,
                        found,
                        got,
                        scratch,
                        used,
                        quiet == 0,
                        nodes[node, PLACED] != 0,
                    )
        else:  # a part has answered: ``held``
            if kind == ALL:
                if not held:
                    used = frames[d, _BEGIN]
                    top = frames[d, _HELD]
                    depth -= 1
                    continue
                groups[top] = used
                top += 1
            elif kind == ANY:
                if held:
                    frames[d, _HELD] = 1
            elif kind == NONE:
                used = frames[d, _BEGIN]
                if held:
                    held = False
                    if quiet == depth:
                        quiet = 0
                    depth -= 1
                    continue
            else:  # TITLE: its part's answer
                depth -= 1
                continue
        if at < end:  # the next part
            frames[d, _NEXT] = at + 1
            child = children[at]
            frames[depth, _NODE] = child
            frames[depth, _PLACE] = HEADING if kind == TITLE else WHOLE if kind == NONE else where
            frames[depth, _BEGIN] = used
            frames[depth, _NEXT] = nodes[child, FIRST]
            frames[depth, _HELD] = 0
            depth += 1
            returning = False
            continue
        # every part has answered
        if kind == ALL:
            base = frames[d, _HELD]
            span = nodes[node, ARG]
            held = not (
                span >= 0
                and used > frames[d, _BEGIN]
                and not within(scratch, groups[base:top], span)
            )
            top = base
            if not held or not nodes[node, PLACED]:
                used = frames[d, _BEGIN]
        elif kind == ANY:
            held = frames[d, _HELD] != 0
        else:  # NONE: no part held
            held = True
            if quiet == depth:
                quiet = 0
        depth -= 1
        returning = True
    return got if held else -1


@numba.njit(cache=True, nogil=True, inline="always")  # type: ignore[misc]
def _possible(needs: Ints, first: int, end: int, masks: Ints, present: Ints, place: int) -> bool:
    """Whether each clause ``needs[first:end]`` has a leaf in ``place`` or in the title."""
    for c in range(first, end):
        if not (
            _any_bit(masks, needs[c, 0], present, place)
            or _any_bit(masks, needs[c, 1], present, HEADING)
        ):
            return False
    return True


@numba.njit(cache=True, nogil=True, inline="always")  # type: ignore[misc]
def _copy(count: Ints, positions: Ints, slot: int, scratch: Ints, used: int) -> int:
    """A slot's positions appended to the scratch; its new length."""
    for i in range(count[slot], count[slot + 1]):
        scratch[used] = positions[i]
        used += 1
    return used


@numba.njit(cache=True, nogil=True, inline="always")  # type: ignore[misc]
def _any_bit(masks: Ints, row: int, present: Ints, place: int) -> bool:
    """Whether a leaf of ``masks[row]`` holds in ``place``."""
    if row < 0:
        return False
    for w in range(masks.shape[1]):
        if masks[row, w] & present[place, w]:
            return True
    return False


@numba.njit(cache=True, nogil=True, inline="always")  # type: ignore[misc]
def _collect(
    masks: Ints,
    row: int,
    present: Ints,
    place: int,
    leaves: int,
    count: Ints,
    positions: Ints,
    found: Ints,
    got: int,
    scratch: Ints,
    used: int,
    record: bool,
    placed: bool,
) -> tuple[int, int]:
    """The leaves of ``masks[row]`` that hold in ``place``: each added to ``found`` when
    ``record``, its positions to the scratch when ``placed``. The new lengths of both."""
    for w in range(masks.shape[1]):
        bits = masks[row, w] & present[place, w]
        if bits == 0:
            continue
        for b in range(WORD_BITS):
            if (bits >> b) & 1:
                leaf = w * WORD_BITS + b
                if record:
                    found[got] = leaf
                    got += 1
                if placed:
                    used = _copy(count, positions, place * leaves + leaf, scratch, used)
    return got, used


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def within(positions: Ints, bounds: Ints, span: int) -> bool:
    """Is there one position from each group, all within ``span`` words? Group g is
    ``positions[bounds[g]:bounds[g + 1]]``; an empty group asks for nothing. A sliding
    window over the positions in order, each written ``position * groups + group``."""
    need = 0
    for g in range(bounds.shape[0] - 1):
        need += bounds[g + 1] > bounds[g]
    events = np.empty(bounds[-1] - bounds[0], dtype=np.int64)
    n = group = 0
    for g in range(bounds.shape[0] - 1):
        if bounds[g + 1] == bounds[g]:
            continue
        for i in range(bounds[g], bounds[g + 1]):
            events[n] = positions[i] * need + group
            n += 1
        group += 1
    events.sort()
    counts = np.zeros(need, dtype=np.int64)
    covered = left = 0
    for event in events:
        group = event % need
        if counts[group] == 0:
            covered += 1
        counts[group] += 1
        while covered == need:
            if event // need - events[left] // need <= span:
                return True
            g = events[left] % need
            counts[g] -= 1
            if counts[g] == 0:
                covered -= 1
            left += 1
    return False
