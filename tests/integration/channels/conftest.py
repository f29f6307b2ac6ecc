"""Fixtures of the channel tests: a context, a port that never answers, every log record.

The recording HTTP server itself is in ``recording.py`` (each test starts its own).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import pytest

from alerts.channels.base import Context
from raqib.settings import Settings


@pytest.fixture
def context() -> Context:
    return Context(settings=Settings())


@pytest.fixture
def stalled_port() -> Iterator[int]:
    """A port whose listener never accepts and whose queue is full: a connect hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    try:
        yield port
    finally:
        for sock in [*fillers, listener]:
            sock.close()


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every log record of every logger, debug included (aiohttp's too)."""
    caplog.set_level(logging.DEBUG)
    return caplog
