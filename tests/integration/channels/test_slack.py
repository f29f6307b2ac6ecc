"""The Slack channel against a real HTTP server on 127.0.0.1 standing in for an incoming
webhook and for the Web API: Block Kit shape, edits, and error classification."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from alerts.channels.base import Context, DeliveryError, Ref
from alerts.channels.slack import SECTION_CHARS, SlackChannel, SlackConfig
from raqib.notifications import Notification
from tests.integration.channels.recording import Answer, Recorded, RecordingServer, assert_hidden

HOOK_PATH = "/services/T0RAQIB01/B0RAQIB02/q8ZkX3vYwT5uNcR1sLp0mA7e"
TOKEN = "xoxb-1111111111-2222222222-n0tAr3alT0kenAtA1l"
MakeNotification = Callable[..., Notification]
Outcome = Ref | DeliveryError | None


async def deliver_all(
    channel: SlackChannel, steps: list[tuple[Notification, Ref | None]]
) -> list[Outcome]:
    """Deliver each (notification, ref) in turn; a ref of None means "the last result"."""
    results: list[Outcome] = []
    last: Ref | None = None
    try:
        for n, ref in steps:
            try:
                last = await channel.deliver(n, ref if ref is not None else last)
                results.append(last)
            except DeliveryError as exc:
                results.append(exc)
    finally:
        await channel.close()
    return results


def via_webhook(
    context: Context,
    monkeypatch: pytest.MonkeyPatch,
    *notifications: Notification,
    script: Any = (),
) -> tuple[list[Outcome], list[Recorded]]:
    async def go() -> tuple[list[Outcome], list[Recorded]]:
        async with RecordingServer(*script) as server:
            monkeypatch.setenv("RAQIB_SLACK_WEBHOOK", server.url + HOOK_PATH)
            config = SlackConfig(name="duty-slack", type="slack", secret_env="RAQIB_SLACK_WEBHOOK")
            channel = SlackChannel(config, context)
            results = await deliver_all(channel, [(n, None) for n in notifications])
        return results, server.requests

    return asyncio.run(go())


def via_api(
    context: Context,
    monkeypatch: pytest.MonkeyPatch,
    steps: list[tuple[Notification, Ref | None]],
    script: Any = (),
    default: Any = None,
) -> tuple[list[Outcome], list[Recorded]]:
    monkeypatch.setenv("RAQIB_SLACK_TOKEN", TOKEN)

    async def go() -> tuple[list[Outcome], list[Recorded]]:
        async with RecordingServer(*script, default=default or FakeSlack()) as server:
            config = SlackConfig(
                name="duty-slack",
                type="slack",
                bot_token_env="RAQIB_SLACK_TOKEN",
                channel_id="C0RAQIB01",
                api_base=f"{server.url}/api",
            )
            results = await deliver_all(SlackChannel(config, context), steps)
        return results, server.requests

    return asyncio.run(go())


class FakeSlack:
    """chat.postMessage numbers messages; chat.update edits one that exists."""

    def __init__(self) -> None:
        self.posted: list[str] = []

    def __call__(self, request: Recorded) -> Answer:
        payload = request.json()
        if request.path == "/api/chat.postMessage":
            ts = f"1733789400.{len(self.posted) + 1:06d}"
            self.posted.append(ts)
            return Answer(body={"ok": True, "channel": "C0RAQIB01", "ts": ts})
        if request.path == "/api/chat.update":
            if payload["ts"] not in self.posted:
                return Answer(body={"ok": False, "error": "message_not_found"})
            return Answer(body={"ok": True, "channel": payload["channel"], "ts": payload["ts"]})
        return Answer(404, {"ok": False, "error": "unknown_method"})


def story(notification: MakeNotification) -> list[Notification]:
    return [
        notification(channel="duty-slack"),
        notification(channel="duty-slack", kind="update", seq=2),
        notification(channel="duty-slack", kind="resolved", seq=3, status="resolved"),
    ]


def test_incoming_webhook_posts_block_kit_in_arabic(
    notification: MakeNotification, context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = notification(channel="duty-slack")
    [result], [request] = via_webhook(context, monkeypatch, page)

    assert result is None  # an incoming webhook cannot edit
    assert (request.method, request.path) == ("POST", HOOK_PATH)
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert "أمير حاتمي".encode() in request.body  # UTF-8 as written
    message = request.json()
    assert message["text"] == page.headline
    header, *sections, context_block = message["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": page.headline}}
    assert sections and all(s["type"] == "section" for s in sections)
    body = "\n".join(s["text"]["text"] for s in sections)
    assert all(s["text"]["type"] == "mrkdwn" for s in sections)
    assert "*أمير حاتمي*" in body  # the name highlighted in the snippet
    assert "<https://example.org/news/0|وزير الدفاع الإيراني يصل إلى دمشق في زيارة رسمية>" in body
    assert "خبر واحد: أمير حاتمي في دمشق" in body
    assert context_block["type"] == "context"
    elements = " ".join(e["text"] for e in context_block["elements"])
    assert "عكاظ, تسنيم, وكالة ثقة" in elements
    assert "2024-12-10 00:01 → 2024-12-10 00:10 UTC" in elements


def test_incoming_webhook_sends_updates_as_new_marked_messages(
    notification: MakeNotification, context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    results, requests = via_webhook(context, monkeypatch, *story(notification))
    assert results == [None, None, None]
    headers = [r.json()["blocks"][0]["text"]["text"] for r in requests]
    assert headers[0].startswith("WARNING: ")
    assert headers[1].startswith("[update] ")
    assert headers[2].startswith("[resolved] ")


def test_a_long_story_is_cut_into_sections_slack_accepts(
    notification: MakeNotification, context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = notification(channel="duty-slack")
    many = notification(channel="duty-slack", subjects=page.subjects * 200)
    _, [request] = via_webhook(context, monkeypatch, many)
    blocks = request.json()["blocks"]
    sections = [b for b in blocks if b["type"] == "section"]
    assert len(sections) > 1 and len(blocks) <= 50
    assert all(len(s["text"]["text"]) <= SECTION_CHARS for s in sections)
    assert len(blocks[0]["text"]["text"]) <= 150


@pytest.mark.parametrize(("status", "retryable"), [(500, True), (429, True), (400, False)])
def test_incoming_webhook_errors_are_classified_and_hide_the_url(
    notification: MakeNotification,
    context: Context,
    monkeypatch: pytest.MonkeyPatch,
    all_logs: pytest.LogCaptureFixture,
    status: int,
    retryable: bool,
) -> None:
    answer = Answer(status, "invalid_blocks", headers={"Retry-After": "1"})
    [error], _ = via_webhook(context, monkeypatch, notification(), script=(answer,))
    assert isinstance(error, DeliveryError)
    assert error.retryable is retryable
    assert f"HTTP {status}" in str(error) and "invalid_blocks" in str(error)
    assert_hidden(HOOK_PATH, all_logs, error)
    assert_hidden("q8ZkX3vYwT5uNcR1sLp0mA7e", all_logs, error)


def test_web_api_posts_the_page_then_edits_it(
    notification: MakeNotification, context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    page, update, resolved = story(notification)
    results, requests = via_api(
        context, monkeypatch, [(page, None), (update, None), (resolved, None)]
    )

    ref = {"ts": "1733789400.000001", "channel": "C0RAQIB01"}
    assert results == [ref, ref, ref]
    assert [r.path for r in requests] == [
        "/api/chat.postMessage",
        "/api/chat.update",
        "/api/chat.update",
    ]
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in requests)
    posted, edited, closed = (r.json() for r in requests)
    assert posted["channel"] == "C0RAQIB01" and "ts" not in posted
    assert posted["blocks"][0]["text"]["text"] == page.headline
    assert (edited["channel"], edited["ts"]) == ("C0RAQIB01", "1733789400.000001")
    assert edited["blocks"][0]["text"]["text"].startswith("[update] ")
    assert closed["text"].startswith("[resolved] ")
    assert "أمير حاتمي".encode() in requests[1].body


def test_web_api_posts_anew_when_the_message_is_gone(
    notification: MakeNotification, context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, update, _ = story(notification)
    lost = {"ts": "1700000000.000999", "channel": "C0RAQIB01"}
    results, requests = via_api(context, monkeypatch, [(update, lost)])
    assert results == [{"ts": "1733789400.000001", "channel": "C0RAQIB01"}]
    assert [r.path for r in requests] == ["/api/chat.update", "/api/chat.postMessage"]


@pytest.mark.parametrize(
    ("answer", "retryable"),
    [
        (Answer(body={"ok": False, "error": "ratelimited"}), True),
        (Answer(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "3"}), True),
        (Answer(body={"ok": False, "error": "internal_error"}), True),
        (Answer(503, "upstream down"), True),
        (Answer(body={"ok": False, "error": "channel_not_found"}), False),
        (Answer(body={"ok": False, "error": "invalid_auth"}), False),
        (Answer(body="<html>captive portal</html>"), False),
    ],
)
def test_web_api_errors_are_classified(
    notification: MakeNotification,
    context: Context,
    monkeypatch: pytest.MonkeyPatch,
    all_logs: pytest.LogCaptureFixture,
    answer: Answer,
    retryable: bool,
) -> None:
    [error], _ = via_api(context, monkeypatch, [(notification(), None)], script=(answer,))
    assert isinstance(error, DeliveryError)
    assert error.retryable is retryable
    assert "duty-slack" in str(error) and "chat.postMessage" in str(error)
    assert_hidden(TOKEN, all_logs, error)


def test_web_api_token_is_in_no_error_and_no_log(
    notification: MakeNotification,
    context: Context,
    monkeypatch: pytest.MonkeyPatch,
    all_logs: pytest.LogCaptureFixture,
) -> None:
    _, update, _ = story(notification)
    echo = Answer(401, {"ok": False, "error": f"invalid_auth for {TOKEN}"})
    results, _ = via_api(
        context,
        monkeypatch,
        [(notification(), None), (update, {"ts": "1.2", "channel": "C0RAQIB01"})],
        script=(echo,),
    )
    assert isinstance(results[0], DeliveryError)
    assert results[1] == {"ts": "1733789400.000001", "channel": "C0RAQIB01"}  # gone: posted
    assert_hidden(TOKEN, all_logs, results[0])
    assert any("is gone" in r.getMessage() for r in all_logs.records)
