"""Prometheus Alertmanager channel: each story is one alert, kept firing, then resolved.

Alertmanager (v2 API, ``POST /api/v2/alerts``) identifies an alert by its labels, so the
labels are what stays fixed for a story: ``alertname=RaqibStory``, ``story_id``,
``severity``, ``source=raqib`` and the channel's static ``labels``. Everything that
changes as the story grows (headline, text, summaries) is an annotation. ``startsAt`` is
the story's first evidence (``first_seen``), the same on every post: a re-post never moves
the alert's start (Alertmanager keeps the earliest anyway).

A firing alert carries ``endsAt`` = now + ``resolve_after``; Alertmanager resolves it by
itself at that time unless it is posted again. The channel therefore asks to be re-posted
every :attr:`AlertmanagerChannel.resend_every_s` (a third of ``resolve_after``, as
Prometheus re-sends well before expiry); a re-post of the same notification is the same
alert (same labels) with a later ``endsAt``: idempotent. The resolution is posted with
``endsAt`` = now, which ends the alert at once (given clocks in step with Alertmanager's:
the times are this host's).

A story whose severity rises (warning → critical) changes a label, hence the alert: the
post that raises it also ends the alert of the old severity, which the channel knows from
the reference it returned (``{"severity": ...}``).

Example (``channels.yaml``)::

    - name: am
      type: alertmanager
      url: http://alertmanager:9093
      resolve_after: 5m
      labels: {team: duty-desk}

Errors: timeouts, refused connections, 408, 425, 429 and 5xx are retryable; 400 (an alert
Alertmanager will never take), other 4xx, redirects and an untrusted certificate are not.
With ``secret_env`` the secret is sent as a bearer token, or with ``username`` as HTTP
basic auth (Alertmanager's ``web.config.file``, or a proxy in front of it).
"""

from __future__ import annotations

import base64
import re
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import aiohttp
from pydantic import AnyHttpUrl, Field, field_validator, model_validator

from alerts.channels import render
from alerts.channels.base import ChannelConfig, Context, DeliveryError, Ref
from raqib.durations import Duration
from raqib.notifications import Notification

ALERTNAME = "RaqibStory"
STORY_LABELS = frozenset({"alertname", "story_id", "severity", "source"})
RESEND_FRACTION = 3
"""Re-post a firing alert this many times per ``resolve_after``: two may be lost."""

RETRYABLE_STATUSES = frozenset({408, 425, 429})
"""Client errors that say "later" rather than "never" (plus every 5xx)."""

_LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
INPUT_PATTERNS = (_LABEL_NAME_RE,)
"""Every pattern this module applies to text (timed by test_regex_linear.py)."""
_ERROR_BODY_CHARS = 300


class AlertmanagerConfig(ChannelConfig):
    """An Alertmanager, how long a firing story lasts unheard, and labels for its routes."""

    type: Literal["alertmanager"] = "alertmanager"
    url: AnyHttpUrl = Field(description="Alertmanager's base URL (the API is under it)")
    resolve_after: Duration = Field(
        timedelta(minutes=5), description="endsAt of a firing alert: now + this"
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="static labels, for Alertmanager's routes"
    )
    generator_url: AnyHttpUrl | None = Field(
        None, description="generatorURL when a notification has no dashboard link"
    )
    username: str | None = Field(None, description="basic auth user; secret_env: its password")
    ca_file: Path | None = Field(None, description="CA certificates (PEM) of an https URL")

    @field_validator("url", "generator_url")
    @classmethod
    def _no_password(cls, value: AnyHttpUrl | None) -> AnyHttpUrl | None:
        if value is not None and (value.username or value.password):
            raise ValueError("no credentials in the URL: username and secret_env carry them")
        return value

    @field_validator("resolve_after")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=3):
            raise ValueError("resolve_after must be at least 3s")
        return value

    @field_validator("labels")
    @classmethod
    def _label_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _LABEL_NAME_RE.match(name) or name.startswith("__"):
                raise ValueError(f"not a Prometheus label name: {name!r}")
            if name in STORY_LABELS:
                raise ValueError(f"label {name!r} is set by raqib for each story")
        return value

    @field_validator("ca_file")
    @classmethod
    def _existing(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"ca_file {value} is not a file")
        return value

    @model_validator(mode="after")
    def _login(self) -> AlertmanagerConfig:
        if self.username is not None and self.secret_env is None:
            raise ValueError("username needs secret_env (its password)")
        return self

    @property
    def alerts_url(self) -> str:
        return str(self.url).rstrip("/") + "/api/v2/alerts"


