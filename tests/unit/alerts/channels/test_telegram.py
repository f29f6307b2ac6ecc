"""The Telegram channel's config and how a story is fitted into 4,096 characters."""

from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import pytest
from pydantic import ValidationError

from alerts.channels import render
from alerts.channels.base import Context, MissingSecret
from alerts.channels.telegram import MESSAGE_CHARS, TelegramChannel, TelegramConfig, fit, length
from raqib.notifications import Notification
from raqib.settings import Settings

MakeNotification = Callable[..., Notification]
CONFIG = {
    "name": "duty-tg",
    "type": "telegram",
    "secret_env": "RAQIB_TELEGRAM_TOKEN",
    "chat_id": -1001234567890,
}


class Tags(HTMLParser):
    """Checks that every tag opened is closed, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open.pop() == tag


def balanced(text: str) -> bool:
    tags = Tags()
    tags.feed(text)
    tags.close()
    return not tags.open


def test_a_valid_config_has_telegram_as_its_default_base() -> None:
    config = TelegramConfig.model_validate(CONFIG)
    assert str(config.api_base) == "https://api.telegram.org/"
    assert (
        TelegramConfig.model_validate({**CONFIG, "chat_id": "@raqib_duty"}).chat_id == "@raqib_duty"
    )


@pytest.mark.parametrize(
    ("changes", "cause"),
    [
        ({"secret_env": None}, "secret_env must name the variable that holds the bot token"),
        ({"chat_id": "raqib duty"}, "chat_id"),
        ({"api_base": "api.telegram.org"}, "api_base"),
        ({"token": "123:ABC"}, "token"),
    ],
)
def test_a_bad_config_says_why(changes: dict[str, Any], cause: str) -> None:
    with pytest.raises(ValidationError, match=cause):
        TelegramConfig.model_validate({**CONFIG, **changes})


def test_a_missing_token_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAQIB_TELEGRAM_TOKEN", raising=False)
    config = TelegramConfig.model_validate(CONFIG)
    with pytest.raises(MissingSecret, match="duty-tg: environment variable RAQIB_TELEGRAM_TOKEN"):
        TelegramChannel(config, Context(settings=Settings()))


def test_a_story_that_fits_is_rendered_whole(notification: MakeNotification) -> None:
    n = notification()
    assert fit(n) == render.telegram_html(n)


def test_less_evidence_is_shown_before_anything_is_cut(notification: MakeNotification) -> None:
    n = notification()
    whole = length(render.telegram_html(n))
    text = fit(n, limit=whole - 1)
    assert text == render.telegram_html(n.model_copy(update={"evidence": n.evidence[:2]}))


@pytest.mark.parametrize("copies", [30, 60, 500])
def test_many_subjects_are_cut_by_whole_lines(notification: MakeNotification, copies: int) -> None:
    n = notification()
    many = notification(subjects=n.subjects * copies)
    text = fit(many)
    assert length(text) <= MESSAGE_CHARS
    assert balanced(text)
    assert text.startswith(f"<b>{many.headline}</b>")
    if length(render.telegram_html(many)) > MESSAGE_CHARS:
        assert text.endswith("\n…")


def test_a_headline_too_long_for_a_message_falls_back_to_plain_text(
    notification: MakeNotification,
) -> None:
    n = notification(title="<وزير> & " * 1000)
    text = fit(n)
    assert length(text) <= MESSAGE_CHARS
    assert balanced(text) and "<b>" not in text
    assert text.startswith("WARNING: &lt;وزير&gt; &amp; ") and text.endswith("…")
