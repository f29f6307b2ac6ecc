"""Alert channels, one module each; ``CHANNELS`` maps a ``type`` to its config and class."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from alerts.channels.alertmanager import AlertmanagerChannel, AlertmanagerConfig
from alerts.channels.base import (
    Channel,
    ChannelConfig,
    ChannelError,
    Context,
    DeliveryError,
    MissingSecret,
    Ref,
)
from alerts.channels.console import ConsoleChannel, ConsoleConfig
from alerts.channels.email import EmailChannel, EmailConfig
from alerts.channels.jsonl import JsonlChannel, JsonlConfig
from alerts.channels.kafka import KafkaChannel, KafkaConfig
from alerts.channels.slack import SlackChannel, SlackConfig
from alerts.channels.telegram import TelegramChannel, TelegramConfig
from alerts.channels.webhook import WebhookChannel, WebhookConfig


@dataclass(frozen=True)
class ChannelSpec:
    """A channel type: its config model and how to build it."""

    config: type[ChannelConfig]
    build: Callable[[Any, Context], Channel]


CHANNELS: dict[str, ChannelSpec] = {
    "console": ChannelSpec(ConsoleConfig, ConsoleChannel),
    "jsonl": ChannelSpec(JsonlConfig, JsonlChannel),
    "kafka": ChannelSpec(KafkaConfig, KafkaChannel),
    "webhook": ChannelSpec(WebhookConfig, WebhookChannel),
    "slack": ChannelSpec(SlackConfig, SlackChannel),
    "telegram": ChannelSpec(TelegramConfig, TelegramChannel),
    "email": ChannelSpec(EmailConfig, EmailChannel),
    "alertmanager": ChannelSpec(AlertmanagerConfig, AlertmanagerChannel),
}


def build_channel(config: ChannelConfig, context: Context) -> Channel:
    """The channel instance a config entry describes."""
    return CHANNELS[config.type].build(config, context)


__all__ = [
    "CHANNELS",
    "Channel",
    "ChannelConfig",
    "ChannelError",
    "ChannelSpec",
    "ConsoleChannel",
    "Context",
    "DeliveryError",
    "JsonlChannel",
    "MissingSecret",
    "Ref",
    "build_channel",
]
