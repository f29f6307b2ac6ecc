"""Issue 15's goals in one table: what this ``make bench`` run measured, beside the ceiling
or baseline each is judged against (measured in the same run), and whether it is met.

The scripts before it add their headline figures to ``$BENCH_RESULTS`` (``benchkit.record``);
a figure missing there (a script not run, or run on its own) is shown as such.

>>> rows = goals({"tag_stage": {"per_s": 3135.0, "scan_per_s": 7693.0}})
>>> [(r.goal, r.measured, r.met) for r in rows if r.met is not None]
[('tag stage >= 3,000 articles/s per core', '3,135 articles/s', True)]
>>> render(rows[:2]).splitlines()[2].split("  ")[:2]
['tag stage >= 3,000 articles/s per core', '3,135 articles/s']
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchkit import RESULTS_ENV

Results = dict[str, dict[str, float]]


@dataclass(frozen=True)
class Row:
    goal: str
    measured: str
    beside: str
    met: bool | None
    """None: not measured in this run."""


def goals(results: Results) -> list[Row]:
    """One row per goal of issue 15, from what the scripts recorded."""
    rows: list[Row] = []

    def add(goal: str, needs: list[tuple[str, str]], make: Any) -> None:
        figures = [results.get(section, {}).get(name) for section, name in needs]
        if any(f is None for f in figures):
            rows.append(Row(goal, "not measured in this run", "", None))
        else:
            rows.append(Row(goal, *make(*figures)))

    add(
        "worker end to end >= 1,000 articles/s",
        [("pipeline", "one_per_s"), ("pipeline", "two_per_s"), ("pipeline", "ceiling_per_s")],
        lambda one, two, ceiling: (
            f"{one:,.0f} (1 worker), {two:,.0f} (2)",
            f"raw consume {ceiling:,.0f}/s: {max(one, two) / ceiling:.1%} of it (goal 20 %)",
            max(one, two) >= 1000,
        ),
    )
    add(
        "tag stage >= 3,000 articles/s per core",
        [("tag_stage", "per_s"), ("tag_stage", "scan_per_s")],
        lambda stage, scan: (
            f"{stage:,.0f} articles/s",
            f"bare scan {scan:,.0f}/s ({scan / stage:.1f}x faster)",
            stage >= 3000,
        ),
    )
    add(
        "raqib tag FILE... within 3x a bare scan",
        [("raqib_tag", "seconds"), ("raqib_tag", "scan_seconds")],
        lambda whole, scan: (
            f"{whole / scan:.1f}x ({whole:.2f} s)",
            f"bare scan {scan:.2f} s",
            whole <= 3 * scan,
        ),
    )
    add(
        "raqib tag start-up under 1 s",
        [("raqib_tag", "startup_s")],
        lambda startup: (f"{startup:.2f} s", "one short file, to its line", startup < 1),
    )
    add(
        "count stage: few Redis round trips an article",
        [("pipeline", "commands_per_article"), ("count_stage", "per_s")],
        lambda commands, per_s: (
            f"{commands:.1f} commands sent an article",
            f"count stage alone {per_s:,.0f} articles/s (one per subject and batch)",
            commands < 41,  # the seed copies' 41 mentions: one call per (subject, article)
        ),
    )
    for mode, label in (("all", "1 process"), ("tag+count", "tag + count")):
        add(
            f"p99 publish -> counted <= 100 ms at 200/s ({label})",
            [
                ("latency_200_4p", f"{mode}_counted_p99_ms"),
                ("latency_200_4p", f"{mode}_floor_p99_ms"),
            ],
            lambda counted, floor: (
                f"{counted:,.0f} ms",
                f"alignment floor {floor:,.0f} ms (no stage time)",
                counted <= 100,
            ),
        )
        add(
            f"p99 publish -> alert delivered <= 250 ms at 200/s ({label})",
            [("latency_200_4p", f"{mode}_delivered_p99_ms")],
            lambda delivered: (f"{delivered:,.0f} ms", "webhook, group_wait 0s", delivered <= 250),
        )
    add(
        "worker RSS <= 300 MB (default watchlist)",
        [("pipeline", "one_peak_mb"), ("pipeline", "big_peak_mb")],
        lambda peak, big: (f"{peak:.0f} MB peak", f"10,000 entities: {big:.0f} MB", peak <= 300),
    )
    return rows


def render(rows: list[Row]) -> str:
    """The rows as an aligned text table."""
    mark = {True: "yes", False: "NO", None: "-"}
    widths = [max(len(r.goal) for r in rows), max(len(r.measured) for r in rows)]
    lines = [f"{'goal':{widths[0]}}  {'measured':{widths[1]}}  {'met':3}  beside (same run)"]
    lines += [
        f"{r.goal:{widths[0]}}  {r.measured:{widths[1]}}  {mark[r.met]:3}  {r.beside}" for r in rows
    ]
    return "\n".join(lines)


def main() -> int:
    where = os.environ.get(RESULTS_ENV)
    if not where or not Path(where).exists():
        print(f"no figures: run the bench scripts with {RESULTS_ENV} set (make bench does)")
        return 1
    results: Results = json.loads(Path(where).read_text(encoding="utf-8"))
    print(f"\nissue 15's goals, this run ({os.cpu_count()} cores):")
    print(render(goals(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
