"""What every channel is: a config model, a ``deliver`` that may edit, typed failures.

A channel delivers a :class:`~raqib.notifications.Notification` (one story, one channel)
and returns a *reference* to what it created (a Slack ``ts``, a Telegram ``message_id``)
that the router keeps with the story, so that the next notification of the same story
can edit that message instead of paging again. A channel that cannot edit ignores the
reference and sends the update as a new message marked as such.

Failures are :class:`DeliveryError`: ``retryable`` ones (timeouts, 5xx, 429) are retried
with back-off by the router; the others (a 4xx that will not change) go straight to
``alerts.dlq``. Secrets come from the environment (``secret_env``), never from the file.

Exceptions::

    ChannelError
    ├── DeliveryError       a delivery failed (retryable or not)
    └── MissingSecret       secret_env names a variable that is not set
"""

from __future__ import annotations

import os
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from raqib.notifications import Notification
from raqib.settings import Settings

Ref = dict[str, str]
"""A channel's handle on the message it sent for a story (for edits)."""


class ChannelError(Exception):
    """Base of the channel errors."""


class DeliveryError(ChannelError):
    """A channel did not take a notification; ``retryable`` says whether trying again
    later may succeed (timeouts, 5xx, 429) or not (a 4xx that will not change)."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class MissingSecret(ChannelError):
    """``secret_env`` names an environment variable that is not set."""


class ChannelConfig(BaseModel):
    """What every channel instance has in ``channels.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    type: str
    timeout_s: float = Field(10.0, gt=0, le=120, description="per request")
    secret_env: str | None = Field(
        None, pattern=r"^[A-Z_][A-Z0-9_]*$", description="environment variable of the secret"
    )

    def secret(self, environ: dict[str, str] | None = None) -> SecretStr | None:
        """The secret named by ``secret_env`` (None when the channel has none)."""
        if self.secret_env is None:
            return None
        value = (os.environ if environ is None else environ).get(self.secret_env)
        if not value:
            raise MissingSecret(
                f"channel {self.name}: environment variable {self.secret_env} is not set"
            )
        return SecretStr(value)


class Context(BaseModel):
    """What a channel may need from the process that runs it."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    settings: Settings
    extra: dict[str, Any] = Field(default_factory=dict)


class Channel(Protocol):
    """Delivers notifications somewhere an operator looks."""

    name: str

    async def deliver(self, notification: Notification, ref: Ref | None) -> Ref | None:
        """Deliver one notification; ``ref`` is what this channel returned for the
        story's previous notification (None for the first). Raise DeliveryError."""
        ...

    async def close(self) -> None: ...
