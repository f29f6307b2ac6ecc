"""HTTP delivery shared by the webhook, Slack and Telegram channels.

One lazily opened aiohttp session per channel, a timeout per request, and one reading of
what an answer means: 2xx is taken; 408, 425, 429, 5xx, timeouts and connection errors
are worth trying again (:class:`DeliveryError` ``retryable=True``, with the server's
``Retry-After`` in the message); any other status, redirects included, and an untrusted
TLS certificate will not change.

Error messages never quote a request URL and are scrubbed of every secret the channel
holds: Slack's incoming-webhook URL *is* its secret and Telegram puts the bot token in
the path, and aiohttp's own errors quote the URL (``Connection timeout to host
https://api.telegram.org/bot<token>/sendMessage``). That is why a client error is
re-raised ``from None``: a chained cause would carry the URL into every logged traceback.

>>> Poster("tg", 5.0, secrets=["123:ABC"]).scrub("timeout to host /bot123:ABC/sendMessage")
'timeout to host /bot***/sendMessage'
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDict
from pydantic import SecretStr

from alerts.channels.base import DeliveryError, MissingSecret
from raqib.redaction import MASK, redact

RETRYABLE_STATUSES = frozenset({408, 425, 429})
"""Client errors that say "later" rather than "never" (plus every 5xx)."""
SNIPPET_CHARS = 200
"""How much of an error answer's body goes into the error message."""


def env_secret(channel: str, variable: str) -> SecretStr:
    """The value of ``variable``, or MissingSecret naming it (as ChannelConfig.secret)."""
    value = os.environ.get(variable)
    if not value:
        raise MissingSecret(f"channel {channel}: environment variable {variable} is not set")
    return SecretStr(value)


def retryable_status(status: int) -> bool:
    """Whether an HTTP status may turn into a success if the same request is sent later."""
    return status in RETRYABLE_STATUSES or status >= 500


@dataclass(frozen=True)
class Reply:
    """What a server answered: status, headers and the whole body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def snippet(self) -> str:
        """The start of the body on one line, for an error message."""
        text = self.body[: SNIPPET_CHARS * 4].decode("utf-8", errors="replace")
        return " ".join(text.split())[:SNIPPET_CHARS]


class Poster:
    """POSTs bytes with a timeout and turns failures into scrubbed DeliveryErrors.

    >>> poster = Poster("ops-hook", timeout_s=5.0, secrets=["s3cret"])
    >>> poster.scrub("bad key s3cret")
    'bad key ***'
    """

    def __init__(self, channel: str, timeout_s: float, secrets: Iterable[str] = ()) -> None:
        self.channel = channel
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        # longest first, so that a secret containing another is masked whole
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._session: aiohttp.ClientSession | None = None

    def scrub(self, text: object) -> str:
        """``text`` with every secret of the channel and every URL password masked."""
        out = str(text)
        for secret in self._secrets:
            out = out.replace(secret, MASK)
        return redact(out)

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], what: str) -> Reply:
        """POST ``body``; a timeout or connection error is a retryable DeliveryError
        whose message says ``what`` was being done (never the URL)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        try:
            async with self._session.post(
                url, data=body, headers=dict(headers), allow_redirects=False
            ) as response:
                return Reply(response.status, CIMultiDict(response.headers), await response.read())
        except aiohttp.ClientConnectorCertificateError as exc:
            # a certificate the system does not trust stays untrusted: no retry
            raise DeliveryError(self.scrub(f"{what}: {exc}"), retryable=False) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
            # from None: aiohttp's message and its cause quote the URL, secret and all
            raise DeliveryError(self.scrub(f"{what}: {reason}"), retryable=True) from None

    def failure(self, reply: Reply, what: str) -> DeliveryError:
        """The DeliveryError for a non-2xx answer, classified by its status."""
        message = f"{what}: HTTP {reply.status}"
        retry_after = reply.headers.get("Retry-After")
        if retry_after:
            message += f" (Retry-After: {retry_after[:40]})"
        snippet = reply.snippet()
        if snippet:
            message += f": {snippet}"
        return DeliveryError(self.scrub(message), retryable=retryable_status(reply.status))

    def check(self, reply: Reply, what: str) -> Reply:
        """``reply`` when it is a 2xx; otherwise raise its DeliveryError."""
        if not reply.ok:
            raise self.failure(reply, what)
        return reply

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
