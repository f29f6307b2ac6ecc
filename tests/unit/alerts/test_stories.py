"""Stories: alerts sharing evidence are one story; pacing decides page, update, resolution."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.stories import ChannelState, Group, StoryBook, due, notification
from raqib.messages import Alert, Evidence, Window

T0 = datetime(2024, 12, 10, tzinfo=UTC)
PACE = (10.0, 300.0, 14400.0)


def alert(i: int, articles: list[str], *, status: str = "firing", minutes: int = 0) -> Alert:
    t = T0 + timedelta(minutes=minutes)
    return Alert(
        alert_id=f"a{i}",
        rule="entity-spike",
        kind="spike",
        status=status,  # type: ignore[arg-type]
        subject=f"entity:e{i}",
        window=Window(start=t - timedelta(minutes=10), end=t),
        observed=6,
        expected=0.1,
        ratio=60,
        p_value=1e-9,
        severity="warning",
        event_time=t,
        summary="",
        articles=[Evidence(id=a, title=f"عنوان {a[0]}", source="سانا") for a in articles],
    )


def test_shared_articles_make_one_story_transitively_within_the_interval() -> None:
    book = StoryBook(timedelta(hours=6))
    first = book.story_of(alert(1, ["x1", "x2"]))
    assert book.story_of(alert(2, ["x2", "y1"])) == first
    assert book.story_of(alert(3, ["y1"])) == first  # through alert 2
    assert book.story_of(alert(4, ["z1"])) != first
    assert book.story_of(alert(5, ["x1"], minutes=7 * 60)) != first  # too late to join
    assert book.story_of(alert(1, [], status="resolved")) == first  # its own story still


def test_pacing_waits_then_pages_then_updates_then_resolves() -> None:
    state = ChannelState()
    state.add(alert(1, ["x"]), now=0.0)
    assert due(state, 5.0, PACE) is None and due(state, 10.0, PACE) == "page"
    state.delivered({("a1", "firing")}, "page", 10.0)
    state.add(alert(2, ["x"]), now=20.0)
    assert due(state, 100.0, PACE) is None and due(state, 310.0, PACE) == "update"
    state.delivered({("a2", "firing")}, "update", 310.0)
    state.add(alert(1, ["x"], status="resolved"), now=400.0)
    assert due(state, 500.0, PACE) is None  # a2 still fires: the update waits its interval
    state.add(alert(2, ["x"], status="resolved"), now=500.0)
    assert due(state, 500.0, PACE) == "resolved"  # the last one resolved: no waiting
    assert not state.add(alert(2, ["x"], status="resolved"), now=501.0)  # a repeat
    state.delivered({("a1", "resolved"), ("a2", "resolved")}, "resolved", 500.0)
    assert due(state, 10**6, PACE) is None


def test_a_story_over_before_it_was_told_is_one_resolved_notification() -> None:
    state = ChannelState()
    state.add(alert(1, ["x"]), now=0.0)
    state.add(alert(1, ["x"], status="resolved"), now=1.0)
    assert due(state, 10.0, PACE) == "resolved"


def test_a_firing_story_is_repeated_after_the_repeat_interval() -> None:
    state = ChannelState()
    state.add(alert(1, ["x"]), now=0.0)
    state.delivered({("a1", "firing")}, "page", 10.0)
    assert due(state, 10.0 + 14399, PACE) is None and due(state, 10.0 + 14400, PACE) == "update"


def test_a_notification_names_the_story_and_carries_every_pending_event() -> None:
    first, second = alert(1, ["x1", "x2"]), alert(2, ["x2", "y1"], minutes=3)
    group = Group.make("default", "s-1", first)
    state = group.channels.setdefault("hook", ChannelState())
    for a in (first, second):
        group.record(a)
        state.add(a, now=0.0)
    names = {"entity:e1": ("إيران", "Iran"), "entity:e2": ("حلب", "Aleppo")}
    n = notification(group, "hook", "page", now=T0, names=names, sparklines={}, dashboard_url=None)
    assert n.notification_id == "default:s-1:hook:1" and n.kind == "page"
    assert [a.alert_id for a in n.alerts] == ["a1", "a2"]
    assert [s.name_en for s in n.subjects] == ["Iran", "Aleppo"]
    assert [e.id for e in n.evidence] == ["x2", "y1", "x1"]  # once each, latest first
    assert n.title == "عنوان x" and "إيران" in n.summary_ar and "Iran" in n.summary_en
    assert n.outlets == ["سانا"] and n.status == "firing"
