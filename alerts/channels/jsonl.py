"""JSON-lines file channel: one notification per line, appended and flushed, for tools and
audits (``jq '.alerts[] | .alert_id'`` lists every alert event delivered)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Literal

from alerts.channels.base import ChannelConfig, Context, Ref
from raqib.notifications import Notification


class JsonlConfig(ChannelConfig):
    type: Literal["jsonl"]
    path: Path


class JsonlChannel:
    """Appends each notification as one JSON line; safe to ``tail -f``."""

    def __init__(self, config: JsonlConfig, context: Context | None = None) -> None:
        self.name = config.name
        self.path = Path(config.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _append(self, line: str) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    async def deliver(self, notification: Notification, ref: Ref | None) -> Ref | None:
        await asyncio.to_thread(self._append, notification.model_dump_json())
        return None

    async def close(self) -> None:
        return None
