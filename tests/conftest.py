"""Shared fixtures: the real embedded broker and Redis, one each per test session.

Servers run as child processes on free loopback ports and are stopped by pid. A test that
needs something this machine lacks fails when ``CI`` is set and is skipped otherwise, so
CI never passes by skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from raqib.embedded import EmbeddedBroker, EmbeddedRedis
from raqib.exceptions import EmbeddedServerError


def require(condition: bool, reason: str) -> None:
    """Skip locally, fail in CI: a missing dependency must never pass silently there."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker(tmp_path_factory.mktemp("broker"))
    try:
        broker.start()
    except (EmbeddedServerError, OSError) as exc:
        require(False, f"embedded Kafka broker: {exc}")
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    try:
        server.start()
    except (EmbeddedServerError, OSError) as exc:
        require(False, f"embedded Redis: {exc}")
    try:
        yield server
    finally:
        server.stop()


DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def news_ar() -> dict[str, Any]:
    """Real Arabic headlines, bodies and outlets from the seeds (tests/data/news_ar.yaml)."""
    return yaml.safe_load((DATA / "news_ar.yaml").read_text(encoding="utf-8"))


@pytest.fixture
def unique() -> str:
    """A short name part unique to one test: topics and keys never collide."""
    return f"t{uuid.uuid4().hex[:8]}"


FIGURES = pytest.StashKey[list[str]]()


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Lines a test wants in the run's summary: measured figures such as precision and
    recall, printed whether the test passes or fails."""
    return request.config.stash.setdefault(FIGURES, []).append


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    lines = config.stash.get(FIGURES, [])
    if lines:
        terminalreporter.section("figures")
        for line in lines:
            terminalreporter.write_line(line)
