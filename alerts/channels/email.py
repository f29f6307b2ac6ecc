"""E-mail channel: one message per notification over SMTP, threaded per story.

Each notification is a ``multipart/alternative`` message (a UTF-8 text part and an HTML
part) whose subject is the notification's headline, Arabic encoded as RFC 2047 words so
any mail server carries it. The ``Message-ID`` is derived from ``notification_id``, so a
retried delivery is the same message; updates and the resolution carry ``In-Reply-To`` and
``References`` of the story's first mail (the reference the router keeps), so mail
clients show a story as one thread. Mail cannot be edited: an update is a new message.

Example (``channels.yaml``)::

    - name: duty-mail
      type: email
      host: smtp.example.org
      security: starttls          # or tls (port 465), or none (a local relay)
      username: raqib
      secret_env: RAQIB_SMTP_PASSWORD
      from: "Raqib <raqib@example.org>"
      to: [duty@example.org]

Errors: a refused connection, a timeout and 4xx replies are retryable; 5xx replies, a
refused login and a certificate that does not verify are not. The password never appears
in an error.
"""

from __future__ import annotations

import hashlib
import logging
import re
import ssl
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP, Policy
from email.utils import format_datetime, getaddresses, parseaddr
from pathlib import Path
from typing import Literal

import aiosmtplib
from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

from alerts.channels import render
from alerts.channels.base import ChannelConfig, Context, DeliveryError, Ref
from raqib.notifications import Notification

log = logging.getLogger(__name__)

Security = Literal["starttls", "tls", "none"]

DEFAULT_PORTS: dict[Security, int] = {"starttls": 587, "tls": 465, "none": 25}
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

# characters outside RFC 5322 ``atext`` in a notification id (``story:channel:seq``)
_NOT_ATEXT_RE = re.compile(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+")
INPUT_PATTERNS = (_NOT_ATEXT_RE,)
"""Every pattern this module applies to text (timed by test_regex_linear.py)."""


class EmailConfig(ChannelConfig):
    """An SMTP server and the addresses a story's mails go to; the password comes from
    ``secret_env``."""

    model_config = ConfigDict(populate_by_name=True)

    type: Literal["email"] = "email"
    host: str = Field(min_length=1)
    port: int | None = Field(None, ge=1, le=65535, description="default: 587, 465 or 25")
    security: Security = "starttls"
    ca_file: Path | None = Field(None, description="CA certificates (PEM); else the system's")
    username: str | None = None
    sender: str = Field(alias="from", description='"Name <address>" or an address')
    to: list[str] = Field(min_length=1)
    subject_prefix: str = "[raqib] "

    @field_validator("sender")
    @classmethod
    def _one_address(cls, value: str) -> str:
        _check_address(parseaddr(value)[1], value)
        return value

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for name, address in getaddresses(value):
            _check_address(address, name or address)
        return value

    @field_validator("ca_file")
    @classmethod
    def _existing(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"ca_file {value} is not a file")
        return value

    @model_validator(mode="after")
    def _login(self) -> EmailConfig:
        if (self.username is None) != (self.secret_env is None):
            raise ValueError("username and secret_env (the password) go together")
        if self.username is not None and self.security == "none":
            if self.host not in LOOPBACK_HOSTS:
                raise ValueError("a password is never sent unencrypted: use starttls or tls")
        if self.ca_file is not None and self.security == "none":
            raise ValueError("ca_file needs security starttls or tls")
        return self

    @property
    def smtp_port(self) -> int:
        return self.port if self.port is not None else DEFAULT_PORTS[self.security]

    @property
    def sender_address(self) -> str:
        return parseaddr(self.sender)[1]

    @property
    def recipients(self) -> list[str]:
        return [address for _, address in getaddresses(self.to)]


def _check_address(address: str, written: str) -> None:
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"not an e-mail address: {written!r}")


class EncodedSubject(str):
    """A Subject that the SMTP policy writes as whole RFC 2047 words, spaces inside them.

    The policy's own folder (CPython before the fix of gh-144156) may fold a long Arabic
    subject between two encoded words with the space outside them, where decoders drop
    it: "وزير الدفاع" arrives as "وزير الدفاعالإيراني". A value with a ``name`` and a
    ``fold`` is a header object the policy stores and writes as it is (documented).
    """

    name = "Subject"

    def fold(self, *, policy: Policy) -> str:
        words = Header(str(self), "utf-8", header_name=self.name).encode(linesep=policy.linesep)
        return f"{self.name}: {words}{policy.linesep}"


def message_id(notification_id: str, domain: str) -> str:
    """A Message-ID that is the same for every attempt to deliver one notification.

    >>> message_id("story-1:duty-mail:2", "example.org")
    '<story-1.duty-mail.2.4192c2d2cfdd@example.org>'
    """
    readable = _NOT_ATEXT_RE.sub(".", notification_id).strip(".")
    digest = hashlib.sha256(notification_id.encode()).hexdigest()[:12]
    return f"<{readable}.{digest}@{domain}>"


