"""Stories: the alerts of one news event told as one notification thread per channel.

Thirty-six alerts for one story (the actors, their pairs, the topics) are one event for
the person on duty. Alerts whose evidence shares articles — directly, or through other
alerts — within ``interval`` of event time are one *story* (:class:`StoryBook`). Each
route groups what it takes by story (or by fields, Alertmanager's ``group_by``) and keeps,
per group and channel, what has been told and what is pending (:class:`Group`); the pacing
rules (:func:`due`) decide when a page, an update or the resolution goes out, in wall time
as Alertmanager does (``group_wait``, ``group_interval``, ``repeat_interval``);
:func:`notification` puts a group into the message a channel renders.

A story that is linked to another one only after both were paged stays two threads (the
link is recorded: later alerts join the older story).

>>> from raqib.messages import Alert, Evidence, Window
>>> from datetime import UTC, datetime, timedelta
>>> t = datetime(2024, 12, 10, tzinfo=UTC)
>>> def alert(i, articles):
...     return Alert(alert_id=f"a{i}", rule="r", kind="spike", status="firing",
...         subject=f"entity:e{i}", window=Window(start=t, end=t), observed=5, expected=0.1,
...         ratio=50, p_value=1e-9, severity="warning", event_time=t, summary="",
...         articles=[Evidence(id=a) for a in articles])
>>> book = StoryBook(timedelta(hours=6))
>>> book.story_of(alert(1, ["x", "y"])) == book.story_of(alert(2, ["y", "z"]))
True
>>> book.story_of(alert(3, ["w"])) == book.story_of(alert(1, []))
False
"""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from raqib.messages import Alert, Evidence
from raqib.notifications import Notification, NotificationKind, SubjectLine

AlertKey = tuple[str, str]
"""(alert_id, status): one alert event; a repeat of it is the same event."""
MAX_EVIDENCE = 20


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class StoryBook:
    """Which story each alert belongs to, by the articles their evidence shares."""

    def __init__(self, interval: timedelta) -> None:
        self.interval = interval
        self.articles: dict[str, tuple[str, datetime]] = {}  # article -> (story, last seen)
        self.alerts: dict[str, str] = {}  # alert_id -> story

    def story_of(self, alert: Alert) -> str:
        """The story of ``alert``: the one its alert id already has, else one an article
        of its evidence belongs to (within ``interval``; the first by id when several, so
        that every replay picks the same), else a new one."""
        story = self.alerts.get(alert.alert_id)
        if story is None:
            touched = sorted(
                s
                for a in alert.articles
                if (hit := self.articles.get(a.id)) is not None
                and abs(alert.event_time - hit[1]) <= self.interval
                for s in [hit[0]]
            )
            story = touched[0] if touched else f"s-{_digest(alert.alert_id)}"
            self.alerts[alert.alert_id] = story
        for a in alert.articles:
            known = self.articles.get(a.id)
            if known is None or known[1] < alert.event_time:
                self.articles[a.id] = (known[0] if known else story, alert.event_time)
        return story

    def forget_before(self, at: datetime) -> None:
        """Drop articles last seen before ``at`` (stories older than the interval)."""
        for article in [a for a, (_, seen) in self.articles.items() if seen < at]:
            del self.articles[article]


class ChannelState(BaseModel):
    """One group's thread on one channel: what was told, what waits."""

    seq: int = 0
    pending: list[Alert] = Field(default_factory=list)
    routed: dict[str, str] = Field(default_factory=dict, description="alert_id -> status")
    first_pending_at: float | None = None
    last_sent_at: float | None = None
    ref: dict[str, str] | None = None
    resolved_sent: bool = False
    failures: int = 0
    retry_at: float | None = None
    attempt: Notification | None = Field(
        None, description="a notification that failed: retried as it was, same key and events"
    )

    def firing(self) -> bool:
        return any(status == "firing" for status in self.routed.values())

    def add(self, alert: Alert, now: float) -> bool:
        """Queue an alert event; False if this channel has it already (a repeat)."""
        if self.routed.get(alert.alert_id) == alert.status or (
            alert.status == "firing" and alert.alert_id in self.routed
        ):
            return False
        self.routed[alert.alert_id] = alert.status
        self.pending.append(alert)
        if self.first_pending_at is None:
            self.first_pending_at = now
        return True

    def delivered(self, keys: set[AlertKey], kind: NotificationKind, now: float) -> None:
        """Record a notification that carried ``keys``."""
        self.pending = [a for a in self.pending if (a.alert_id, a.status) not in keys]
        self.first_pending_at = now if self.pending else None
        self.seq += 1
        self.last_sent_at = now
        self.resolved_sent = kind == "resolved"
        self.failures = 0
        self.retry_at = None
        self.attempt = None


