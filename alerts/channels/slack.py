"""Slack channel: a story as a Block Kit message, edited in place when Slack allows it.

Two ways in, one per channel instance (the config says which):

- **incoming webhook** (``secret_env``: the variable that holds the webhook URL — the URL
  *is* the secret, so it lives where every other secret does and never in the file).
  Such a webhook cannot edit: an update or a resolution is a new message, its headline
  marked ``[update]`` or ``[resolved]``.
- **Web API** (``bot_token_env`` and ``channel_id``): the page is ``chat.postMessage``
  and later notifications ``chat.update`` it, so the channel keeps one message per story.
  If that message is gone, a new one is posted. ``api_base`` lets a test server stand in.

The message: a header (the headline), sections of :func:`~alerts.channels.render.mrkdwn`
cut under Slack's 3,000 characters, a context line with outlets and times, and the
headline as fallback ``text`` for notifications.

>>> split_sections("a\\nb\\nc", limit=3)
['a\\nb', 'c']
"""

from __future__ import annotations

import json
import logging
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, HttpUrl, model_validator

from alerts.channels import render
from alerts.channels.base import ChannelConfig, ChannelError, Context, DeliveryError, Ref
from alerts.channels.http import Poster, env_secret
from raqib.notifications import Notification

log = logging.getLogger(__name__)

HEADER_CHARS = 150
"""Slack's limit on a header block's text."""
SECTION_CHARS = 3000
"""Slack's limit on a section block's text."""
MAX_SECTIONS = 48
"""50 blocks a message, less the header and the context."""
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
"""Web API ``error`` codes that Slack documents as passing (the rest will not change)."""
GONE_ERRORS = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})
"""chat.update errors after which the story gets a new message instead."""
_ENV = r"^[A-Z_][A-Z0-9_]*$"

Block = dict[str, Any]


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def split_sections(text: str, limit: int = SECTION_CHARS) -> list[str]:
    """``text`` in chunks of whole lines under ``limit`` (a longer line is cut hard)."""
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:limit])
            line = line[limit:]
        if not current:
            current = line
        elif len(current) + 1 + len(line) <= limit:
            current += "\n" + line
        else:
            chunks.append(current)
            current = line
    if current:
        chunks.append(current)
    return chunks


def blocks(n: Notification) -> list[Block]:
    """Header, mrkdwn sections and a context line of outlets and times."""
    headline = n.headline
    body = render.mrkdwn(n).split("\n")
    if len(headline) <= HEADER_CHARS:
        body = body[1:]  # its first line is the headline, which the header shows whole
    sections = split_sections("\n".join(body))
    if len(sections) > MAX_SECTIONS:
        sections = sections[: MAX_SECTIONS - 1] + ["_… cut: the message is too long for Slack_"]
    times = f"{n.first_seen:%Y-%m-%d %H:%M} → {n.last_seen:%Y-%m-%d %H:%M} UTC"
    context = [
        {"type": "mrkdwn", "text": _cut(f"*Outlets:* {_escape(', '.join(n.outlets))}", 2000)},
        {"type": "mrkdwn", "text": times},
        {"type": "mrkdwn", "text": f"{n.kind} #{n.seq} · {n.status} · story {_escape(n.story_id)}"},
    ]
    return [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(headline, HEADER_CHARS)}},
        *({"type": "section", "text": {"type": "mrkdwn", "text": s}} for s in sections),
        {"type": "context", "elements": context},
    ]


def message(n: Notification) -> dict[str, Any]:
    """The Block Kit message with the headline as fallback text."""
    return {"text": n.headline, "blocks": blocks(n)}


