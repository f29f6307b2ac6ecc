"""The e-mail channel's configuration and the message it composes (no server)."""

from __future__ import annotations

from collections.abc import Callable
from email import message_from_bytes
from email.policy import default
from typing import Any

import pytest
from pydantic import ValidationError

from alerts.channels.base import Context, MissingSecret
from alerts.channels.email import EmailChannel, EmailConfig, compose
from raqib.notifications import Notification
from raqib.settings import Settings

BASE = {"name": "duty-mail", "type": "email", "host": "smtp.example.org",
        "from": "Raqib <raqib@example.org>", "to": ["duty@example.org"]}  # fmt: skip


def config(**changes: Any) -> EmailConfig:
    return EmailConfig.model_validate({**BASE, **changes})


def test_defaults_follow_the_security() -> None:
    assert config().security == "starttls" and config().smtp_port == 587
    assert config(security="tls").smtp_port == 465
    assert config(security="none").smtp_port == 25
    assert config(port=2525).smtp_port == 2525
    assert config().sender_address == "raqib@example.org"


def test_a_missing_password_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAQIB_SMTP_PASSWORD", raising=False)
    cfg = config(username="raqib", secret_env="RAQIB_SMTP_PASSWORD")
    with pytest.raises(MissingSecret, match="RAQIB_SMTP_PASSWORD"):
        EmailChannel(cfg, Context(settings=Settings()))


@pytest.mark.parametrize(
    ("changes", "cause"),
    [
        ({"username": "raqib"}, "go together"),
        ({"secret_env": "RAQIB_SMTP_PASSWORD"}, "go together"),
        ({"username": "raqib", "secret_env": "P", "security": "none"}, "unencrypted"),
        ({"to": []}, "at least 1"),
        ({"to": ["duty"]}, "not an e-mail address"),
        ({"from": "raqib"}, "not an e-mail address"),
        ({"security": "ssl"}, "starttls"),
        ({"ca_file": "/nonexistent/ca.pem"}, "is not a file"),
        ({"smtp_host": "x"}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_configurations_say_why(changes: dict[str, Any], cause: str) -> None:
    with pytest.raises(ValidationError, match=cause):
        config(**changes)


def test_a_local_relay_may_take_a_password_without_tls() -> None:
    cfg = config(host="127.0.0.1", security="none", username="raqib", secret_env="P")
    assert cfg.username == "raqib"


def test_a_long_arabic_subject_keeps_every_space(
    notification: Callable[..., Notification],
) -> None:
    """Python's own folder drops a space between encoded words (gh-144156); ours must not."""
    n = notification(kind="update", seq=2, title="وزير الدفاع الإيراني يصل إلى دمشق " * 4)
    raw = compose(config(), n, None).as_bytes()
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78
    parsed = message_from_bytes(raw, policy=default)
    assert parsed["Subject"] == f"[raqib] {n.headline}"


def test_ascii_subjects_are_left_to_the_policy(notification: Callable[..., Notification]) -> None:
    msg = compose(config(), notification(title="Hatami in Damascus"), None)
    assert b"Subject: [raqib] WARNING: Hatami in Damascus (1 subjects)" in msg.as_bytes()


def test_the_message_is_the_same_on_every_attempt(
    notification: Callable[..., Notification],
) -> None:
    n = notification()
    assert compose(config(), n, None).as_bytes() == compose(config(), n, None).as_bytes()


def test_an_update_threads_under_the_page(notification: Callable[..., Notification]) -> None:
    page = compose(config(), notification(), None)
    ref = {"message_id": str(page["Message-ID"])}
    update = compose(config(), notification(kind="update", seq=2, notification_id="x:2"), ref)
    assert update["In-Reply-To"] == update["References"] == page["Message-ID"]
    assert update["Message-ID"] != page["Message-ID"]
    assert update["Auto-Submitted"] == "auto-generated"
    assert update["X-Raqib-Kind"] == "update"
    assert str(page["Message-ID"]).endswith("@example.org>")
