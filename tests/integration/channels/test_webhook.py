"""The webhook channel against a real HTTP server on 127.0.0.1: body, signature, headers,
and which failures are worth retrying."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Callable
from typing import Any

import pytest

from alerts.channels.base import Context, DeliveryError, Ref
from alerts.channels.webhook import WebhookChannel, WebhookConfig
from raqib.embedded import free_port
from raqib.notifications import Notification
from tests.integration.channels.recording import Answer, Recorded, RecordingServer, assert_hidden

SECRET = "whsec-7f3c9a1e5b2d4680"
MakeNotification = Callable[..., Notification]


def config(url: str, **options: Any) -> WebhookConfig:
    return WebhookConfig.model_validate(
        {"name": "ops-hook", "type": "webhook", "url": url, **options}
    )


async def deliver_all(
    server: RecordingServer, context: Context, *notifications: Notification, **options: Any
) -> list[Ref | DeliveryError | None]:
    """Deliver each notification in turn; an error is returned in its place."""
    channel = WebhookChannel(config(f"{server.url}/hook", **options), context)
    results: list[Ref | DeliveryError | None] = []
    try:
        for n in notifications:
            try:
                results.append(await channel.deliver(n, None))
            except DeliveryError as exc:
                results.append(exc)
    finally:
        await channel.close()
    return results


def run(
    context: Context, *notifications: Notification, script: tuple[Answer, ...] = (), **options: Any
) -> tuple[list[Ref | DeliveryError | None], list[Recorded]]:
    async def go() -> tuple[list[Ref | DeliveryError | None], list[Recorded]]:
        async with RecordingServer(*script) as server:
            results = await deliver_all(server, context, *notifications, **options)
        return results, server.requests

    return asyncio.run(go())


def test_page_is_the_notification_as_signed_json_in_arabic(
    notification: MakeNotification, context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAQIB_HOOK_SECRET", SECRET)
    page = notification()
    results, requests = run(
        context, page, secret_env="RAQIB_HOOK_SECRET", headers={"X-Team": "duty-desk"}
    )

    assert results == [None]  # a webhook cannot edit: no reference
    [request] = requests
    assert (request.method, request.path) == ("POST", "/hook")
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert Notification.model_validate_json(request.body) == page
    assert "أمير حاتمي".encode() in request.body  # UTF-8 as written, not \u escapes
    expected = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Raqib-Signature"] == f"sha256={expected}"
    assert request.headers["Idempotency-Key"] == "story-1:ops-hook:1"
    assert request.headers["X-Raqib-Story"] == "story-1"
    assert request.headers["X-Raqib-Kind"] == "page"
    assert request.headers["X-Team"] == "duty-desk"


def test_without_a_secret_there_is_no_signature(
    notification: MakeNotification, context: Context
) -> None:
    _, [request] = run(context, notification())
    assert "X-Raqib-Signature" not in request.headers
    assert request.headers["Idempotency-Key"] == "story-1:ops-hook:1"


def test_update_and_resolution_are_new_posts_marked_by_kind(
    notification: MakeNotification, context: Context
) -> None:
    story = [
        notification(),
        notification(kind="update", seq=2, notification_id="story-1:ops-hook:2"),
        notification(
            kind="resolved", seq=3, status="resolved", notification_id="story-1:ops-hook:3"
        ),
    ]
    results, requests = run(context, *story)
    assert results == [None, None, None]
    assert [r.headers["X-Raqib-Kind"] for r in requests] == ["page", "update", "resolved"]
    assert [r.headers["Idempotency-Key"] for r in requests] == [n.notification_id for n in story]
    assert [r.json()["kind"] for r in requests] == ["page", "update", "resolved"]


def test_500_three_times_then_200_resends_the_same_signed_request(
    notification: MakeNotification, context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAQIB_HOOK_SECRET", SECRET)
    page = notification()
    results, requests = run(
        context,
        page,
        page,
        page,
        page,
        script=(Answer(500, "oops"), Answer(500, "oops"), Answer(503, "busy")),
        secret_env="RAQIB_HOOK_SECRET",
    )
    errors, last = results[:3], results[3]
    assert all(isinstance(e, DeliveryError) and e.retryable for e in errors)
    assert last is None
    assert len({r.body for r in requests}) == 1  # the receiver dedupes on the key
    assert len({r.headers["Idempotency-Key"] for r in requests}) == 1
    assert len({r.headers["X-Raqib-Signature"] for r in requests}) == 1


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (400, False),
        (401, False),
        (404, False),
        (413, False),
        (408, True),
        (425, True),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (301, False),  # redirects are not followed: the receiver's address is wrong
    ],
)
def test_answers_are_classified(
    notification: MakeNotification, context: Context, status: int, retryable: bool
) -> None:
    answer = Answer(status, "no", headers={"Location": "http://127.0.0.1:1/elsewhere"})
    [error], requests = run(context, notification(), script=(answer,))
    assert isinstance(error, DeliveryError)
    assert error.retryable is retryable
    assert f"HTTP {status}" in str(error) and "ops-hook" in str(error)
    assert len(requests) == 1


def test_retry_after_is_in_the_message(notification: MakeNotification, context: Context) -> None:
    answer = Answer(429, "slow down", headers={"Retry-After": "30"})
    [error], _ = run(context, notification(), script=(answer,))
    assert isinstance(error, DeliveryError) and error.retryable
    assert "Retry-After: 30" in str(error)


def test_a_timeout_is_retryable(notification: MakeNotification, context: Context) -> None:
    [error], _ = run(context, notification(), script=(Answer(delay_s=2.0),), timeout_s=0.3)
    assert isinstance(error, DeliveryError) and error.retryable
    assert "TimeoutError" in str(error)


def test_a_receiver_that_is_down_is_retryable(
    notification: MakeNotification, context: Context
) -> None:
    channel = WebhookChannel(config(f"http://127.0.0.1:{free_port()}/hook"), context)

    async def go() -> None:
        try:
            await channel.deliver(notification(), None)
        finally:
            await channel.close()

    with pytest.raises(DeliveryError) as caught:
        asyncio.run(go())
    assert caught.value.retryable
    assert "ops-hook" in str(caught.value)


def test_the_secret_is_in_no_error_and_no_log(
    notification: MakeNotification,
    context: Context,
    monkeypatch: pytest.MonkeyPatch,
    all_logs: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("RAQIB_HOOK_SECRET", SECRET)
    echo = Answer(401, f"signature does not match key {SECRET}")  # a careless receiver
    results, _ = run(
        context,
        notification(),
        notification(),
        script=(echo, Answer(500, SECRET)),
        secret_env="RAQIB_HOOK_SECRET",
    )
    errors = [e for e in results if isinstance(e, DeliveryError)]
    assert len(errors) == 2
    assert_hidden(SECRET, all_logs, *errors)
