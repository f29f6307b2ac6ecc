"""The Alertmanager channel's configuration, the alerts it posts, and how it reads replies.

Replies Alertmanager itself never gives on a valid post (500, 429, 401) come from a small
aiohttp server on a free 127.0.0.1 port; the real Alertmanager is in
tests/integration/channels/test_alertmanager.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from pydantic import ValidationError

from alerts.channels.alertmanager import AlertmanagerChannel, AlertmanagerConfig
from alerts.channels.base import Context, DeliveryError, MissingSecret
from raqib.embedded import free_port
from raqib.notifications import Notification
from raqib.settings import Settings

NOW = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


def channel(**changes: Any) -> AlertmanagerChannel:
    entry = {"name": "am", "type": "alertmanager", "url": "http://127.0.0.1:9093", **changes}
    return AlertmanagerChannel(
        AlertmanagerConfig.model_validate(entry), Context(settings=Settings())
    )


def test_resend_every_s_is_a_third_of_resolve_after() -> None:
    assert channel().resend_every_s == 100.0
    assert channel(resolve_after="90s").resend_every_s == 30.0
    assert channel().config.alerts_url == "http://127.0.0.1:9093/api/v2/alerts"
    assert channel(url="http://am:9093/prefix/").config.alerts_url == (
        "http://am:9093/prefix/api/v2/alerts"
    )


@pytest.mark.parametrize(
    ("changes", "cause"),
    [
        ({"labels": {"severity": "page"}}, "set by raqib"),
        ({"labels": {"team-name": "x"}}, "not a Prometheus label name"),
        ({"labels": {"__name__": "x"}}, "not a Prometheus label name"),
        ({"resolve_after": "1s"}, "at least 3s"),
        ({"resolve_after": "soon"}, "expected a duration"),
        ({"url": "alertmanager:9093"}, "URL"),
        ({"username": "raqib"}, "needs secret_env"),
        ({"url": "http://raqib:pw@am:9093"}, "no credentials in the URL"),
    ],
)
def test_invalid_configurations_say_why(changes: dict[str, Any], cause: str) -> None:
    with pytest.raises(ValidationError, match=cause):
        channel(**changes)


def test_a_missing_token_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAQIB_AM_TOKEN", raising=False)
    with pytest.raises(MissingSecret, match="RAQIB_AM_TOKEN"):
        channel(secret_env="RAQIB_AM_TOKEN")


def test_starts_at_is_the_story_s_and_ends_at_follows_its_state(
    notification: Callable[..., Notification],
) -> None:
    ch = channel(labels={"team": "duty-desk"})
    page = notification()
    [firing] = ch.alerts(page, None, NOW)
    assert firing["labels"] == {
        "team": "duty-desk",
        "alertname": "RaqibStory",
        "story_id": "story-1",
        "severity": "warning",
        "source": "raqib",
    }
    assert firing["startsAt"] == "2024-12-10T00:01:00.000Z"  # first_seen, on every post
    assert firing["endsAt"] == "2026-11-30T06:05:00.000Z"
    assert firing["generatorURL"] == page.dashboard_url
    later = NOW + timedelta(minutes=2)
    [again] = ch.alerts(notification(kind="update", seq=2), {"severity": "warning"}, later)
    assert again["labels"] == firing["labels"] and again["startsAt"] == firing["startsAt"]
    assert again["endsAt"] == "2026-11-30T06:07:00.000Z"
    [ended] = ch.alerts(notification(kind="resolved", seq=3, status="resolved"), None, later)
    assert ended["endsAt"] == "2026-11-30T06:02:00.000Z"


def test_a_rising_severity_ends_the_alert_of_the_old_one(
    notification: Callable[..., Notification],
) -> None:
    body = channel().alerts(notification(severity="critical"), {"severity": "warning"}, NOW)
    assert [(a["labels"]["severity"], a["endsAt"]) for a in body] == [
        ("critical", "2026-11-30T06:05:00.000Z"),
        ("warning", "2026-11-30T06:00:00.000Z"),
    ]


def test_generator_url_falls_back_to_the_configured_one(
    notification: Callable[..., Notification],
) -> None:
    n = notification(dashboard_url=None)
    [alert] = channel(generator_url="https://raqib.example.org/").alerts(n, None, NOW)
    assert alert["generatorURL"] == "https://raqib.example.org/"
    assert "dashboard" not in alert["annotations"]
    [bare] = channel().alerts(n, None, NOW)
    assert "generatorURL" not in bare


def serve(status: int, seen: list[web.Request]) -> Callable[..., Any]:
    """Run ``body(url)`` against a server that answers every POST with ``status``."""

    async def handle(request: web.Request) -> web.Response:
        seen.append(request)
        await request.read()
        return web.Response(status=status, text=f"status {status}")

    async def run(body: Callable[[str], Any]) -> Any:
        app = web.Application()
        app.router.add_post("/api/v2/alerts", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            return await body(f"http://127.0.0.1:{port}")
        finally:
            await runner.cleanup()

    return run


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(500, True), (503, True), (429, True), (408, True), (400, False), (401, False), (307, False)],
)
def test_replies_are_classified(
    status: int, retryable: bool, notification: Callable[..., Notification]
) -> None:
    async def body(url: str) -> None:
        ch = channel(url=url)
        try:
            await ch.deliver(notification(), None)
        finally:
            await ch.close()

    with pytest.raises(DeliveryError) as caught:
        asyncio.run(serve(status, [])(body))
    assert caught.value.retryable is retryable
    assert f"HTTP {status}: status {status}" in str(caught.value)


@pytest.mark.parametrize(
    ("changes", "header"),
    [({}, "Bearer t0ken-123"), ({"username": "raqib"}, "Basic cmFxaWI6dDBrZW4tMTIz")],
)
def test_the_secret_is_sent_as_a_token_or_a_password(
    changes: dict[str, Any],
    header: str,
    monkeypatch: pytest.MonkeyPatch,
    notification: Callable[..., Notification],
) -> None:
    monkeypatch.setenv("RAQIB_AM_TOKEN", "t0ken-123")
    seen: list[web.Request] = []

    async def body(url: str) -> Any:
        ch = channel(url=url, secret_env="RAQIB_AM_TOKEN", **changes)
        try:
            return await ch.deliver(notification(), None)
        finally:
            await ch.close()

    assert asyncio.run(serve(200, seen)(body)) == {"severity": "warning"}
    assert [r.headers["Authorization"] for r in seen] == [header]
