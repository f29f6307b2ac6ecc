"""Send each alert to the channels its rule names; one failing channel never blocks another."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from alerts.channels import Channel, ConsoleChannel, JsonlChannel
from raqib.messages import Alert

log = logging.getLogger(__name__)


class Router:
    """Routes alerts by name.

    Example::

        router = Router({"console": ConsoleChannel()})
        await router.route(alert)
        # -> ['console']
    """

    def __init__(self, channels: Mapping[str, Channel]) -> None:
        self.channels = dict(channels)

    async def route(self, alert: Alert) -> list[str]:
        """Deliver to every named channel; return the names that took it."""
        delivered: list[str] = []
        for name in alert.channels or list(self.channels):
            channel = self.channels.get(name)
            if channel is None:
                log.warning("alert %s names unknown channel %r", alert.alert_id, name)
                continue
            try:
                await channel.send(alert)
            except Exception:  # a broken channel must not stop the others
                log.exception("channel %s failed for alert %s", name, alert.alert_id)
                continue
            delivered.append(name)
        return delivered

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()


def build_router(alerts_file: Path) -> Router:
    """The default channels: console and a JSON-lines file."""
    return Router({"console": ConsoleChannel(), "jsonl": JsonlChannel(alerts_file)})
