"""Where the tag stage runs: a child process tags exactly as a thread of the worker does,
and a child that dies is an error the agent sees (it stops the worker), not a hang."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from pathlib import Path

import pytest

from processors.tag_agent import Rejected, Tagged, TagRunner, tag_stage
from producers.seeds import load_seed_dir
from raqib import heap
from raqib.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
SEEDS = ROOT / "seeds"
RECEIVED = datetime(2025, 3, 1, 12, tzinfo=UTC)


def _items() -> list[tuple[bytes, datetime | None, int]]:
    """The seeds, an unreadable message and an article with no body, from two origins."""
    raws = [json.dumps(a, ensure_ascii=False, default=str).encode() for a in load_seed_dir(SEEDS)]
    raws += [b"\xff not utf-8", json.dumps({"title": "بلا نص"}).encode()]
    return [(raw, RECEIVED, i % 2) for i, raw in enumerate(raws)]


def _tagged_by(settings: Settings) -> list[Tagged | Rejected]:
    async def go() -> list[Tagged | Rejected]:
        runner = TagRunner(tag_stage(settings), settings)
        try:
            return [outcome for outcome, _ in await runner.process_many(_items())]
        finally:
            runner.close()

    return asyncio.run(go())


def test_a_tag_process_tags_what_the_thread_tags() -> None:
    in_thread = _tagged_by(Settings(tag_process=False))
    in_child = _tagged_by(Settings(tag_process=True))
    assert in_child == in_thread
    assert sum(isinstance(o, Tagged) for o in in_child) == 5
    assert [o.kind for o in in_child if isinstance(o, Rejected)] == ["not_utf8", "invalid"]


def test_a_tag_process_settles_its_collector_as_the_worker_does() -> None:
    """The child keeps the watchlist and topics for its life: frozen out of every
    collection, with the worker's wider young generation (raqib.heap)."""
    settings = Settings(tag_process=True)
    runner = TagRunner(tag_stage(settings), settings)
    try:
        threshold = runner.executor.submit(gc.get_threshold).result(timeout=120)
        frozen = runner.executor.submit(gc.get_freeze_count).result(timeout=60)
    finally:
        runner.close()
    assert threshold[0] == heap.YOUNG_THRESHOLD
    assert frozen > 10_000  # what start-up built: the stage's objects, not a handful


def test_a_tag_process_that_dies_is_an_error_not_a_hang() -> None:
    settings = Settings(tag_process=True)

    async def go() -> None:
        runner = TagRunner(tag_stage(settings), settings)
        try:
            runner.executor.submit(os._exit, 9)  # what the OOM killer or a crash does
            async with asyncio.timeout(60):
                await runner.process_many(_items())
        finally:
            runner.close()

    with pytest.raises(BrokenProcessPool):
        asyncio.run(go())


def test_a_tag_process_ends_with_its_worker_however_the_worker_ends() -> None:
    """``kill -9`` of the worker: its tag process (and multiprocessing's resource tracker,
    which waits for it) must not live on, waiting for work that never comes."""
    script = (
        "import sys, time\n"
        "from processors.tag_agent import TagRunner, tag_stage\n"
        "from raqib.settings import Settings\n"
        "s = Settings(tag_process=True)\n"
        "runner = TagRunner(tag_stage(s), s)\n"
        "runner.executor.submit(len, ()).result()\n"
        "print('started', flush=True)\n"
        "time.sleep(120)\n"
    )
    worker = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=ROOT, text=True
    )
    try:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "started"
        children = _children(worker.pid)
        assert children, "the worker has its tag process"
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        deadline = time.monotonic() + 15
        while (alive := [c for c in children if _alive(c)]) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert alive == []
    finally:
        worker.kill()
        worker.wait(10)


def _children(pid: int) -> list[int]:
    return [
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    ]


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status  # a zombie has ended; its parent has not reaped it
