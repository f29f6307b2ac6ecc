"""Alert channels, one module each; ``CHANNELS`` maps a config name to its class."""

from __future__ import annotations

from typing import Protocol

from alerts.channels.console import ConsoleChannel
from alerts.channels.jsonl import JsonlChannel
from raqib.messages import Alert


class Channel(Protocol):
    """Delivers alerts somewhere an operator looks."""

    async def send(self, alert: Alert) -> None: ...

    async def close(self) -> None: ...


CHANNELS: dict[str, type] = {"console": ConsoleChannel, "jsonl": JsonlChannel}

__all__ = ["CHANNELS", "Channel", "ConsoleChannel", "JsonlChannel"]
