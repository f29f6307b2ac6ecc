"""Console channel: a story as a short block on the worker's terminal, Arabic readable."""

from __future__ import annotations

from typing import Literal

from rich.console import Console
from rich.markup import escape

from alerts.channels.base import ChannelConfig, Context, Ref
from alerts.channels.render import figures
from raqib.notifications import Notification

_STYLE = {"critical": "bold red", "warning": "bold yellow", "info": "cyan"}


class ConsoleConfig(ChannelConfig):
    type: Literal["console"]


class ConsoleChannel:
    """Prints each notification with rich: the headline, then a line per subject."""

    def __init__(
        self, config: ConsoleConfig, context: Context | None = None, console: Console | None = None
    ) -> None:
        self.name = config.name
        self.console = console or Console(stderr=False, highlight=False)

    async def deliver(self, notification: Notification, ref: Ref | None) -> Ref | None:
        n = notification
        style = "green" if n.status == "resolved" else _STYLE.get(n.severity, "bold")
        events = ", ".join(f"{a.alert_id[:8]} {a.status}" for a in n.alerts)
        self.console.print(
            f"[{style}]STORY {n.kind.upper()}[/] {n.last_seen:%Y-%m-%d %H:%M} "
            f"{escape(n.title)} — {escape(', '.join(n.outlets[:5]))}  [dim]{events}[/]",
            markup=True,
        )
        for line in n.subjects:
            mark = "✓" if line.status == "resolved" else "▲"
            self.console.print(
                f"   {mark} {escape(line.name_ar)} ({escape(line.name_en)}) "
                f"{escape(f'[{line.rule}]')} {figures(line)} {line.sparkline}",
                markup=True,
            )
        return None

    async def close(self) -> None:
        return None
