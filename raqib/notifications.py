"""What reaches a person: one notification per story and channel, not one per alert.

Alerts whose evidence shares articles (directly or through other alerts) are one *story*.
A channel hears of a story as a ``page`` (its first notification), then ``update``\\ s
(later alerts of the same story; a channel that can edit its message edits it), then
``resolved`` (its last alert resolved). Each notification lists the alert events it
delivers (``alerts``: nothing is hidden by grouping) and everything that fired in the
story so far (``subjects``), with the evidence once.

This is the message every channel renders (and the body the webhook and Kafka channels
send as JSON). It lives in the contract package: channels, the router and outside tools
read it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from raqib.messages import Alert, Evidence

NotificationKind = Literal["page", "update", "resolved"]


class SubjectLine(BaseModel):
    """One subject that fired in the story, with its latest figures."""

    subject: str
    name_ar: str
    name_en: str
    rule: str
    kind: str
    status: Literal["firing", "resolved"]
    alert_id: str
    observed: int
    expected: float
    ratio: float
    p_value: float
    severity: str
    sparkline: str = Field("", description="the subject's last 24 hours, a bar per hour")
    window_start: datetime
    window_end: datetime


class Notification(BaseModel):
    """One message about one story to one channel.

    ``notification_id`` is stable (story, channel, sequence number): the idempotency key
    a receiver dedupes on. ``status`` is the story's: resolved once every alert of it has.
    """

    notification_id: str
    story_id: str
    channel: str
    kind: NotificationKind
    seq: int = Field(ge=1)
    status: Literal["firing", "resolved"]
    severity: str
    title: str = Field(description="the story's most cited article title")
    outlets: list[str] = Field(default_factory=list)
    first_seen: datetime = Field(description="event time of the story's first evidence")
    last_seen: datetime = Field(description="event time of its latest evidence")
    summary_ar: str
    summary_en: str
    subjects: list[SubjectLine] = Field(default_factory=list)
    alerts: list[Alert] = Field(
        default_factory=list, description="the alert events this notification delivers"
    )
    evidence: list[Evidence] = Field(default_factory=list)
    dashboard_url: str | None = None
    created_at: datetime = Field(description="wall time the notification was made")

    @property
    def headline(self) -> str:
        """One line for a subject line, a title or a log: what, how many, how bad."""
        mark = {"page": "", "update": "[update] ", "resolved": "[resolved] "}[self.kind]
        return f"{mark}{self.severity.upper()}: {self.title} ({len(self.subjects)} subjects)"
