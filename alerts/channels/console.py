"""Console channel: one coloured line per alert event on the worker's terminal."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from raqib.messages import Alert

_STYLE = {"critical": "bold red", "warning": "bold yellow", "info": "cyan"}


class ConsoleChannel:
    """Prints alerts with rich; resolved ones in green."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=False, highlight=False)

    async def send(self, alert: Alert) -> None:
        style = "green" if alert.status == "resolved" else _STYLE.get(alert.severity, "bold")
        when = alert.event_time.strftime("%Y-%m-%d %H:%M")
        self.console.print(
            f"[{style}]ALERT {alert.status.upper()}[/] {when} {escape(f'[{alert.rule}]')} "
            f"{escape(alert.summary)}  id={alert.alert_id}",
            markup=True,
        )

    async def close(self) -> None:
        return None
