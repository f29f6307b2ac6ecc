"""Webhook channel: the notification as JSON, POSTed and signed, into the operators' tools.

The body is :class:`~raqib.notifications.Notification` as JSON (UTF-8, Arabic as
written). Headers let a receiver act without parsing it:

- ``X-Raqib-Signature: sha256=<hex>``: HMAC-SHA256 of the exact body bytes with the
  secret from ``secret_env`` (no header when the channel has no secret);
- ``Idempotency-Key``: the notification id, stable across retries, to dedupe on;
- ``X-Raqib-Story`` and ``X-Raqib-Kind`` (``page``, ``update``, ``resolved``).

A webhook cannot edit what it sent: an update or a resolution is a new POST whose
``kind`` says so. A receiver checks the signature like this:

>>> import hashlib, hmac
>>> body = b'{"kind":"page"}'
>>> sign(b"s3cret", body) == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
True
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Literal

from pydantic import Field, HttpUrl, field_validator

from alerts.channels.base import ChannelConfig, Context, Ref
from alerts.channels.http import Poster
from raqib.notifications import Notification

_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an RFC 9110 token
_HEADER_VALUE = re.compile(r"^[\x20-\x7e\t]*$")  # visible ASCII: no CR/LF injection
INPUT_PATTERNS = (
    _HEADER_NAME,
    _HEADER_VALUE,
)
"""Every pattern this module applies to text (timed by test_regex_linear.py)."""
_OWN_HEADERS = frozenset({"content-type", "content-length", "host", "transfer-encoding"})


def sign(key: bytes, body: bytes) -> str:
    """The ``X-Raqib-Signature`` value of ``body``."""
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


class WebhookConfig(ChannelConfig):
    """``type: webhook``: where to POST, and static headers to add (no secrets: those
    come from ``secret_env``, the HMAC key).

    >>> WebhookConfig.model_validate({"name": "ops-hook", "type": "webhook",
    ...     "url": "http://127.0.0.1:9000/hook", "secret_env": "RAQIB_HOOK_SECRET"}).url
    HttpUrl('http://127.0.0.1:9000/hook')
    """

    type: Literal["webhook"]
    url: HttpUrl
    headers: dict[str, str] = Field(
        default_factory=dict, description="static extra headers (not Content-*, X-Raqib-*)"
    )
    max_in_flight: int = Field(
        4,
        ge=1,
        le=32,
        description="notifications of different stories POSTed at once (a story's own "
        "notifications always go one after another, in order)",
    )

    @field_validator("headers")
    @classmethod
    def _valid_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            lower = name.lower()
            if not _HEADER_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid header name")
            if not _HEADER_VALUE.match(value):
                raise ValueError(f"header {name}: the value must be printable ASCII")
            if lower in _OWN_HEADERS or lower == "idempotency-key" or lower.startswith("x-raqib-"):
                raise ValueError(f"header {name} is set by the channel itself")
        return headers


class WebhookChannel:
    """POSTs each notification as signed JSON; never edits (returns no reference).

    >>> from raqib.settings import Settings
    >>> config = WebhookConfig(name="ops-hook", type="webhook", url="http://127.0.0.1:9000/hook")
    >>> WebhookChannel(config, Context(settings=Settings())).name
    'ops-hook'
    """

    def __init__(self, config: WebhookConfig, context: Context) -> None:
        self.name = config.name
        self.config = config
        self.context = context
        self.max_in_flight = config.max_in_flight
        """How many delivery tasks the router runs for this channel (for other channels,
        which have no such attribute: one)."""
        secret = config.secret()
        self._key = secret.get_secret_value().encode("utf-8") if secret else None
        self._url = str(config.url)
        # the host only: a path or query may carry a token the operator put there
        url = config.url
        self._what = f"webhook {config.name}: POST to {url.scheme}://{url.host}:{url.port}"
        self._poster = Poster(
            config.name, config.timeout_s, secrets=[secret.get_secret_value()] if secret else []
        )

    def headers(self, notification: Notification, body: bytes) -> dict[str, str]:
        """The request headers of ``body``, signed when the channel has a secret."""
        headers = {
            **self.config.headers,
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": notification.notification_id,
            "X-Raqib-Story": notification.story_id,
            "X-Raqib-Kind": notification.kind,
        }
        if self._key is not None:
            headers["X-Raqib-Signature"] = sign(self._key, body)
        return headers

    async def deliver(self, notification: Notification, ref: Ref | None) -> Ref | None:
        """POST the notification; a non-2xx answer raises a classified DeliveryError."""
        body = notification.model_dump_json().encode("utf-8")
        reply = await self._poster.post(
            self._url, body, self.headers(notification, body), self._what
        )
        self._poster.check(reply, self._what)
        return None

    async def close(self) -> None:
        await self._poster.close()
