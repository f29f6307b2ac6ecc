"""The Slack channel's config (webhook or Web API, not both) and its Block Kit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from alerts.channels.base import ChannelError, Context, MissingSecret
from alerts.channels.slack import (
    HEADER_CHARS,
    SECTION_CHARS,
    SlackChannel,
    SlackConfig,
    blocks,
    split_sections,
)
from raqib.notifications import Notification
from raqib.settings import Settings

WEBHOOK = {"name": "duty-slack", "type": "slack", "secret_env": "RAQIB_SLACK_WEBHOOK"}
API = {
    "name": "duty-slack",
    "type": "slack",
    "bot_token_env": "RAQIB_SLACK_TOKEN",
    "channel_id": "C0RAQIB01",
}


def test_either_way_in_is_valid() -> None:
    assert not SlackConfig.model_validate(WEBHOOK).web_api
    api = SlackConfig.model_validate(API)
    assert api.web_api and str(api.api_base) == "https://slack.com/api"


@pytest.mark.parametrize(
    ("config", "cause"),
    [
        ({"name": "duty-slack", "type": "slack"}, "either secret_env"),
        ({**API, "secret_env": "RAQIB_SLACK_WEBHOOK"}, "not both"),
        ({**WEBHOOK, "channel_id": "C0RAQIB01"}, "both bot_token_env and channel_id"),
        ({k: v for k, v in API.items() if k != "channel_id"}, "both bot_token_env"),
        ({**API, "api_base": "slack.com/api"}, "api_base"),
        ({**API, "bot_token_env": "xoxb-123"}, "bot_token_env"),
        ({**WEBHOOK, "url": "https://hooks.slack.com/services/T/B/X"}, "url"),
    ],
)
def test_a_bad_config_says_why(config: dict[str, Any], cause: str) -> None:
    with pytest.raises(ValidationError, match=cause):
        SlackConfig.model_validate(config)


@pytest.mark.parametrize(
    ("config", "variable"), [(WEBHOOK, "RAQIB_SLACK_WEBHOOK"), (API, "RAQIB_SLACK_TOKEN")]
)
def test_a_missing_secret_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, config: dict[str, Any], variable: str
) -> None:
    monkeypatch.delenv(variable, raising=False)
    with pytest.raises(
        MissingSecret, match=f"duty-slack: environment variable {variable} is not set"
    ):
        SlackChannel(SlackConfig.model_validate(config), Context(settings=Settings()))


def test_a_webhook_secret_that_is_no_url_is_refused_without_quoting_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RAQIB_SLACK_WEBHOOK", "xoxb-pasted-the-wrong-secret")
    with pytest.raises(ChannelError, match="RAQIB_SLACK_WEBHOOK does not hold an http") as caught:
        SlackChannel(SlackConfig.model_validate(WEBHOOK), Context(settings=Settings()))
    assert "wrong-secret" not in str(caught.value)


def test_sections_are_whole_lines_under_the_limit() -> None:
    text = "\n".join(f"line {i} " + "x" * 50 for i in range(200))
    chunks = split_sections(text)
    assert all(len(c) <= SECTION_CHARS for c in chunks)
    assert "\n".join(chunks) == text


def test_a_line_longer_than_a_section_is_cut() -> None:
    chunks = split_sections("a\n" + "b" * 7000 + "\nc")
    assert [len(c) for c in chunks] == [1, 3000, 3000, 1002]  # the rest of the long line, then "c"


def test_the_header_holds_the_headline_and_the_sections_do_not_repeat_it(
    notification: Callable[..., Notification],
) -> None:
    n = notification()
    header, *sections, context = blocks(n)
    assert header["text"]["text"] == n.headline
    assert n.headline not in sections[0]["text"]["text"]
    assert context["type"] == "context"


def test_a_long_headline_is_cut_in_the_header_and_kept_in_the_text(
    notification: Callable[..., Notification],
) -> None:
    n = notification(title="وزير الدفاع الإيراني يصل إلى دمشق " * 10)
    header, first, *_ = blocks(n)
    assert len(header["text"]["text"]) == HEADER_CHARS and header["text"]["text"].endswith("…")
    assert first["text"]["text"].startswith("*WARNING: وزير الدفاع")
