"""JSON-lines file channel: one alert per line, appended and flushed, for tools and audits."""

from __future__ import annotations

import asyncio
from pathlib import Path

from raqib.messages import Alert


class JsonlChannel:
    """Appends each alert as one JSON line; safe to ``tail -f``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _append(self, line: str) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    async def send(self, alert: Alert) -> None:
        await asyncio.to_thread(self._append, alert.model_dump_json())

    async def close(self) -> None:
        return None
