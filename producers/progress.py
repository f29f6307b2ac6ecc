"""A progress bar for long publishing runs: count, rate, ETA — silent when not a terminal.

Drawn on stderr, so ``--json`` output on stdout stays one clean line; off in pipes, CI
logs and containers (rich's own terminal check).

Example::

    with progress_bar("replay") as advance:
        for n in range(1, 74):
            advance(n, 73)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class RateColumn(ProgressColumn):
    """Messages per second."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed or 0:,.0f} msg/s", style="progress.data.speed")


@contextmanager
def progress_bar(
    label: str, console: Console | None = None
) -> Iterator[Callable[[int, int | None], None]]:
    """Yield ``advance(done, total)``; the bar shows done/total (total None: unknown, as in
    a loop), the rate and the time left."""
    console = console or Console(stderr=True)
    columns: list[ProgressColumn] = [TextColumn(label), BarColumn(), MofNCompleteColumn()]
    columns += [RateColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=console, disable=not console.is_terminal) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)
