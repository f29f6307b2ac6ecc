"""Where alerts go: channel instances and routes, from ``channels.yaml`` (``RAQIB_CHANNELS``).

Routes are tried in order, as in Alertmanager: the first whose ``match`` holds takes the
alert, and the search stops unless the route says ``continue: true``. A route without
``match`` matches everything (the default route; with no routes at all, every channel
gets every alert). Each route groups what it takes — into *stories* by default (alerts
whose evidence shares articles; see :mod:`alerts.stories`), or by alert fields and labels
(``group_by: [rule, subject]``) — and paces notifications with ``group_wait``,
``group_interval`` and ``repeat_interval``.

The minimal file::

    channels:
      - name: ops-hook
        type: webhook
        url: http://127.0.0.1:9000/hook
        secret_env: RAQIB_HOOK_SECRET
    routes:
      - channels: [ops-hook]

Without a file: the console and a JSON-lines file (``RAQIB_ALERTS_FILE``), every alert.
"""

from __future__ import annotations

from datetime import timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alerts.channels import CHANNELS, ChannelConfig
from raqib.config import load_model
from raqib.durations import Duration
from raqib.messages import Alert

if TYPE_CHECKING:
    ChannelConfigs = ChannelConfig
else:  # every registered channel type, picked by its ``type``
    ChannelConfigs = Annotated[
        Union[tuple(spec.config for spec in CHANNELS.values())],  # noqa: UP007
        Field(discriminator="type"),
    ]
ALERT_FIELDS = ("rule", "kind", "severity", "subject", "status", "alert_id")


class Match(BaseModel):
    """Conditions on an alert, all of which must hold (globs for subject and rule)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: str | None = None
    kind: str | None = None
    severity: str | None = None
    subject: str | None = Field(None, description="glob: entity:*, topic:*, pair:*")
    labels: dict[str, str] = Field(default_factory=dict)

    def holds(self, alert: Alert) -> bool:
        if self.rule is not None and not fnmatchcase(alert.rule, self.rule):
            return False
        if self.kind is not None and alert.kind != self.kind:
            return False
        if self.severity is not None and alert.severity != self.severity:
            return False
        if self.subject is not None and not fnmatchcase(alert.subject, self.subject):
            return False
        return all(alert.labels.get(k) == v for k, v in self.labels.items())


class Route(BaseModel):
    """Which alerts go to which channels, and how they are grouped and paced."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = ""
    match: Match | None = None
    channels: tuple[str, ...] = Field(min_length=1)
    continue_: bool = Field(False, alias="continue")
    group_by: tuple[str, ...] = Field(
        ("story",), description="story, or alert fields / label names"
    )
    group_wait: Duration = Field(timedelta(seconds=10), description="before a first page")
    group_interval: Duration = Field(timedelta(minutes=5), description="between updates")
    repeat_interval: Duration = Field(timedelta(hours=4), description="re-send while firing")

    @model_validator(mode="after")
    def _story_alone(self) -> Route:
        if "story" in self.group_by and len(self.group_by) > 1:
            raise ValueError("group_by: story groups on its own; list fields or labels instead")
        return self

    def group_key(self, alert: Alert, story_id: str) -> str:
        """The aggregation group of ``alert`` on this route."""
        if self.group_by == ("story",):
            return story_id
        parts = []
        for name in self.group_by:
            value = getattr(alert, name) if name in ALERT_FIELDS else alert.labels.get(name, "")
            parts.append(f"{name}={value}")
        return "|".join(parts)


class ChannelsFile(BaseModel):
    """``channels.yaml``: channel instances, routes, and what every notification links."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channels: tuple[ChannelConfigs, ...] = Field(min_length=1)
    routes: tuple[Route, ...] = ()
    story_interval: Duration = Field(
        timedelta(hours=6), description="alerts further apart in event time are other stories"
    )
    dashboard_url: str | None = Field(None, description="linked from every notification")
    retry_attempts: int = Field(8, ge=1, le=100, description="before alerts.dlq")
    retry_max_delay: Duration = timedelta(minutes=5)

    @model_validator(mode="after")
    def _names(self) -> ChannelsFile:
        names = [c.name for c in self.channels]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate channel names: {', '.join(dupes)}")
        for i, route in enumerate(self.routes):
            missing = [c for c in route.channels if c not in names]
            if missing:
                raise ValueError(f"routes.{i}: no channel named {', '.join(missing)}")
        return self

    @property
    def effective_routes(self) -> tuple[Route, ...]:
        """The routes, or one default route to every channel."""
        if self.routes:
            return tuple(
                r if r.name else r.model_copy(update={"name": f"route-{i}"})
                for i, r in enumerate(self.routes)
            )
        return (Route(name="default", channels=tuple(c.name for c in self.channels)),)

    def routes_for(self, alert: Alert) -> list[Route]:
        """The routes that take ``alert``, in order (Alertmanager's ``continue``)."""
        taken = []
        for route in self.effective_routes:
            if route.match is None or route.match.holds(alert):
                taken.append(route)
                if not route.continue_:
                    break
        return taken


def default_channels(alerts_file: Path) -> ChannelsFile:
    """Today's behaviour without a channels file: console and a JSON-lines file."""
    data: dict[str, Any] = {
        "channels": [
            {"name": "console", "type": "console"},
            {"name": "jsonl", "type": "jsonl", "path": str(alerts_file)},
        ],
        "routes": [{"name": "default", "channels": ["console", "jsonl"], "group_wait": "2s"}],
    }
    return ChannelsFile.model_validate(data)


def load_channels(path: str | Path | None, alerts_file: Path) -> ChannelsFile:
    """The channels file given (flag or ``RAQIB_CHANNELS``), or the default channels."""
    if path is None:
        return default_channels(alerts_file)
    return load_model(path, ChannelsFile)
