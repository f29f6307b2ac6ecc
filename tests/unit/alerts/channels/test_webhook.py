"""The webhook channel's config: the issue's minimal file, URLs, headers, the secret."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from alerts.channels.base import Context, MissingSecret
from alerts.channels.webhook import WebhookChannel, WebhookConfig
from raqib.settings import Settings

MINIMAL = """
name: ops-hook
type: webhook
url: "http://127.0.0.1:9000/hook"
secret_env: RAQIB_HOOK_SECRET
"""


def config(**changes: Any) -> dict[str, Any]:
    return {**yaml.safe_load(MINIMAL), **changes}


def test_the_minimal_config_of_the_issue_is_valid() -> None:
    hook = WebhookConfig.model_validate(yaml.safe_load(MINIMAL))
    assert (hook.name, hook.type, str(hook.url)) == (
        "ops-hook",
        "webhook",
        "http://127.0.0.1:9000/hook",
    )
    assert (hook.secret_env, hook.headers, hook.timeout_s) == ("RAQIB_HOOK_SECRET", {}, 10.0)


@pytest.mark.parametrize(
    ("changes", "cause"),
    [
        ({"url": "127.0.0.1:9000/hook"}, "url"),
        ({"url": "ftp://127.0.0.1/hook"}, "url"),
        ({"url": "http://"}, "url"),
        ({"type": "slack"}, "type"),
        ({"secret_env": "hook secret"}, "secret_env"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"retries": 3}, "retries"),
        ({"headers": {"X-Raqib-Signature": "sha256=0"}}, "set by the channel"),
        ({"headers": {"content-type": "text/plain"}}, "set by the channel"),
        ({"headers": {"Idempotency-Key": "x"}}, "set by the channel"),
        ({"headers": {"X Team": "a"}}, "not a valid header name"),
        ({"headers": {"X-Team": "a\r\nX-Evil: 1"}}, "printable ASCII"),
    ],
)
def test_a_bad_config_says_which_field(changes: dict[str, Any], cause: str) -> None:
    with pytest.raises(ValidationError, match=cause):
        WebhookConfig.model_validate(config(**changes))


def test_static_headers_are_kept() -> None:
    hook = WebhookConfig.model_validate(config(headers={"X-Team": "duty-desk"}))
    assert hook.headers == {"X-Team": "duty-desk"}


def test_a_missing_secret_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAQIB_HOOK_SECRET", raising=False)
    hook = WebhookConfig.model_validate(yaml.safe_load(MINIMAL))
    with pytest.raises(MissingSecret, match="ops-hook: environment variable RAQIB_HOOK_SECRET"):
        WebhookChannel(hook, Context(settings=Settings()))


def test_an_empty_secret_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAQIB_HOOK_SECRET", "")
    hook = WebhookConfig.model_validate(yaml.safe_load(MINIMAL))
    with pytest.raises(MissingSecret, match="RAQIB_HOOK_SECRET is not set"):
        WebhookChannel(hook, Context(settings=Settings()))
