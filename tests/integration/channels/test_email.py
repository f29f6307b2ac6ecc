"""The e-mail channel against a real SMTP server (aiosmtpd on a free 127.0.0.1 port).

Mails are read back as the server received them: both parts, the Arabic subject and
bodies intact, the thread headers of an update, STARTTLS and TLS with a throwaway CA
made by ``openssl``, and each kind of failure classified as the router needs it.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import Callable, Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from alerts.channels import render
from alerts.channels.base import Context, DeliveryError
from alerts.channels.email import EmailChannel, EmailConfig
from raqib.embedded import free_port
from raqib.notifications import Notification
from raqib.settings import Settings
from tests.conftest import require

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

USER, PASSWORD = "raqib", "s3cret-smtp-pass"
SECRET_ENV = "RAQIB_TEST_SMTP_PASSWORD"


class Inbox:
    """An aiosmtpd handler that keeps what it received; RCPT may be refused with a code."""

    def __init__(self) -> None:
        self.messages: list[tuple[Envelope, EmailMessage]] = []
        self.refuse_rcpt: str | None = None
        self.refuse: dict[str, str] = {}  # one address -> its reply

    async def handle_RCPT(
        self, server: SMTPServer, session: Session, envelope: Envelope, address: str, _: Any
    ) -> str:
        if self.refuse_rcpt or address in self.refuse:
            return self.refuse_rcpt or self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        parsed = message_from_bytes(envelope.content, policy=default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((envelope, parsed))
        return "250 Message accepted"


def authenticator(
    server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535


class Pki:
    def __init__(self, d: Path) -> None:
        self.ca, self.cert, self.key = d / "ca.pem", d / "server.pem", d / "server.key"

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def _openssl(cwd: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A throwaway CA and a server certificate for 127.0.0.1."""
    require(shutil.which("openssl") is not None, "the openssl command, to make test certificates")
    d = tmp_path_factory.mktemp("smtp-pki")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(d, "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
             "-subj", "/CN=raqib smtp test CA")  # fmt: skip
    _openssl(d, "req", *ec, "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=raqib smtp test server")  # fmt: skip
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl(d, "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.pem", "-days", "1",
             "-extfile", "server.ext")  # fmt: skip
    return Pki(d)


Server = tuple[Inbox, int]
StartServer = Callable[..., Server]