def _timestamp(value: datetime) -> str:
    """RFC 3339 in UTC to the millisecond, as Alertmanager keeps it."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AlertmanagerChannel:
    """Posts one Alertmanager alert per story and keeps it alive until it resolves.

    Example::

        channel = AlertmanagerChannel(AlertmanagerConfig.model_validate(entry), context)
        ref = await channel.deliver(page, None)       # firing, endsAt = now + 5m
        # ... the router re-delivers the story's last notification every
        # channel.resend_every_s seconds while it fires ...
        await channel.deliver(resolution, ref)        # endsAt = now: resolved
    """

    def __init__(self, config: AlertmanagerConfig, context: Context) -> None:
        self.config = config
        self.name = config.name
        self.context = context
        self.resend_every_s: float = config.resolve_after.total_seconds() / RESEND_FRACTION
        self._headers = {"Content-Type": "application/json"}
        secret = config.secret()
        if secret is not None and config.username is not None:
            basic = f"{config.username}:{secret.get_secret_value()}".encode()
            self._headers["Authorization"] = f"Basic {base64.b64encode(basic).decode()}"
        elif secret is not None:
            self._headers["Authorization"] = f"Bearer {secret.get_secret_value()}"
        self._ssl: ssl.SSLContext | None = None
        if config.ca_file is not None:
            self._ssl = ssl.create_default_context(cafile=str(config.ca_file))
        self._session: aiohttp.ClientSession | None = None

    def labels(self, notification: Notification, severity: str | None = None) -> dict[str, str]:
        """What makes the story one alert in Alertmanager."""
        return {
            **self.config.labels,
            "alertname": ALERTNAME,
            "story_id": notification.story_id,
            "severity": severity or notification.severity,
            "source": "raqib",
        }

    def alerts(
        self, notification: Notification, ref: Ref | None, now: datetime
    ) -> list[dict[str, Any]]:
        """The body of the POST: the story's alert, and the end of an outgrown severity."""
        starts = notification.first_seen
        if notification.status == "resolved":
            ends = max(now, starts)
        else:
            ends = max(now, starts) + self.config.resolve_after
        annotations = {
            "summary": notification.headline,
            "description": render.text(notification),
            "summary_ar": notification.summary_ar,
            "summary_en": notification.summary_en,
        }
        if notification.dashboard_url:
            annotations["dashboard"] = notification.dashboard_url
        alert: dict[str, Any] = {
            "labels": self.labels(notification),
            "annotations": annotations,
            "startsAt": _timestamp(starts),
            "endsAt": _timestamp(ends),
        }
        generator = notification.dashboard_url or self.config.generator_url
        if generator:
            alert["generatorURL"] = str(generator)
        body = [alert]
        previous = (ref or {}).get("severity")
        if previous and previous != notification.severity:
            ended = {**alert, "endsAt": _timestamp(max(now, starts))}
            body.append({**ended, "labels": self.labels(notification, previous)})
        return body

    async def deliver(self, notification: Notification, ref: Ref | None) -> Ref | None:
        """Post the story's alert; return the severity it was posted with."""
        body = self.alerts(notification, ref, datetime.now(UTC))
        session = self._session
        if session is None or session.closed:
            timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
            session = self._session = aiohttp.ClientSession(timeout=timeout)
        where = f"channel {self.name}: POST {self.config.alerts_url}"
        try:
            async with session.post(
                self.config.alerts_url,
                json=body,
                headers=self._headers,
                allow_redirects=False,  # a redirected POST would arrive as a GET
                ssl=self._ssl if self._ssl is not None else True,
            ) as response:
                if response.status >= 300:
                    detail = (await response.text(errors="replace"))[:_ERROR_BODY_CHARS]
                    retryable = response.status in RETRYABLE_STATUSES or response.status >= 500
                    raise DeliveryError(
                        f"{where}: HTTP {response.status}: {detail.strip()}",
                        retryable=retryable,
                    )
        except aiohttp.ClientConnectorCertificateError as exc:
            raise DeliveryError(
                f"{where}: certificate not trusted: {exc}", retryable=False
            ) from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise DeliveryError(f"{where}: {type(exc).__name__}: {exc}") from exc
        return {"severity": notification.severity}

    async def close(self) -> None:
        """Close the HTTP session (its pooled connections)."""
        if self._session is not None:
            await self._session.close()
            self._session = None
