"""Where the tag stage runs: a child process tags exactly as a thread of the worker does,
and a child that dies is an error the agent sees (it stops the worker), not a hang."""

from __future__ import annotations

import asyncio
import json
import os
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from pathlib import Path

import pytest

from processors.tag_agent import Rejected, Tagged, TagRunner, tag_stage
from producers.seeds import load_seed_dir
from raqib.settings import Settings

SEEDS = Path(__file__).resolve().parents[3] / "seeds"
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
