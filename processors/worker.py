"""The worker process: Faust's worker, with a bound on how long it may take to stop.

Faust stops its services one after another and waits for each. A library can hang in its
own stop: aiokafka's fetcher, cancelled while the broker restarted without its topics, raised
out of the consumer thread's shutdown, and Faust then waited a minute for a thread that was
already gone (CI, session 8). A worker that stops because it failed must exit, so that its
orchestrator restarts it, not look alive meanwhile. Exiting before the stop completes loses
nothing: counts are idempotent and alerts are sent at least once, so the next worker
carries on from the last commit, as it does after ``kill -9``.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import faust

from processors.health import Health

log = logging.getLogger(__name__)

STOP_DEADLINE_S = 10.0
"""How long a worker may take to stop once asked (SIGTERM, SIGINT, or a failure of its
own): a clean stop takes about a second; Kubernetes sends SIGKILL after 30 s."""


class Worker(faust.Worker):
    """``faust.Worker`` that exits within ``stop_deadline_s`` of the stop signal, with the
    status ``health`` gives (non-zero when an agent died or the broker lost its topics).

    Example::

        Worker(app, health=health, loglevel="info", quiet=True).execute_from_commandline()
    """

    def __init__(
        self,
        app: faust.App,
        *,
        health: Health,
        stop_deadline_s: float = STOP_DEADLINE_S,
        **kwargs: Any,
    ) -> None:
        super().__init__(app, **kwargs)
        self.health = health
        self.stop_deadline_s = stop_deadline_s
        self._deadline: threading.Timer | None = None

    def _on_sigterm(self) -> None:
        self._arm_deadline()
        super()._on_sigterm()

    def _on_sigint(self) -> None:
        self._arm_deadline()
        super()._on_sigint()

    def _arm_deadline(self) -> None:
        """Start the clock once: a thread, so that it fires even if the loop is blocked."""
        if self._deadline is None:
            self._deadline = threading.Timer(self.stop_deadline_s, self._exit_now)
            self._deadline.daemon = True
            self._deadline.start()

    def _exit_now(self) -> None:
        code = self.health.exit_code
        log.critical(
            "the worker did not stop within %.0f s of being asked (a library hung in its "
            "shutdown): exiting now with status %d; the next worker resumes from the last "
            "commit",
            self.stop_deadline_s,
            code,
        )
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(code)
