"""Episodes: one alert_id from firing to resolved; repeats never page again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from alerts.episodes import Episode, MemoryEpisodes, alert_id_for, step, watched_with

T = datetime(2024, 12, 10, 0, 20, tzinfo=UTC)
RESOLVE = timedelta(minutes=30)
COOLDOWN = timedelta(hours=1)
MIN = timedelta(minutes=1)


def advance(
    episode: Episode | None, condition: bool, at: datetime
) -> tuple[Episode | None, str | None]:
    return step(
        episode,
        condition,
        at,
        rule="entity-spike",
        subject="entity:x",
        resolve_after=RESOLVE,
        cooldown=COOLDOWN,
    )


def fired() -> Episode:
    episode, event = advance(None, True, T)
    assert event == "firing" and episode is not None
    return episode


def test_nothing_happens_while_the_condition_is_false() -> None:
    assert advance(None, False, T) == (None, None)


def test_fires_once_with_an_id_from_its_start() -> None:
    episode = fired()
    assert (episode.status, episode.started, episode.last_true) == ("firing", T, T)
    assert episode.alert_id == alert_id_for("entity-spike", "entity:x", T)
    assert episode.resolved_at is None


def test_repeats_do_not_fire_again() -> None:
    episode = fired()
    for minutes in (1, 2, 5, 9):
        episode, event = advance(episode, True, T + minutes * MIN)
        assert event is None and episode is not None
    assert episode.status == "firing" and episode.last_true == T + 9 * MIN
    assert episode.alert_id == fired().alert_id
    late, event = advance(episode, True, T + 3 * MIN)  # an older watermark never rewinds
    assert event is None and late is not None and late.last_true == T + 9 * MIN


def test_resolves_only_after_resolve_after_of_false() -> None:
    episode, _ = advance(fired(), True, T + 5 * MIN)
    episode, event = advance(episode, False, T + 5 * MIN + RESOLVE - timedelta(seconds=1))
    assert event is None and episode is not None and episode.status == "firing"
    episode, event = advance(episode, True, T + 34 * MIN)  # flapped back: same episode
    assert event is None and episode is not None
    episode, event = advance(episode, False, T + 34 * MIN + RESOLVE - MIN)
    assert event is None
    resolved, event = advance(episode, False, T + 34 * MIN + RESOLVE)
    assert event == "resolved" and resolved is not None
    assert resolved.status == "resolved" and resolved.resolved_at == T + 34 * MIN + RESOLVE
    assert resolved.alert_id == fired().alert_id
    again, event = advance(resolved, False, T + 5 * RESOLVE)
    assert (again, event) == (resolved, None)


def test_cooldown_blocks_refiring_then_allows_a_new_episode() -> None:
    resolved, _ = advance(fired(), False, T + RESOLVE)
    assert resolved is not None and resolved.resolved_at == T + RESOLVE
    blocked, event = advance(resolved, True, T + RESOLVE + COOLDOWN - timedelta(seconds=1))
    assert (blocked, event) == (resolved, None)
    reopened, event = advance(resolved, True, T + RESOLVE + COOLDOWN)
    assert event == "firing" and reopened is not None
    assert reopened.started == T + RESOLVE + COOLDOWN and reopened.resolved_at is None
    assert reopened.alert_id != resolved.alert_id


def test_alert_id_is_stable_per_start() -> None:
    assert alert_id_for("r", "entity:x", T) == alert_id_for("r", "entity:x", T)
    others = {
        alert_id_for("r", "entity:x", T + timedelta(seconds=1)),
        alert_id_for("r", "entity:y", T),
        alert_id_for("r2", "entity:x", T),
    }
    assert alert_id_for("r", "entity:x", T) not in others and len(others) == 3


def test_memory_episodes_keep_state_and_list_open_ones() -> None:
    async def scenario() -> None:
        store = MemoryEpisodes()
        assert await store.load("entity-spike", "entity:x") is None
        assert await store.load_watermark() is None
        episode = fired()
        await store.save(episode)
        other = episode.model_copy(update={"subject": "entity:a"})
        await store.save(other)
        assert await store.load("entity-spike", "entity:x") == episode
        assert await store.open_episodes() == [
            ("entity-spike", "entity:a"),
            ("entity-spike", "entity:x"),
        ]
        resolved, _ = advance(episode, False, T + RESOLVE)
        assert resolved is not None
        await store.save(resolved)
        assert await store.open_episodes() == [("entity-spike", "entity:a")]
        await store.save_watermark(T + RESOLVE)
        assert await store.load_watermark() == T + RESOLVE

    asyncio.run(scenario())


DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


@pytest.mark.parametrize(
    ("stored", "backfill", "after"),
    [
        # never watched: the history is where watching began
        ((None, None), (0, 2), (0, 2)),
        # the history ends where watching began, or overlaps it: extends it
        ((2, 3), (0, 2), (0, 3)),
        ((2, 3), (1, 5), (1, 5)),
        # the history ends 5 hours before watching began: within the stream gap (6h)
        ((2, 3), (0, 2 - 5 / 24), (0, 3)),
        # a gap of a day after the history: it was not watched up to now, nothing changes
        ((5, 6), (0, 2), (5, 6)),
        # a later period after a gap: the stream resumed there (its warm-up restarts)
        ((0, 1), (4, 6), (4, 6)),
        # a backfill run twice changes nothing the second time
        ((0, 2), (0, 2), (0, 2)),
    ],
)
def test_a_backfill_moves_the_start_and_watermark_as_watching_would(
    stored: tuple[float | None, float | None],
    backfill: tuple[float, float],
    after: tuple[float, float],
) -> None:
    def at(days: float | None) -> datetime | None:
        return None if days is None else T + days * DAY

    since, until = at(backfill[0]), at(backfill[1])
    assert since is not None and until is not None
    assert watched_with(at(stored[0]), at(stored[1]), since, until) == (
        at(after[0]),
        at(after[1]),
    )


def test_memory_episodes_record_a_backfill() -> None:
    async def scenario() -> tuple[datetime, datetime | None]:
        store = MemoryEpisodes()
        await store.backfilled(T, T + DAY)
        started = await store.started(T + DAY + HOUR)  # the engine's first live mention
        return started, await store.load_watermark()

    assert asyncio.run(scenario()) == (T, T + DAY)