def compose(config: EmailConfig, notification: Notification, ref: Ref | None) -> EmailMessage:
    """The message for one notification, threaded under the story's first mail."""
    msg = EmailMessage(policy=SMTP)
    subject = f"{config.subject_prefix}{notification.headline}"
    msg["Subject"] = subject if subject.isascii() else EncodedSubject(subject)
    msg["From"] = config.sender
    msg["To"] = ", ".join(config.to)
    msg["Date"] = format_datetime(notification.created_at)
    domain = Address(addr_spec=config.sender_address).domain
    msg["Message-ID"] = message_id(notification.notification_id, domain)
    if ref and ref.get("message_id"):
        root = ref["message_id"]
        parent = ref.get("last_message_id", root)
        msg["In-Reply-To"] = parent
        msg["References"] = root if parent == root else f"{root} {parent}"
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    msg["X-Raqib-Story"] = notification.story_id
    msg["X-Raqib-Kind"] = notification.kind
    msg.set_content(render.text(notification), charset="utf-8")
    msg.add_alternative(render.html_body(notification), subtype="html", charset="utf-8")
    # a boundary of the notification's own (``=_`` never occurs in base64 or QP content):
    # a retried delivery is the same message byte for byte
    digest = hashlib.sha256(notification.notification_id.encode()).hexdigest()[:32]
    msg.set_boundary(f"=_raqib_{digest}")
    return msg


class EmailChannel:
    """Mails each notification of a story to ``to``, threaded.

    Example::

        channel = EmailChannel(EmailConfig.model_validate(entry), context)
        ref = await channel.deliver(page, None)   # {"message_id": "<...>", ...}
        await channel.deliver(update, ref)        # In-Reply-To the page
    """

    def __init__(self, config: EmailConfig, context: Context) -> None:
        self.config = config
        self.name = config.name
        self.context = context
        self._password: SecretStr | None = config.secret()
        self._tls: ssl.SSLContext | None = None
        if config.security != "none":
            cafile = None if config.ca_file is None else str(config.ca_file)
            self._tls = ssl.create_default_context(cafile=cafile)

    async def deliver(self, notification: Notification, ref: Ref | None) -> Ref | None:
        """Send one mail; return the story's thread (its first and latest Message-ID)."""
        msg = compose(self.config, notification, ref)
        config = self.config
        try:
            refused, response = await aiosmtplib.send(
                msg,
                sender=config.sender_address,
                recipients=config.recipients,
                hostname=config.host,
                port=config.smtp_port,
                username=config.username,
                password=None if self._password is None else self._password.get_secret_value(),
                use_tls=config.security == "tls",
                start_tls=config.security == "starttls",
                tls_context=self._tls,
                timeout=config.timeout_s,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise self._failure(exc) from exc
        if refused:  # some recipients took it: a retry would mail them twice
            log.warning(
                "channel %s: %s refused by %s",
                self.name,
                msg["Message-ID"],
                ", ".join(f"{rcpt} ({r.code} {r.message})" for rcpt, r in refused.items()),
            )
        log.debug("channel %s: %s sent: %s", self.name, msg["Message-ID"], response)
        this = str(msg["Message-ID"])
        root = ref["message_id"] if ref and ref.get("message_id") else this
        return {"message_id": root, "last_message_id": this}

    def _failure(self, exc: BaseException) -> DeliveryError:
        """A DeliveryError that says what happened, retryable when trying later may work."""
        where = f"channel {self.name}: SMTP {self.config.host}:{self.config.smtp_port}"
        retryable = True
        if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
            codes = [r.code for r in exc.recipients]
            retryable = any(400 <= code < 500 for code in codes)
            detail = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
            text = f"{where}: recipients refused: {detail}"
        elif isinstance(exc, aiosmtplib.SMTPAuthenticationError):
            retryable = 400 <= exc.code < 500  # 454: temporary authentication failure
            text = f"{where}: login as {self.config.username} refused: {exc.code} {exc.message}"
        elif isinstance(exc, aiosmtplib.SMTPResponseException):
            retryable = not 500 <= exc.code < 600
            text = f"{where}: {exc.code} {exc.message}"
        elif isinstance(exc, aiosmtplib.SMTPNotSupported) or type(exc) is aiosmtplib.SMTPException:
            # the server offers no STARTTLS or no AUTH: the configuration does not match it
            # (and a stripped STARTTLS must never fall back to plain text)
            retryable = False
            text = f"{where}: {exc.message}"
        elif isinstance(exc, ssl.SSLCertVerificationError) or isinstance(
            exc.__cause__, ssl.SSLCertVerificationError
        ):
            retryable = False
            text = f"{where}: certificate not trusted: {exc.__cause__ or exc}"
        else:
            text = f"{where}: {type(exc).__name__}: {exc}"
        return DeliveryError(self._without_password(text), retryable=retryable)

    def _without_password(self, text: str) -> str:
        if self._password is None:
            return text
        secret = self._password.get_secret_value()
        return text.replace(secret, "***") if secret else text

    async def close(self) -> None:
        """Nothing held: each delivery opens and closes its own SMTP session."""
        return None