@pytest.fixture
def smtp_server() -> Iterator[StartServer]:
    """Starts aiosmtpd servers on free ports (``smtp_server(tls_context=...)``), stops them."""
    controllers: list[Controller] = []

    def start(**smtp_options: Any) -> Server:
        inbox = Inbox()
        port = free_port()
        controller = Controller(inbox, hostname="127.0.0.1", port=port, **smtp_options)
        controller.start()
        controllers.append(controller)
        return inbox, port

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def password(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(SECRET_ENV, PASSWORD)
    return PASSWORD


def channel(port: int, **options: Any) -> EmailChannel:
    entry = {
        "name": "duty-mail",
        "type": "email",
        "host": "127.0.0.1",
        "port": port,
        "from": "رقيب Raqib <raqib@example.org>",
        "to": ["duty@example.org", "Desk <desk@example.org>"],
        "timeout_s": 5,
        **options,
    }
    return EmailChannel(EmailConfig.model_validate(entry), Context(settings=Settings()))


def unix(content: str) -> str:
    """A part's text as written: SMTP lines end in CRLF, and the last one too."""
    return content.replace("\r\n", "\n").removesuffix("\n")


def deliver(ch: EmailChannel, n: Notification, ref: dict[str, str] | None = None) -> Any:
    return asyncio.run(ch.deliver(n, ref))


def test_page_then_update_over_starttls_is_one_thread_in_arabic(
    smtp_server: StartServer, pki: Pki, password: str, notification: Callable[..., Notification]
) -> None:
    inbox, port = smtp_server(
        tls_context=pki.server_context(),
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    )
    ch = channel(port, security="starttls", ca_file=str(pki.ca), username=USER,
                 secret_env=SECRET_ENV)  # fmt: skip
    page = notification(channel="duty-mail", notification_id="story-1:duty-mail:1")
    ref = deliver(ch, page)
    update = notification(
        kind="update", seq=2, channel="duty-mail", notification_id="story-1:duty-mail:2"
    )
    ref2 = deliver(ch, update, ref)

    assert len(inbox.messages) == 2
    (envelope, first), (_, second) = inbox.messages
    assert envelope.mail_from == "raqib@example.org"
    assert envelope.rcpt_tos == ["duty@example.org", "desk@example.org"]
    # the subject: Arabic intact after RFC 2047 encoding and decoding
    assert first["Subject"] == f"[raqib] {page.headline}"
    assert "وزير الدفاع الإيراني يصل إلى دمشق" in first["Subject"]
    assert second["Subject"] == f"[raqib] {update.headline}"
    assert str(first["From"]).startswith("رقيب Raqib")
    # both parts, UTF-8, the same words the renderers wrote
    assert first.get_content_type() == "multipart/alternative"
    text = first.get_body(("plain",))
    html = first.get_body(("html",))
    assert text is not None and html is not None
    assert text.get_content_charset() == html.get_content_charset() == "utf-8"
    assert unix(text.get_content()) == render.text(page)
    assert unix(html.get_content()) == render.html_body(page)
    assert "أمير حاتمي" in text.get_content() and "<b>أمير حاتمي</b>" in html.get_content()
    # threading: the update answers the page
    assert ref == {"message_id": first["Message-ID"], "last_message_id": first["Message-ID"]}
    assert second["In-Reply-To"] == first["Message-ID"]
    assert second["References"] == first["Message-ID"]
    assert ref2 == {"message_id": first["Message-ID"], "last_message_id": second["Message-ID"]}
    assert first["Message-ID"] != second["Message-ID"]
    assert "In-Reply-To" not in first


def test_resolution_references_the_page_and_the_update(
    smtp_server: StartServer, notification: Callable[..., Notification]
) -> None:
    inbox, port = smtp_server()
    ch = channel(port, security="none")
    ref = deliver(ch, notification(notification_id="s:duty-mail:1"))
    ref = deliver(ch, notification(kind="update", seq=2, notification_id="s:duty-mail:2"), ref)
    deliver(ch, notification(kind="resolved", seq=3, status="resolved",
                             notification_id="s:duty-mail:3"), ref)  # fmt: skip
    page, update, resolved = (m for _, m in inbox.messages)
    assert resolved["In-Reply-To"] == update["Message-ID"]
    assert resolved["References"] == f"{page['Message-ID']} {update['Message-ID']}"
    assert resolved["Subject"].startswith("[raqib] [resolved] ")


def test_a_retried_notification_is_the_same_message(
    smtp_server: StartServer, notification: Callable[..., Notification]
) -> None:
    inbox, port = smtp_server()
    ch = channel(port, security="none")
    n = notification()
    deliver(ch, n)
    deliver(ch, n)
    (_, a), (_, b) = inbox.messages
    assert a["Message-ID"] == b["Message-ID"]
    assert a["Date"] == b["Date"]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_implicit_tls(
    smtp_server: StartServer, pki: Pki, password: str, notification: Callable[..., Notification]
) -> None:
    # aiosmtpd knows only STARTTLS as TLS: on a TLS port it must be told AUTH is safe
    inbox, port = smtp_server(ssl_context=pki.server_context(), authenticator=authenticator,
                              auth_required=True, auth_require_tls=False)  # fmt: skip
    ch = channel(port, security="tls", ca_file=str(pki.ca), username=USER, secret_env=SECRET_ENV)
    deliver(ch, notification())
    assert len(inbox.messages) == 1


def test_a_server_without_starttls_is_never_sent_plain_text(
    smtp_server: StartServer, password: str, notification: Callable[..., Notification]
) -> None:
    inbox, port = smtp_server()  # offers no STARTTLS, as if a middlebox had stripped it
    ch = channel(port, security="starttls", username=USER, secret_env=SECRET_ENV)
    with pytest.raises(DeliveryError) as caught:
        deliver(ch, notification())
    assert not caught.value.retryable and "STARTTLS" in str(caught.value)
    assert inbox.messages == []


def test_an_untrusted_certificate_is_not_retried(
    smtp_server: StartServer, pki: Pki, notification: Callable[..., Notification]
) -> None:
    _, port = smtp_server(ssl_context=pki.server_context())
    ch = channel(port, security="tls")  # the system's CAs do not know the test CA
    with pytest.raises(DeliveryError) as caught:
        deliver(ch, notification())
    assert not caught.value.retryable
    assert "certificate" in str(caught.value)


def test_a_refused_login_is_not_retried_and_hides_the_password(
    smtp_server: StartServer,
    pki: Pki,
    monkeypatch: pytest.MonkeyPatch,
    notification: Callable[..., Notification],
) -> None:
    inbox, port = smtp_server(tls_context=pki.server_context(), require_starttls=True,
                              authenticator=authenticator, auth_required=True)  # fmt: skip
    monkeypatch.setenv(SECRET_ENV, "wrong-pass-123")
    ch = channel(port, ca_file=str(pki.ca), username=USER, secret_env=SECRET_ENV)
    with pytest.raises(DeliveryError) as caught:
        deliver(ch, notification())
    assert not caught.value.retryable
    assert "wrong-pass-123" not in str(caught.value) and "535" in str(caught.value)
    assert inbox.messages == []


@pytest.mark.parametrize(
    ("reply", "retryable"),
    [("451 4.3.0 mailbox busy, try later", True), ("550 5.1.1 no such user", False)],
)
def test_temporary_replies_are_retried_and_permanent_ones_are_not(
    smtp_server: StartServer,
    notification: Callable[..., Notification],
    reply: str,
    retryable: bool,
) -> None:
    inbox, port = smtp_server()
    inbox.refuse_rcpt = reply
    with pytest.raises(DeliveryError) as caught:
        deliver(channel(port, security="none"), notification())
    assert caught.value.retryable is retryable
    assert reply.split()[0] in str(caught.value)


def test_one_refused_recipient_does_not_resend_to_the_others(
    smtp_server: StartServer,
    notification: Callable[..., Notification],
    caplog: pytest.LogCaptureFixture,
) -> None:
    inbox, port = smtp_server()
    inbox.refuse["desk@example.org"] = "550 5.1.1 no such user"
    ref = deliver(channel(port, security="none"), notification())
    [(envelope, message)] = inbox.messages
    assert envelope.rcpt_tos == ["duty@example.org"]
    assert ref["message_id"] == message["Message-ID"]
    assert "desk@example.org (550 5.1.1 no such user)" in caplog.text


def test_no_server_is_retried(notification: Callable[..., Notification]) -> None:
    with pytest.raises(DeliveryError) as caught:
        deliver(channel(free_port(), security="none"), notification())
    assert caught.value.retryable
