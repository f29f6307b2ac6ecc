"""The worker's own HTTP views: ``/metrics``, ``/healthz`` and ``/readyz``, nothing else.

Faust's built-in views (``/router``, ``/table``, its index page) are not served: raqib
registers this service as the app's web server, which replaces Faust's web stack. It binds
``RAQIB_WEB_BIND`` (127.0.0.1 unless an operator maps it out of a container).

* ``/healthz`` — 200 while every agent runs; 503 with the dead agent's name once one has
  died (the process is then stopping with a non-zero status, so an orchestrator restarts it).
* ``/readyz`` — 200 once the worker has joined its consumer group and Redis answers.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from mode import Service
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)

EXIT_AGENT_DIED = 70
"""The worker's exit status when an agent died (EX_SOFTWARE): restart me."""

F = TypeVar("F", bound=Callable[..., Awaitable[None]])


@dataclass
class Health:
    """What the health views report; the agents and the stages keep it current."""

    dead: dict[str, str] = field(default_factory=dict)
    assigned: bool = False
    redis_ok: bool = True
    stop: Callable[[], None] = field(default=lambda: os.kill(os.getpid(), signal.SIGTERM))

    @property
    def alive(self) -> bool:
        return not self.dead

    @property
    def ready(self) -> bool:
        return self.alive and self.assigned and self.redis_ok

    @property
    def exit_code(self) -> int:
        return EXIT_AGENT_DIED if self.dead else 0

    def died(self, agent: str, exc: BaseException) -> None:
        """An agent raised out of its loop: report it and stop the process, because a
        worker that serves /metrics while processing nothing looks alive to everyone."""
        self.dead[agent] = f"{type(exc).__name__}: {exc}"[:500]
        log.critical("agent %s died (%r): stopping the worker", agent, exc, exc_info=exc)
        self.stop()

    def supervised(self, agent: str) -> Callable[[F], F]:
        """Decorate an agent function so that its death stops the worker."""

        def decorate(fun: F) -> F:
            @functools.wraps(fun)
            async def run(*args: Any, **kwargs: Any) -> None:
                try:
                    await fun(*args, **kwargs)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self.died(agent, exc)
                    raise

            return run  # type: ignore[return-value]

        return decorate


class WebService(Service):
    """An aiohttp server with the three views; started by Faust with the app."""

    def __init__(
        self, registry: CollectorRegistry, health: Health, *, host: str, port: int, **kw: Any
    ) -> None:
        super().__init__(**kw)
        self.registry = registry
        self.health = health
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def web_url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def application(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        return app

    async def on_start(self) -> None:
        self._runner = web.AppRunner(self.application(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        log.info("serving /metrics, /healthz, /readyz on %s:%d", self.host, self.port)

    async def on_stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, request: web.Request) -> web.Response:
        if self.health.alive:
            return _json(200, {"status": "ok"})
        return _json(503, {"status": "failed", "dead_agents": self.health.dead})

    async def _readyz(self, request: web.Request) -> web.Response:
        state = {
            "alive": self.health.alive,
            "assigned": self.health.assigned,
            "redis": self.health.redis_ok,
        }
        return _json(200 if self.health.ready else 503, state)


def _json(status: int, body: dict[str, Any]) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/json", charset="utf-8"
    )
