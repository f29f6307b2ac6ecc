"""Telegram channel: one Bot API message per story, edited as the story goes on.

The page is ``sendMessage`` (HTML from :func:`~alerts.channels.render.telegram_html`, no
link previews); an update or the resolution is ``editMessageText`` of that message (the
reference is ``{"message_id": ...}``). If the message is gone, a new one is sent; if the
text did not change (a retried edit that had landed), the edit counts as done.

The bot token (from ``secret_env``) is part of every request's path, so no message or
log line here quotes a URL, and every error is scrubbed of the token. ``api_base`` lets a
test server stand in for https://api.telegram.org.

Telegram takes 4,096 characters a message: :func:`fit` shows less evidence first, then
drops whole lines from the end (each line of ``telegram_html`` closes its own tags).

>>> fit_lines(["<b>a</b>", "b", "c"], limit=11)
'<b>a</b>\\n…'
"""

from __future__ import annotations

import html
import json
import logging
from typing import Annotated, Any, Literal

from pydantic import Field, HttpUrl, StringConstraints, model_validator

from alerts.channels import render
from alerts.channels.base import ChannelConfig, Context, DeliveryError, Ref
from alerts.channels.http import Poster, Reply, retryable_status
from raqib.notifications import Notification

log = logging.getLogger(__name__)

MESSAGE_CHARS = 4096
"""Telegram's limit on a message's text."""
CUT = "…"
"""The last line of a message that was cut."""
NOT_FOUND = "message to edit not found"
NOT_MODIFIED = "message is not modified"

ChatName = Annotated[str, StringConstraints(pattern=r"^@[A-Za-z][A-Za-z0-9_]{3,}$")]


def length(text: str) -> int:
    """Characters as Telegram counts them (UTF-16 code units; tags counted too, to be safe)."""
    return len(text.encode("utf-16-le")) // 2


def fit_lines(lines: list[str], limit: int = MESSAGE_CHARS) -> str:
    """The first whole lines that fit under ``limit`` with a last line saying it was cut."""
    kept: list[str] = []
    total = length(CUT)
    for line in lines:
        total += length(line) + 1
        if total > limit:
            break
        kept.append(line)
    return "\n".join([*kept, CUT])


def fit(n: Notification, limit: int = MESSAGE_CHARS) -> str:
    """``telegram_html(n)`` under ``limit``, tags never broken: less evidence, then fewer
    lines, and if the headline alone is too long, plain text cut short."""
    shown = min(len(n.evidence), render.TOP_EVIDENCE)
    for k in range(shown, -1, -1):
        text = render.telegram_html(n.model_copy(update={"evidence": n.evidence[:k]}))
        if length(text) <= limit:
            return text
    lines = text.split("\n")
    if length(lines[0]) + 1 + length(CUT) <= limit:
        return fit_lines(lines, limit)
    plain = render.text(n)[:limit]
    while length(html.escape(plain)) > limit - length(CUT):
        over = length(html.escape(plain)) - (limit - length(CUT))
        plain = plain[: len(plain) - max(1, over // 6)]  # an escape is at most 6 characters
    return html.escape(plain) + CUT


class TelegramConfig(ChannelConfig):
    """``type: telegram``: the chat (an id, negative for groups, or ``@channelname``) and
    ``secret_env``, the variable holding the bot token.

    >>> TelegramConfig(name="duty-tg", type="telegram", secret_env="RAQIB_TELEGRAM_TOKEN",
    ...     chat_id=-1001234567890).chat_id
    -1001234567890
    """

    type: Literal["telegram"]
    chat_id: int | ChatName
    api_base: HttpUrl = Field(HttpUrl("https://api.telegram.org"), description="Bot API base URL")

    @model_validator(mode="after")
    def _has_token(self) -> TelegramConfig:
        if self.secret_env is None:
            raise ValueError("secret_env must name the variable that holds the bot token")
        return self


class TelegramChannel:
    """Sends a story's page to a chat and edits it on update and resolution."""

    def __init__(self, config: TelegramConfig, context: Context) -> None:
        self.name = config.name
        self.config = config
        self.context = context
        secret = config.secret()
        assert secret is not None  # the config requires secret_env
        token = secret.get_secret_value()
        self._base = f"{str(config.api_base).rstrip('/')}/bot{token}"
        self._poster = Poster(config.name, config.timeout_s, secrets=[token])

    async def deliver(self, notification: Notification, ref: Ref | None) -> Ref | None:
        """Edit ``ref``'s message if there is one (a new message if it is gone), else send."""
        content = {
            "chat_id": self.config.chat_id,
            "text": fit(notification),
            "parse_mode": "HTML",
            "disable_web_page_preview": True,
        }
        message_id = (ref or {}).get("message_id", "")
        if message_id.isdigit():
            edit = {**content, "message_id": int(message_id)}
            reply, answer = await self._call("editMessageText", edit)
            description = str(answer.get("description", "")).lower()
            if answer.get("ok") or NOT_MODIFIED in description:
                return {"message_id": message_id}
            if NOT_FOUND not in description:
                raise self._refused("editMessageText", reply, answer)
            log.info(
                "telegram %s: story %s: message %s is gone; sending a new one",
                self.name,
                notification.story_id,
                message_id,
            )
        reply, answer = await self._call("sendMessage", content)
        result = answer.get("result")
        if not answer.get("ok") or not isinstance(result, dict) or "message_id" not in result:
            raise self._refused("sendMessage", reply, answer)
        return {"message_id": str(result["message_id"])}

    async def _call(self, method: str, payload: dict[str, Any]) -> tuple[Reply, dict[str, Any]]:
        """One Bot API call: the reply and its JSON object ({} when it has none)."""
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8"}
        reply = await self._poster.post(
            f"{self._base}/{method}", body, headers, f"telegram {self.name}: {method}"
        )
        answer = reply.json()
        return reply, answer if isinstance(answer, dict) else {}

    def _refused(self, method: str, reply: Reply, answer: dict[str, Any]) -> DeliveryError:
        """What Telegram said, classified: 429 (``retry_after``), 5xx retryable."""
        what = f"telegram {self.name}: {method}"
        if not answer:
            return self._poster.failure(reply, what)
        code = answer.get("error_code")
        status = code if isinstance(code, int) else reply.status
        message = f"{what}: {status} {answer.get('description', '')}".rstrip()
        parameters = answer.get("parameters")
        retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
        if retry_after is not None:
            message += f" (retry after {retry_after} s)"
        retryable = retryable_status(status) or retry_after is not None
        return DeliveryError(self._poster.scrub(message), retryable=retryable)

    async def close(self) -> None:
        await self._poster.close()
