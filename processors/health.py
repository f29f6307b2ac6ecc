"""The worker's own HTTP views: ``/metrics``, ``/healthz`` and ``/readyz``, nothing else.

Faust's built-in views (``/router``, ``/table``, its index page) are not served: raqib
registers this service as the app's web server, which replaces Faust's web stack. It binds
``RAQIB_WEB_BIND`` (127.0.0.1 unless an operator maps it out of a container).

* ``/healthz`` — 200 while every agent runs; 503 with the dead agent's name once one has
  died (the process is then stopping with a non-zero status, so an orchestrator restarts it).
* ``/readyz`` — 200 once the worker has joined its consumer group, and Redis and the Kafka
  brokers answer (:class:`BrokerWatch`).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from kafka.errors import KafkaError
from mode import Service
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from raqib.redaction import redact, redact_logger
from raqib.security import kafka_auth
from raqib.settings import Settings

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 1.0
OUTAGE_AFTER_S = 0.5
"""Redis failing for this long is an outage, logged; a failure answered sooner is a blip (a
pooled connection Redis closed when it restarted, met once and replaced), counted in
``raqib_processing_errors_total{stage="redis"}`` but not logged."""
EXIT_AGENT_DIED = 70
"""The worker's exit status when an agent died (EX_SOFTWARE): restart me."""

F = TypeVar("F", bound=Callable[..., Awaitable[None]])


@dataclass
class Health:
    """What the health views report; the agents and the stages keep it current."""

    dead: dict[str, str] = field(default_factory=dict)
    assigned: bool = False
    redis_ok: bool = True
    broker_ok: bool = True
    stop: Callable[[], None] = field(default=lambda: os.kill(os.getpid(), signal.SIGTERM))
    redis_probe: Callable[[], Awaitable[object]] | None = None
    """Asked by /readyz (a PING): Redis unreachable or refusing our password is not ready."""

    outage_since: float | None = None
    """When this process last found Redis gone (None while it answers): one outage, one
    warning once it has lasted ``OUTAGE_AFTER_S`` and one line when it ends, whichever
    stage meets it."""
    outage_logged: bool = False

    def redis_failed(self, where: str, exc: BaseException | None) -> None:
        """A stage could not reach Redis (it retries); say so once per outage."""
        self.redis_ok = False
        now = time.monotonic()
        if self.outage_since is None:
            self.outage_since = now
        if not self.outage_logged and now - self.outage_since >= OUTAGE_AFTER_S:
            self.outage_logged = True
            log.warning("redis unavailable at %s (%s); retrying until it is back", where, exc)

    def redis_answered(self) -> float | None:
        """A stage reached Redis; the outage's (or blip's) length if this ends one."""
        self.redis_ok = True
        if self.outage_since is None:
            return None
        stalled = time.monotonic() - self.outage_since
        if self.outage_logged:
            log.warning("redis is back after %.1fs", stalled)
        self.outage_since, self.outage_logged = None, False
        return stalled

    async def probe(self) -> None:
        """Refresh ``redis_ok`` with the probe, if there is one (1 s at most)."""
        if self.redis_probe is None:
            return
        try:
            await asyncio.wait_for(self.redis_probe(), PROBE_TIMEOUT_S)
            self.redis_ok = True
        except Exception:  # any failure to answer is "not ready"; the reason is in the log
            self.redis_ok = False

    @property
    def alive(self) -> bool:
        return not self.dead

    @property
    def ready(self) -> bool:
        return self.alive and self.assigned and self.redis_ok and self.broker_ok

    @property
    def exit_code(self) -> int:
        return EXIT_AGENT_DIED if self.dead else 0

    def died(self, agent: str, exc: BaseException) -> None:
        """An agent raised out of its loop: report it and stop the process, because a
        worker that serves /metrics while processing nothing looks alive to everyone."""
        self.dead[agent] = f"{type(exc).__name__}: {exc}"[:500]
        log.critical("agent %s died (%r): stopping the worker", agent, exc, exc_info=exc)
        self.stop()

    def failed(self, part: str, reason: str) -> None:
        """Something the worker cannot work without is gone for good: say what, and stop
        with a non-zero status so that an orchestrator restarts it."""
        self.dead[part] = reason[:500]
        log.critical("%s: stopping the worker", reason)
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
        await self.health.probe()
        state = {
            "alive": self.health.alive,
            "assigned": self.health.assigned,
            "redis": self.health.redis_ok,
            "broker": self.health.broker_ok,
        }
        return _json(200 if self.health.ready else 503, state)


