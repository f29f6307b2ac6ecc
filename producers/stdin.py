"""``raqib produce``: JSON lines on stdin, one article each.

A bad line is reported (its number and why) and skipped; every other line is still sent,
and the command exits 1 at the end so that a pipeline notices.

Example::

    jq -c '.items[]' export.json | raqib produce
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from producers.sink import Sink
from raqib.exceptions import InvalidArticle


@dataclass(frozen=True, slots=True)
class LineError:
    """A line that is not an article: where and why."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass(slots=True)
class Produced:
    """What one run did."""

    sent: int = 0
    duplicates: int = 0
    errors: list[LineError] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"sent {self.sent} articles, {self.duplicates} duplicates suppressed, "
            f"{len(self.errors)} bad lines"
        )


def produce_lines(
    lines: Iterable[bytes], sink: Sink, on_error: Callable[[LineError], None] = lambda e: None
) -> Produced:
    """Offer each non-blank line to ``sink``; flush at the end; report bad lines as they come."""
    done = Produced()
    for number, raw in enumerate(lines, 1):
        raw = raw.rstrip(b"\r\n")
        if not raw.strip():
            continue
        try:
            offered = sink.offer_raw(raw)
        except InvalidArticle as exc:
            error = LineError(number, exc.reason)
            done.errors.append(error)
            on_error(error)
            continue
        if offered.sent:
            done.sent += 1
        else:
            done.duplicates += 1
    sink.flush()
    return done
