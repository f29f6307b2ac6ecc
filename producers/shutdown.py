"""Stop on SIGTERM as on Ctrl-C: leave the loop, flush what was sent, exit cleanly.

An orchestrator stops a producer with SIGTERM. Without a handler Python dies at once and
the messages kafka-python still buffers are lost; with :func:`sigterm_raises` the signal
raises :class:`Terminated` in the main thread, so ``with Publisher(...)`` blocks flush on
the way out. Asyncio servers use :func:`stop_on_signals` instead.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Terminated(BaseException):
    """SIGTERM arrived (a BaseException, like KeyboardInterrupt: no ``except Exception``
    in a library swallows it)."""


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signal.Signals(signum).name)


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Inside the block, SIGTERM raises :class:`Terminated` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def stop_on_signals(loop: asyncio.AbstractEventLoop) -> asyncio.Event:
    """An event set by SIGTERM or SIGINT, for an asyncio loop to stop on (main thread)."""
    stop = asyncio.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
    return stop