class SlackConfig(ChannelConfig):
    """``type: slack``: an incoming webhook (``secret_env``) or the Web API
    (``bot_token_env`` and ``channel_id``), not both.

    >>> SlackConfig(name="duty", type="slack", secret_env="RAQIB_SLACK_WEBHOOK").web_api
    False
    >>> SlackConfig(name="duty", type="slack", bot_token_env="RAQIB_SLACK_TOKEN",
    ...     channel_id="C0123ABCD").web_api
    True
    """

    type: Literal["slack"]
    bot_token_env: str | None = Field(
        None, pattern=_ENV, description="environment variable of the bot token (Web API)"
    )
    channel_id: str | None = Field(
        None, pattern=r"^[#@]?[\w.-]+$", description="channel to post to (Web API)"
    )
    api_base: HttpUrl = Field(HttpUrl("https://slack.com/api"), description="Web API base URL")

    @model_validator(mode="after")
    def _one_way_in(self) -> SlackConfig:
        api = self.bot_token_env is not None or self.channel_id is not None
        if api and (self.bot_token_env is None or self.channel_id is None):
            raise ValueError("the Web API needs both bot_token_env and channel_id")
        if api == (self.secret_env is not None):
            raise ValueError(
                "give either secret_env (the variable holding the incoming webhook URL) "
                "or bot_token_env and channel_id (the Web API), not both"
            )
        return self

    @property
    def web_api(self) -> bool:
        return self.bot_token_env is not None


class SlackChannel:
    """Posts a story to Slack; through the Web API, updates edit its message.

    Returns ``{"ts": ..., "channel": ...}`` from the Web API (the message to edit next
    time) and None from an incoming webhook (which cannot edit).
    """

    def __init__(self, config: SlackConfig, context: Context) -> None:
        self.name = config.name
        self.config = config
        self.context = context
        if config.bot_token_env is not None:
            token = env_secret(config.name, config.bot_token_env).get_secret_value()
            self._headers = {"Authorization": f"Bearer {token}"}
            self._url = str(config.api_base).rstrip("/")
            secrets = [token]
        else:
            secret = config.secret()
            assert secret is not None  # the config requires secret_env without the Web API
            self._headers = {}
            self._url = secret.get_secret_value()
            parts = urlsplit(self._url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ChannelError(
                    f"channel {config.name}: {config.secret_env} does not hold an http(s) URL"
                )
            # the path too: aiohttp may quote the URL spelled its own way
            secrets = [self._url, parts.path] if len(parts.path) > 8 else [self._url]
        self._poster = Poster(config.name, config.timeout_s, secrets=secrets)

    async def deliver(self, notification: Notification, ref: Ref | None) -> Ref | None:
        """Page, update or resolve: edit ``ref``'s message when the Web API allows."""
        payload = message(notification)
        if not self.config.web_api:
            what = f"slack {self.name}: incoming webhook"
            reply = await self._poster.post(self._url, _json(payload), self._json_headers(), what)
            self._poster.check(reply, what)
            return None
        if ref and ref.get("ts") and ref.get("channel"):
            edit = {**payload, "channel": ref["channel"], "ts": ref["ts"]}
            answer = await self._call("chat.update", edit)
            if answer.get("ok"):
                return {"ts": ref["ts"], "channel": ref["channel"]}
            if answer.get("error") not in GONE_ERRORS:
                raise self._refused("chat.update", answer)
            log.info(
                "slack %s: story %s: message %s is gone (%s); posting a new one",
                self.name,
                notification.story_id,
                ref["ts"],
                answer.get("error"),
            )
        post = {**payload, "channel": self.config.channel_id}
        answer = await self._call("chat.postMessage", post)
        if not answer.get("ok"):
            raise self._refused("chat.postMessage", answer)
        return {"ts": str(answer.get("ts", "")), "channel": str(answer.get("channel", ""))}

    def _json_headers(self) -> dict[str, str]:
        return {**self._headers, "Content-Type": "application/json; charset=utf-8"}

    async def _call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        """One Web API call: its JSON answer, ``ok`` or not; HTTP failures raise."""
        what = f"slack {self.name}: {method}"
        reply = await self._poster.post(
            f"{self._url}/{method}", _json(payload), self._json_headers(), what
        )
        self._poster.check(reply, what)
        answer = reply.json()
        if not isinstance(answer, dict):
            raise DeliveryError(
                self._poster.scrub(f"{what}: HTTP {reply.status} without a JSON object"),
                retryable=False,
            )
        return answer

    def _refused(self, method: str, answer: dict[str, Any]) -> DeliveryError:
        error = str(answer.get("error", "unknown"))
        return DeliveryError(
            self._poster.scrub(f"slack {self.name}: {method}: {error}"),
            retryable=error in TRANSIENT_ERRORS,
        )

    async def close(self) -> None:
        await self._poster.close()


def _json(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")
