"""The Telegram channel against a real HTTP server on 127.0.0.1 standing in for the Bot
API: sendMessage, then editMessageText of the same message; errors; the token hidden."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from alerts.channels.base import Context, DeliveryError, Ref
from alerts.channels.telegram import TelegramChannel, TelegramConfig
from raqib.embedded import free_port
from raqib.notifications import Notification
from tests.integration.channels.recording import Answer, Recorded, RecordingServer, assert_hidden

TOKEN = "7312459876:AAHn0tAr3alT0kenF0rTh3T3stsXyZ12"
CHAT = -1001234567890
MakeNotification = Callable[..., Notification]
Outcome = Ref | DeliveryError | None


class FakeBotApi:
    """sendMessage numbers messages from 42; editMessageText edits one that exists."""

    def __init__(self) -> None:
        self.messages: dict[int, str] = {}

    def __call__(self, request: Recorded) -> Answer:
        if not request.path.startswith(f"/bot{TOKEN}/"):
            return Answer(404, {"ok": False, "error_code": 404, "description": "Not Found"})
        payload = request.json()
        method = request.path.rsplit("/", 1)[1]
        if method == "sendMessage":
            message_id = 42 + len(self.messages)
            self.messages[message_id] = payload["text"]
            return Answer(body={"ok": True, "result": {"message_id": message_id}})
        if method == "editMessageText":
            if payload["message_id"] not in self.messages:
                return bad_request("message to edit not found")
            if self.messages[payload["message_id"]] == payload["text"]:
                return bad_request(
                    "message is not modified: specified new message content and reply "
                    "markup are exactly the same as a current content and reply markup "
                    "of the message"
                )
            self.messages[payload["message_id"]] = payload["text"]
            return Answer(body={"ok": True, "result": {"message_id": payload["message_id"]}})
        return Answer(404, {"ok": False, "error_code": 404, "description": "Not Found"})


def bad_request(description: str) -> Answer:
    return Answer(
        400, {"ok": False, "error_code": 400, "description": f"Bad Request: {description}"}
    )


def channel_for(url: str, context: Context, **options: Any) -> TelegramChannel:
    config = TelegramConfig(
        name="duty-tg",
        type="telegram",
        secret_env="RAQIB_TELEGRAM_TOKEN",
        chat_id=CHAT,
        api_base=url,
        **options,
    )
    return TelegramChannel(config, context)


async def deliver_all(
    channel: TelegramChannel, steps: list[tuple[Notification, Ref | None]]
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


def run(
    context: Context,
    steps: list[tuple[Notification, Ref | None]],
    script: tuple[Answer, ...] = (),
    **options: Any,
) -> tuple[list[Outcome], list[Recorded]]:
    async def go() -> tuple[list[Outcome], list[Recorded]]:
        async with RecordingServer(*script, default=FakeBotApi()) as server:
            results = await deliver_all(channel_for(server.url, context, **options), steps)
        return results, server.requests

    return asyncio.run(go())


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAQIB_TELEGRAM_TOKEN", TOKEN)


def story(notification: MakeNotification) -> list[Notification]:
    return [
        notification(channel="duty-tg"),
        notification(channel="duty-tg", kind="update", seq=2),
        notification(channel="duty-tg", kind="resolved", seq=3, status="resolved"),
    ]


def test_page_is_sent_then_update_and_resolution_edit_it(
    notification: MakeNotification, context: Context
) -> None:
    page, update, resolved = story(notification)
    results, requests = run(context, [(page, None), (update, None), (resolved, None)])

    assert results == [{"message_id": "42"}] * 3
    assert [r.path for r in requests] == [
        f"/bot{TOKEN}/sendMessage",
        f"/bot{TOKEN}/editMessageText",
        f"/bot{TOKEN}/editMessageText",
    ]
    sent, edited, closed = (r.json() for r in requests)
    assert requests[0].headers["Content-Type"] == "application/json; charset=utf-8"
    assert "أمير حاتمي".encode() in requests[0].body  # UTF-8 as written
    assert sent["chat_id"] == CHAT and "message_id" not in sent
    assert sent["parse_mode"] == "HTML" and sent["disable_web_page_preview"] is True
    assert sent["text"].startswith(f"<b>{page.headline}</b>")
    assert "<b>أمير حاتمي</b>" in sent["text"]
    assert '<a href="https://example.org/news/0">' in sent["text"]
    assert (edited["chat_id"], edited["message_id"]) == (CHAT, 42)
    assert edited["text"].startswith("<b>[update] WARNING: ")
    assert edited["parse_mode"] == "HTML" and edited["disable_web_page_preview"] is True
    assert (closed["message_id"], closed["text"][:14]) == (42, "<b>[resolved] ")


def test_an_edit_of_a_gone_message_sends_a_new_one(
    notification: MakeNotification, context: Context, all_logs: pytest.LogCaptureFixture
) -> None:
    _, update, _ = story(notification)
    results, requests = run(context, [(update, {"message_id": "7"})])
    assert results == [{"message_id": "42"}]
    assert [r.path.rsplit("/", 1)[1] for r in requests] == ["editMessageText", "sendMessage"]
    assert any("is gone" in r.getMessage() for r in all_logs.records)


def test_a_repeated_edit_that_had_landed_counts_as_done(
    notification: MakeNotification, context: Context
) -> None:
    page, update, _ = story(notification)
    results, requests = run(context, [(page, None), (update, None), (update, None)])
    assert results == [{"message_id": "42"}] * 3
    assert len(requests) == 3  # the third: 400 "message is not modified", taken as done


@pytest.mark.parametrize(
    ("answer", "retryable", "said"),
    [
        (
            Answer(
                429,
                {
                    "ok": False,
                    "error_code": 429,
                    "description": "Too Many Requests: retry after 7",
                    "parameters": {"retry_after": 7},
                },
            ),
            True,
            "retry after 7 s",
        ),
        (Answer(500, {"ok": False, "error_code": 500, "description": "Internal"}), True, "500"),
        (Answer(502, "<html>Bad Gateway</html>"), True, "HTTP 502"),
        (bad_request("chat not found"), False, "chat not found"),
        (
            Answer(401, {"ok": False, "error_code": 401, "description": "Unauthorized"}),
            False,
            "401",
        ),
        (
            Answer(403, {"ok": False, "error_code": 403, "description": "bot was kicked"}),
            False,
            "kicked",
        ),
    ],
)
def test_errors_are_classified(
    notification: MakeNotification,
    context: Context,
    all_logs: pytest.LogCaptureFixture,
    answer: Answer,
    retryable: bool,
    said: str,
) -> None:
    [error], _ = run(context, [(notification(), None)], script=(answer,))
    assert isinstance(error, DeliveryError)
    assert error.retryable is retryable
    assert said in str(error) and "duty-tg" in str(error) and "sendMessage" in str(error)
    assert_hidden(TOKEN, all_logs, error)


def test_an_edit_that_fails_otherwise_is_an_error(
    notification: MakeNotification, context: Context
) -> None:
    _, update, _ = story(notification)
    limited = Answer(
        429,
        {"ok": False, "error_code": 429, "parameters": {"retry_after": 3}, "description": "x"},
    )
    [error], requests = run(context, [(update, {"message_id": "42"})], script=(limited,))
    assert isinstance(error, DeliveryError) and error.retryable
    assert "editMessageText" in str(error)
    assert len(requests) == 1  # not sent anew: the message is there


def test_a_long_story_fits_in_one_message(notification: MakeNotification, context: Context) -> None:
    page = notification(channel="duty-tg")
    many = notification(channel="duty-tg", subjects=page.subjects * 60)
    _, [request] = run(context, [(many, None)])
    text = request.json()["text"]
    assert len(text.encode("utf-16-le")) // 2 <= 4096
    assert text.startswith(f"<b>{many.headline}</b>")


def test_the_token_is_in_no_error_and_no_log(
    notification: MakeNotification,
    context: Context,
    all_logs: pytest.LogCaptureFixture,
    stalled_port: int,
) -> None:
    echo = Answer(404, {"ok": False, "error_code": 404, "description": f"no bot{TOKEN}"})

    async def go() -> list[Outcome]:
        outcomes: list[Outcome] = []
        async with RecordingServer(echo, Answer(delay_s=2.0)) as server:
            channel = channel_for(server.url, context, timeout_s=0.3)
            outcomes += await deliver_all(channel, [(notification(), None)] * 2)
        down = channel_for(f"http://127.0.0.1:{free_port()}", context)
        outcomes += await deliver_all(down, [(notification(), None)])
        stalled = channel_for(f"http://127.0.0.1:{stalled_port}", context, timeout_s=5.0)
        # a connect timeout: aiohttp's own message quotes the URL, token and all
        stalled._poster.timeout = aiohttp.ClientTimeout(total=5.0, connect=0.3)
        outcomes += await deliver_all(stalled, [(notification(), None)])
        return outcomes

    outcomes = asyncio.run(go())
    assert all(isinstance(e, DeliveryError) for e in outcomes)
    errors = [e for e in outcomes if isinstance(e, DeliveryError)]
    assert [e.retryable for e in errors] == [False, True, True, True]
    assert "ConnectionTimeoutError" in str(errors[3])
    assert_hidden(TOKEN, all_logs, *errors)
    assert_hidden(TOKEN.split(":")[1], all_logs, *errors)