def _json(status: int, body: dict[str, Any]) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/json", charset="utf-8"
    )


BROKER_CHECK_S = 5.0
"""How often :class:`BrokerWatch` asks the brokers for the worker's topics."""


class BrokerWatch:
    """Asks the Kafka brokers every few seconds for the topics the worker reads.

    The Kafka client retries by itself while a broker is down (and logs every try); this
    says it once: unreachable -> ``/readyz`` not ready and one warning naming the servers,
    one line again when they answer. Brokers that answer without a topic they had a moment
    ago were restarted without their data (Tansu's memory storage) or had it deleted: the
    worker would wait on partitions that no longer exist, alive and idle, so it stops with
    a non-zero status instead; restarted (by its orchestrator) it recreates its topics.

    Example::

        watch = BrokerWatch(settings, health)
        await watch.check()  # every BROKER_CHECK_S seconds, from an app timer
    """

    def __init__(self, settings: Settings, health: Health, *, timeout_s: float = 3.0) -> None:
        names = settings.topic_names
        self.settings = settings
        self.health = health
        self.timeout_s = timeout_s
        self.servers = ",".join(settings.kafka_servers)
        self.watched = {names.articles, names.mentions, names.alerts}
        self.seen: set[str] = set()
        self._down_since: float | None = None
        self._admin: Any = None  # one client while the brokers answer, a new one after

    def topics(self) -> set[str]:
        """The topics the brokers have (blocking: run in a thread)."""
        if self._admin is None:
            from kafka.admin import KafkaAdminClient

            redact_logger("kafka.admin.client")  # it logs its configuration, SASL included
            self._admin = KafkaAdminClient(
                bootstrap_servers=self.settings.kafka_servers,
                client_id=f"{self.settings.app_id}-watch",
                request_timeout_ms=int(self.timeout_s * 1000),
                bootstrap_timeout_ms=int(self.timeout_s * 1000),
                **kafka_auth(self.settings),
            )
        try:
            return set(self._admin.list_topics())
        except BaseException:
            admin, self._admin = self._admin, None  # its reconnection back-off grows to 30 s
            admin.close()
            raise

    async def check(self) -> None:
        try:
            found = await asyncio.get_running_loop().run_in_executor(None, self.topics)
        except (KafkaError, OSError) as exc:
            if self._down_since is None:
                self._down_since = time.monotonic()
                self.health.broker_ok = False
                log.warning(
                    "kafka broker %s unreachable (%s); waiting until it is back",
                    self.servers,
                    redact(str(exc)),
                )
            return
        if self._down_since is not None:
            down_s = time.monotonic() - self._down_since
            log.warning("kafka broker %s is back after %.1fs", self.servers, down_s)
            self._down_since = None
            self.health.broker_ok = True
        lost = sorted(self.seen - found)
        self.seen |= self.watched & found
        if lost and "broker" not in self.health.dead:  # said once; the worker is stopping
            self.health.failed(
                "broker",
                f"kafka broker {self.servers} no longer has topics {', '.join(lost)} "
                "(restarted without its data, or they were deleted); a restarted worker "
                "recreates them",
            )


class Repeats(logging.Filter):
    """Lets a log message through once per ``every_s`` seconds per (logger, format): the
    Kafka client logs every reconnection try, ~40 lines a second while a broker is down."""

    def __init__(self, every_s: float = 60.0) -> None:
        super().__init__()
        self.every_s = every_s
        self._last: dict[tuple[str, object], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key, now = (record.name, record.msg), time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.every_s:
            return False
        self._last[key] = now
        return True


def quiet_kafka_client_logs(every_s: float = 60.0) -> None:
    """Each message of the Kafka clients (aiokafka, Faust's; kafka-python, the watch's) at
    most once a minute, and the watch's client from warnings up (it polls every 5 s)."""
    import aiokafka  # noqa: F401 - registers the loggers
    import kafka.admin  # noqa: F401

    logging.getLogger("kafka").setLevel(logging.WARNING)
    repeats = Repeats(every_s)
    for name in list(logging.root.manager.loggerDict):
        logger = logging.getLogger(name)
        if name.split(".")[0] in ("aiokafka", "kafka") and not any(
            isinstance(f, Repeats) for f in logger.filters
        ):
            logger.addFilter(repeats)
