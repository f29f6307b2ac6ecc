"""What the end-to-end benchmarks share: scraping a worker's /metrics, reading its memory,
starting workers and waiting for them with a clear message when they do not come.

Imported by the ``bench_*.py`` scripts (run as scripts, so this folder is on ``sys.path``),
which also :func:`record` their headline figures for ``bench_summary.py``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import time
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from raqib.embedded import WorkerProcess
from raqib.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
GENERATION = re.compile(r"generation id (\d+)")


RESULTS_ENV = "BENCH_RESULTS"
"""A JSON file the scripts add their headline figures to (``make bench`` sets it), for the
one table of ``bench_summary.py``."""


def record(section: str, **figures: float) -> None:
    """Keep figures of this run under ``section`` in ``$BENCH_RESULTS`` (when it is set):
    the scripts run one after another, each adding what it measured."""
    where = os.environ.get(RESULTS_ENV)
    if not where:
        return
    path = Path(where)
    results = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    results.setdefault(section, {}).update(figures)
    path.write_text(json.dumps(results, indent=1, sort_keys=True), encoding="utf-8")


class BenchTimeout(RuntimeError):
    """A benchmark waited longer than it should: the message says for what."""


def samples(port: int) -> list[tuple[str, dict[str, str], float]]:
    """Every sample of a worker's /metrics: (name, labels, value)."""
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
        text = response.read().decode()
    return [
        (s.name, dict(s.labels), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def totals(ports: Iterable[int]) -> dict[str, float]:
    """Each sample name's value summed over its labels and over the workers."""
    out: dict[str, float] = {}
    for port in ports:
        for name, _, value in samples(port):
            out[name] = out.get(name, 0.0) + value
    return out


@dataclass(frozen=True)
class Histogram:
    """Cumulative bucket counts of one histogram series (summed over workers)."""

    buckets: tuple[tuple[float, float], ...]  # (upper bound, cumulative count), +Inf last
    total: float
    sum: float

    def __sub__(self, earlier: Histogram) -> Histogram:
        before = dict(earlier.buckets)
        return Histogram(
            tuple((le, n - before.get(le, 0.0)) for le, n in self.buckets),
            self.total - earlier.total,
            self.sum - earlier.sum,
        )

    def share_within(self, bound: float) -> float:
        """The share of observations at or under ``bound`` (a bucket bound: exact)."""
        if not self.total:
            return float("nan")
        for le, n in self.buckets:
            if abs(le - bound) < 1e-9:
                return n / self.total if self.total else float("nan")
        raise ValueError(f"{bound} is not a bucket bound")

    def quantile(self, q: float) -> float:
        """Prometheus's ``histogram_quantile``: linear within the bucket that holds it."""
        if not self.total:
            return float("nan")
        rank = q * self.total
        lower, below = 0.0, 0.0
        for le, n in self.buckets:
            if n >= rank:
                if le == float("inf"):
                    return lower  # beyond the last bound: its lower edge, as Prometheus
                return lower + (le - lower) * (rank - below) / max(n - below, 1e-12)
            lower, below = le, n
        return lower


def histogram(ports: Iterable[int], name: str, labels: dict[str, str]) -> Histogram:
    """The series of histogram ``name`` with ``labels``, summed over the workers."""
    buckets: dict[float, float] = {}
    total = sum_ = 0.0
    for port in ports:
        for sample, got, value in samples(port):
            if any(got.get(k) != v for k, v in labels.items()):
                continue
            if sample == f"{name}_bucket":
                le = float(got["le"])
                buckets[le] = buckets.get(le, 0.0) + value
            elif sample == f"{name}_count":
                total += value
            elif sample == f"{name}_sum":
                sum_ += value
    return Histogram(tuple(sorted(buckets.items())), total, sum_)


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` quantile of exact samples (NaN when there are none)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered), max(1, math.ceil(q * len(ordered)))) - 1]


def _status_kb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return float(line.split()[1])
    return 0.0


def family(pid: int) -> list[int]:
    """A process and its descendants (a worker's tag process), live now (Linux)."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
    return out


def rss_mb(pid: int) -> float:
    """The resident memory now of a process or of the largest of its children (Linux),
    in MB: what each process of a worker needs."""
    return max(_status_kb(p, "VmRSS") for p in family(pid)) / 1024


def peak_rss_mb(pid: int) -> float:
    """The peak resident memory so far (Linux ``VmHWM``) of a process or of the largest of
    its children, in MB."""
    return max(_status_kb(p, "VmHWM") for p in family(pid)) / 1024


def cpu_s(pid: int | None) -> float:
    """CPU time (user + system) a live process and its children have used so far, in
    seconds (Linux): what a stage costs, much less moved than wall time by what else the
    machine runs."""
    if pid is None:
        return 0.0
    total = 0
    for member in family(pid):
        with contextlib.suppress(OSError):  # a child that just exited
            fields = Path(f"/proc/{member}/stat").read_text().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def wait_until(done: Callable[[], bool], timeout_s: float, what: str, every_s: float = 0.2) -> None:
    """Poll ``done`` until it holds; after ``timeout_s``, raise naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise BenchTimeout(f"gave up after {timeout_s:.0f} s waiting for {what}")
        time.sleep(every_s)


def start_workers(
    settings: Sequence[Settings], data_dir: Path, *, group: bool = False
) -> tuple[list[WorkerProcess], float]:
    """Start one ``raqib worker`` per settings (each waited for until ready) and, with
    ``group``, wait until they share one group generation (the group has settled on all
    of them); the seconds it all took. On any failure the ones started are stopped."""
    began = time.perf_counter()
    workers: list[WorkerProcess] = []
    try:
        for i, s in enumerate(settings):
            workers.append(WorkerProcess(s, data_dir / f"worker-{i}").start())
        if group and len(workers) > 1:
            wait_until(
                lambda: _one_generation(workers),
                60,
                f"the consumer group to settle on {len(workers)} workers",
            )
    except BaseException:
        stop_workers(workers)
        raise
    return workers, time.perf_counter() - began


def _one_generation(workers: Sequence[WorkerProcess]) -> bool:
    latest = []
    for worker in workers:
        found = GENERATION.findall(worker.log_tail(10**7))
        if not found:
            return False
        latest.append(found[-1])
    return len(set(latest)) == 1


def stop_workers(workers: Iterable[WorkerProcess]) -> None:
    """Stop each worker by its pid (SIGTERM, then SIGKILL), whatever the others do."""
    for worker in workers:
        try:
            worker.stop()
        except Exception as exc:  # the next one must still be stopped
            print(f"could not stop worker {worker.pid}: {exc!r}")
