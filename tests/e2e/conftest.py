"""A failing e2e test shows the log tail of every worker it started.

Most e2e tests assert after their workers have stopped, and CI output is the only evidence
the team gets of a flake: so every :class:`~raqib.embedded.WorkerProcess` started while a
test or one of its fixtures runs is remembered on that test (or, started by a
module-scoped fixture, on its module), and the report of a failed test gets a section with
the last ``LOG_LINES`` lines of each one's log. A test needs to do nothing for it.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from raqib.embedded import ChildServer, WorkerProcess

LOG_LINES = 150

_STARTED = pytest.StashKey[list[WorkerProcess]]()
_running: list[pytest.Item | pytest.Collector | pytest.Session] = []
"""The node whose test or fixture runs now (innermost last): a started worker's owner."""


def log_tail_lines(path: Path, lines: int = LOG_LINES) -> str:
    """The last ``lines`` lines of a log file."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="session", autouse=True)
def _remember_started_workers() -> Iterator[None]:
    start = WorkerProcess.start

    def remembering(self: WorkerProcess) -> ChildServer:
        if _running:
            _running[-1].stash.setdefault(_STARTED, []).append(self)
        return start(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(WorkerProcess, "start", remembering)
        yield


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, object, object]:
    _running.append(request.node)  # a module-scoped fixture's node is the module
    try:
        return (yield)
    finally:
        _running.pop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    _running.append(item)
    try:
        return (yield)
    finally:
        _running.pop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        started = (w for node in item.listchain() for w in node.stash.get(_STARTED, []))
        workers = list(dict.fromkeys(started))
        for n, worker in enumerate(workers, 1):
            report.sections.append(
                (
                    f"worker {n} of {len(workers)}, last {LOG_LINES} lines of {worker.log_path}",
                    log_tail_lines(worker.log_path),
                )
            )
    return report
