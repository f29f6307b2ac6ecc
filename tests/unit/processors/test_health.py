"""An agent that dies takes the worker down with it, and the health views say why."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from processors.health import EXIT_AGENT_DIED, Health, WebService


def test_a_dead_agent_stops_the_worker_with_a_non_zero_status() -> None:
    stopped: list[bool] = []
    health = Health(stop=lambda: stopped.append(True))

    @health.supervised("tag")
    async def agent() -> None:
        raise RuntimeError("broken")

    with pytest.raises(RuntimeError):
        asyncio.run(agent())
    assert stopped == [True]
    assert not health.alive and health.exit_code == EXIT_AGENT_DIED
    assert health.dead == {"tag": "RuntimeError: broken"}


def test_a_cancelled_agent_is_not_dead() -> None:
    health = Health(stop=lambda: None)

    @health.supervised("count")
    async def agent() -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(agent())
    assert health.alive and health.exit_code == 0


def test_views_report_liveness_and_readiness() -> None:
    async def run() -> list[tuple[str, int, str]]:
        health = Health(stop=lambda: None)
        service = WebService(CollectorRegistry(), health, host="127.0.0.1", port=0)
        seen = []
        async with TestClient(TestServer(service.application())) as client:
            for path in ("/healthz", "/readyz", "/metrics", "/router"):
                response = await client.get(path)
                seen.append((path, response.status, await response.text()))
            health.assigned = True
            seen.append(("/readyz", (await client.get("/readyz")).status, ""))
            health.died("route", RuntimeError("x"))
            response = await client.get("/healthz")
            seen.append(("/healthz", response.status, await response.text()))
        return seen

    seen = asyncio.run(run())
    assert [(p, s) for p, s, _ in seen] == [
        ("/healthz", 200),
        ("/readyz", 503),
        ("/metrics", 200),
        ("/router", 404),
        ("/readyz", 200),
        ("/healthz", 503),
    ]
    assert '"route": "RuntimeError: x"' in seen[-1][2]


def test_a_redis_outage_is_logged_once_and_a_blip_not_at_all(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """After Redis restarts, a stage may meet a pooled connection it closed: one failure,
    answered at the next try. That is no outage; 30 s of failures is one, logged once when
    it has lasted OUTAGE_AFTER_S and once when it ends, whatever the stages meeting it."""
    clock = [100.0]
    monkeypatch.setattr("processors.health.time.monotonic", lambda: clock[0])
    health = Health()
    caplog.set_level("WARNING", logger="processors.health")

    health.redis_failed("flush[0]", ConnectionError("Connection closed by server."))
    clock[0] += 0.1
    assert health.redis_answered() == pytest.approx(0.1)
    assert caplog.messages == [] and health.redis_ok

    for where in ("count[0]", "router", "count[0]", "count[1]"):
        health.redis_failed(where, ConnectionError("refused"))
        clock[0] += 10
    assert not health.redis_ok
    clock[0] += 0.5
    assert health.redis_answered() == pytest.approx(40.5)
    assert caplog.messages == [
        "redis unavailable at router (refused); retrying until it is back",
        "redis is back after 40.5s",
    ]