class Group(BaseModel):
    """A route's aggregation group (a story, by default) and its channels' threads."""

    group_id: str
    route: str
    latest: dict[str, Alert] = Field(default_factory=dict, description="alert_id -> event")
    fired: dict[str, Alert] = Field(
        default_factory=dict, description="alert_id -> its firing event (the peak figures)"
    )
    channels: dict[str, ChannelState] = Field(default_factory=dict)
    first_event: datetime
    last_event: datetime

    @classmethod
    def make(cls, route: str, key: str, alert: Alert) -> Group:
        return cls(
            group_id=f"{route}:{key}",
            route=route,
            first_event=alert.event_time,
            last_event=alert.event_time,
        )

    def record(self, alert: Alert) -> None:
        if alert.status == "firing":
            self.fired.setdefault(alert.alert_id, alert)
        current = self.latest.get(alert.alert_id)
        if current is None or alert.status == "resolved" or current.status == "firing":
            if current is not None and not alert.articles:
                # a resolution cites no articles: keep those that made the story, so that
                # the resolved notification still names it (title, outlets, evidence)
                alert = alert.model_copy(update={"articles": current.articles})
            self.latest[alert.alert_id] = alert
        self.first_event = min(self.first_event, alert.event_time)
        self.last_event = max(self.last_event, alert.event_time)

    def finished(self) -> bool:
        """Told everything, resolved everywhere: nothing left to send."""
        return all(
            not st.pending and (st.resolved_sent or not st.firing())
            for st in self.channels.values()
        )


Pace = tuple[float, float, float]
"""group_wait, group_interval, repeat_interval, in seconds."""


def due(state: ChannelState, now: float, pace: Pace) -> NotificationKind | None:
    """What this thread should send now, if anything (Alertmanager's pacing, except that
    a subject resolving while the story still fires is no news: it waits for the next
    update, the resolution or the repeat)."""
    wait, interval, repeat = pace
    if state.retry_at is not None and now < state.retry_at:
        return None
    if state.attempt is not None:  # a retry: the same notification
        return state.attempt.kind
    if state.pending:
        assert state.first_pending_at is not None  # noqa: S101 - set with pending
        if not state.firing():  # everything routed here has resolved
            if state.seq == 0 or not state.resolved_sent:
                return "resolved" if now - state.first_pending_at >= wait else None
        if state.seq == 0 or state.resolved_sent:
            return "page" if now - state.first_pending_at >= wait else None
        assert state.last_sent_at is not None  # noqa: S101 - set once sent
        news = any(a.status == "firing" for a in state.pending)
        if news and now - state.last_sent_at >= interval:
            return "update"
    if state.firing() and state.last_sent_at is not None and now - state.last_sent_at >= repeat:
        return "update"
    return None


Names = dict[str, tuple[str, str]]


def notification(
    group: Group,
    channel: str,
    kind: NotificationKind,
    *,
    now: datetime,
    names: Names,
    sparklines: dict[str, str],
    dashboard_url: str | None,
) -> Notification:
    """The message for one thread: every subject routed here with its latest figures,
    the pending events, the evidence once, the most cited title."""
    state = group.channels[channel]
    routed = [group.latest[a] for a in state.routed if a in group.latest]
    lines = [
        _line(a, group.fired.get(a.alert_id, a), names, sparklines)
        for a in sorted(routed, key=_order)
    ]
    evidence: dict[str, Evidence] = {}
    cited: Counter[str] = Counter()
    outlets: Counter[str] = Counter()
    for alert in sorted(routed, key=lambda a: a.event_time, reverse=True):
        for e in alert.articles:
            cited[e.title] += 1
            if e.id not in evidence:
                evidence[e.id] = e
                outlets[e.source] += 1
    title = cited.most_common(1)[0][0] if cited else (lines[0].name_en if lines else "")
    status: Literal["firing", "resolved"] = (
        "firing" if any(a.status == "firing" for a in routed) else "resolved"
    )
    severity = max((a.severity for a in routed), key=_severity_rank, default="info")
    ar = "، ".join(dict.fromkeys(line.name_ar for line in lines))
    en = ", ".join(dict.fromkeys(line.name_en for line in lines))
    told = "انتهى" if status == "resolved" else "يتصاعد"
    return Notification(
        notification_id=f"{group.group_id}:{channel}:{state.seq + 1}",
        story_id=group.group_id,
        channel=channel,
        kind=kind,
        seq=state.seq + 1,
        status=status,
        severity=severity,
        title=title,
        outlets=[o for o, _ in outlets.most_common() if o],
        first_seen=min((a.window.start for a in routed), default=group.first_event),
        last_seen=max((a.event_time for a in routed), default=group.last_event),
        summary_ar=f"خبر {told}: {len(lines)} مواضيع — {ar}",
        summary_en=f"Story {status}: {len(lines)} subjects — {en}",
        subjects=lines,
        alerts=list(state.pending),
        evidence=list(evidence.values())[:MAX_EVIDENCE],
        dashboard_url=dashboard_url,
        created_at=now,
    )


def _order(alert: Alert) -> tuple[int, int, str]:
    kind = alert.subject.partition(":")[0]
    return (
        0 if alert.status == "firing" else 1,
        ["entity", "topic", "pair"].index(kind) if kind in ("entity", "topic", "pair") else 3,
        alert.subject,
    )


def _severity_rank(severity: str) -> int:
    return {"info": 0, "warning": 1, "critical": 2}.get(severity, 0)


def _line(alert: Alert, peak: Alert, names: Names, sparklines: dict[str, str]) -> SubjectLine:
    """A subject's line: its status now, the figures it fired with."""
    ar, en = names.get(alert.subject, (alert.subject, alert.subject))
    return SubjectLine(
        subject=alert.subject,
        name_ar=ar,
        name_en=en,
        rule=alert.rule,
        kind=alert.kind,
        status=alert.status,
        alert_id=alert.alert_id,
        observed=peak.observed,
        expected=peak.expected,
        ratio=peak.ratio,
        p_value=peak.p_value,
        severity=alert.severity,
        sparkline=sparklines.get(alert.subject, ""),
        window_start=peak.window.start,
        window_end=peak.window.end,
    )
