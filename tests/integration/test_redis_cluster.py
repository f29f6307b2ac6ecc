"""raqib on a real Redis Cluster of three nodes (``RAQIB_REDIS_CLUSTER=true``).

Counts, episodes, the router's state, silences and the producers' deduplication work on a
cluster as on one server; a batch costs one round trip per node (the cluster pipeline
writes every node at once); keys written before they were hash-tagged are taken over; the
commands (``top``, ``silence``, ``backfill``, ``check-config``) take the cluster from the
settings; and a node restarted mid-stream costs retries, never a count.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis.cluster
from click.testing import CliRunner
from prometheus_client import CollectorRegistry
from redis import Redis as SyncRedis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_fixed

from alerts import ChannelsFile, Router, RouterMetrics, RouterStore
from alerts.channels.base import Context
from alerts.episodes import Episode, RedisEpisodes
from alerts.stories import StoryBook
from processors.counts import RedisCounts
from producers.dedupe import Deduper, Fingerprint
from producers.scenario import expand
from raqib.cli import main
from raqib.counting import Recorded, hour_of, minute_of
from raqib.embedded import EmbeddedRedis, EmbeddedRedisCluster
from raqib.messages import Mention
from raqib.notifications import Notification
from raqib.redis_cluster import REDIS_ERRORS, AsyncRedis
from raqib.security import redis_client, redis_sync_client
from raqib.settings import Settings
from tests.integration.producers.test_dedupe_redis import STORIES
from tests.integration.test_backfill import DRILL
from tests.integration.test_top import many

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
T = TypeVar("T")
T0 = datetime(2024, 12, 1, 9, 0, tzinfo=UTC)
SUBJECTS = [f"entity:s{i}" for i in range(48)]
"""Enough subjects that every node holds some (16384 slots in three ranges)."""


def settings_for(server: EmbeddedRedis | EmbeddedRedisCluster, prefix: str) -> Settings:
    cluster = isinstance(server, EmbeddedRedisCluster)
    return Settings(redis=server.url, redis_cluster=cluster, redis_prefix=prefix)


def run(settings: Settings, work: Callable[[AsyncRedis], Awaitable[T]]) -> T:
    """``work`` with the client the settings make (a cluster client on the cluster)."""

    async def go() -> T:
        client = redis_client(settings)
        try:
            return await work(client)
        finally:
            await client.aclose()

    return asyncio.run(go())


def env_of(settings: Settings) -> dict[str, str]:
    return {
        "RAQIB_REDIS": settings.redis,
        "RAQIB_REDIS_CLUSTER": str(settings.redis_cluster).lower(),
        "RAQIB_REDIS_PREFIX": settings.redis_prefix,
    }


def keys_per_node(cluster: EmbeddedRedisCluster, pattern: str) -> list[int]:
    """How many keys matching ``pattern`` each node holds."""
    found = []
    for node in cluster.nodes:
        client = SyncRedis.from_url(node.url)
        try:
            found.append(sum(1 for _ in client.scan_iter(match=pattern, count=10_000)))
        finally:
            client.close()
    return found


@contextmanager
def round_trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every packet of commands the asyncio clients send (a pipeline to one node is one)."""
    sent: list[str] = []
    send = AbstractConnection.send_packed_command

    async def counting(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        sent.append(f"{self.host}:{self.port}")
        await send(self, command, check_health)

    with monkeypatch.context() as patch:
        patch.setattr(AbstractConnection, "send_packed_command", counting)
        yield sent


async def connect_everywhere(client: AsyncRedis) -> None:
    """Open a connection to every node, so that what is counted next is the commands."""
    if isinstance(client, RedisCluster):
        await client.ping(target_nodes=RedisCluster.PRIMARIES)
    else:
        await client.ping()


def mention(subject: str, article: str, at: datetime, seq: str | None = None) -> Mention:
    return Mention(
        subject=subject, article_id=article, event_time=at, source="سانا", title="خبر", seq=seq
    )


@pytest.fixture(params=["one server", "cluster"])
def server(request: pytest.FixtureRequest) -> EmbeddedRedis | EmbeddedRedisCluster:
    """The shared single Redis, or this module's cluster."""
    name = "redis_server" if request.param == "one server" else "redis_cluster"
    found: EmbeddedRedis | EmbeddedRedisCluster = request.getfixturevalue(name)
    return found


def test_a_batch_is_counted_in_one_round_trip_per_node(
    server: EmbeddedRedis | EmbeddedRedisCluster,
    unique: str,
    monkeypatch: pytest.MonkeyPatch,
    report: Callable[[str], None],
) -> None:
    settings = settings_for(server, unique)
    batch = [
        mention(s, f"a{j}", T0 + timedelta(minutes=j), seq=f"0:{j}")
        for s in SUBJECTS
        for j in (0, 1)
    ]
    minutes = list(range(minute_of(T0), minute_of(T0) + 2))

    async def work(client: AsyncRedis) -> tuple[list[Recorded], int, int, list[Recorded]]:
        counts = RedisCounts(client, prefix=unique)
        await counts.record_many([mention(s, "w", T0) for s in SUBJECTS])
        await connect_everywhere(client)
        with round_trips(monkeypatch) as sent:
            flags = await counts.record_many(batch)
            trips = len(sent)
            await counts.load(SUBJECTS, minutes, [hour_of(T0)])
            load_trips = len(sent) - trips
        again = await counts.record_many(batch)
        return flags, trips, load_trips, again

    flags, trips, load_trips, again = run(settings, work)
    nodes = len(server.nodes) if isinstance(server, EmbeddedRedisCluster) else 1
    report(
        f"record_many of {len(batch)} mentions, {len(SUBJECTS)} subjects: {trips} round trips "
        f"on {nodes} node(s); load: {load_trips}"
    )
    assert flags == [Recorded.NEW] * len(batch)
    assert again == [Recorded.REPLAY] * len(batch)  # same stamps: a replay, counted once
    assert trips == nodes  # one pipeline per node, sent at once
    # hour probe, hour counts, minute buckets; then the articles they name, on the nodes
    # that hold those (three here: "w", "a0", "a1")
    assert 3 * nodes < load_trips <= 3 * nodes + min(nodes, 3)
    if isinstance(server, EmbeddedRedisCluster):
        assert all(n > 0 for n in keys_per_node(server, f"{unique}:{{*}}:seen:*"))


def test_a_node_that_lost_the_script_gets_it_again(
    redis_cluster: EmbeddedRedisCluster, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(redis_cluster, unique)
    batch = [mention(s, "a1", T0) for s in SUBJECTS]

    async def work(client: AsyncRedis) -> tuple[list[Recorded], int]:
        counts = RedisCounts(client, prefix=unique)
        await counts.record_many([mention(s, "w", T0) for s in SUBJECTS])
        for node in redis_cluster.nodes:  # as a restarted or promoted node starts
            plain = SyncRedis.from_url(node.url)
            plain.script_flush()
            plain.close()
        await connect_everywhere(client)
        with round_trips(monkeypatch) as sent:
            flags = await counts.record_many(batch)
        return flags, len(sent)

    flags, trips = run(settings, work)
    assert flags == [Recorded.NEW] * len(batch)
    assert trips == 3 * 3  # refused on each node, loaded on each, sent again to each


def test_episodes_and_the_partition_state_round_trip_on_the_cluster(
    redis_cluster: EmbeddedRedisCluster, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(redis_cluster, unique)
    at = T0 + timedelta(minutes=5)

    async def work(client: AsyncRedis) -> tuple[int, list[Episode | None], list[Any]]:
        store = RedisEpisodes(client, prefix=unique, scope="raqib:2")
        assert await store.open_episodes() == []
        await store.started(T0)
        for subject in SUBJECTS:
            episode = Episode(
                rule="entity-spike",
                subject=subject,
                alert_id=subject[-8:],
                status="firing",
                started=T0,
                last_true=at,
            )
            await store.save(episode)
        await store.save_last_seen("source:sana", at)
        await store.save_watermark(at)
        await store.save_position((at, "a9", 41))
        await connect_everywhere(client)
        with round_trips(monkeypatch) as sent:
            await store.flush()
        again = RedisEpisodes(client, prefix=unique, scope="raqib:2")
        await again.preload([("entity-spike", s) for s in SUBJECTS])
        loaded = [await again.load("entity-spike", s) for s in SUBJECTS]
        facts = [
            await again.load_watermark(),
            await again.load_position(),
            await again.started(at),
            await again.load_last_seen(),
            len(await again.open_episodes()),
        ]
        return len(sent), loaded, facts

    trips, loaded, facts = run(settings, work)
    assert trips == 3 + 1  # the episodes on every node at once, then the partition's node
    assert [e.subject for e in loaded if e is not None] == SUBJECTS
    assert facts == [at, (at, "a9", 41), T0, {"source:sana": at}, len(SUBJECTS)]
    partition = keys_per_node(redis_cluster, f"{unique}:{{episodes:raqib:2}}:*")
    assert sorted(partition) == [0, 0, 5]  # open, wm, start, last, pos: one slot
    assert all(n > 0 for n in keys_per_node(redis_cluster, f"{unique}:{{*}}:ep:*"))


def test_state_under_the_old_untagged_names_is_taken_over_once(
    server: EmbeddedRedis | EmbeddedRedisCluster, unique: str
) -> None:
    """A deployment upgraded in place finds its watermarks, open episodes, silences'
    last-seen times and open stories where the older version left them."""
    settings = settings_for(server, unique)
    old = f"{unique}:episodes:raqib:0"
    at = T0.isoformat()

    async def work(client: AsyncRedis) -> tuple[list[Any], list[int], int]:
        await client.set(f"{old}:wm", at, ex=3600)
        await client.set(f"{old}:start", at, ex=3600)
        await client.sadd(f"{old}:open", "entity-spike|entity:iran")
        await client.hset(f"{old}:last", "source:sana", at)
        await client.hset(f"{unique}:router:alerts", "3f2a9c", "story-1")
        await client.set(f"{unique}:{{episodes:raqib:0}}:pos", "[]")  # written since: wins
        await client.set(f"{old}:pos", json.dumps([at, "a1", 7]))
        store = RedisEpisodes(client, prefix=unique, scope="raqib:0")
        facts = [
            await store.load_watermark(),
            await store.open_episodes(),
            await store.load_last_seen(),
            await store.started(T0 + timedelta(hours=1)),
        ]
        ttl = await client.ttl(f"{unique}:{{episodes:raqib:0}}:wm")
        book = StoryBook(timedelta(hours=6))
        await RouterStore(client, unique).load(book)
        facts.append(dict(book.alerts))
        left = [
            await client.exists(f"{old}:{name}") for name in ("wm", "start", "open", "last", "pos")
        ]
        left.append(await client.exists(f"{unique}:router:alerts"))
        return facts, left, ttl

    facts, left, ttl = run(settings, work)
    assert facts == [
        T0,
        [("entity-spike", "entity:iran")],
        {"source:sana": T0},
        T0,
        {"3f2a9c": "story-1"},
    ]
    assert left == [0] * 6
    assert 3500 < ttl <= 3600  # the TTL came along


async def _nowhere(notification: Notification, error: str) -> None:
    raise AssertionError(f"nothing is dead-lettered here: {error}")


def test_the_router_records_and_delivers_on_the_cluster(
    redis_cluster: EmbeddedRedisCluster,
    unique: str,
    notification: Callable[..., Notification],
    tmp_path: Path,
) -> None:
    settings = settings_for(redis_cluster, unique)
    alert = notification().alerts[0]
    config = ChannelsFile.model_validate(
        {
            "channels": [{"name": "file", "type": "jsonl", "path": str(tmp_path / "a.jsonl")}],
            "routes": [{"channels": ["file"], "group_wait": "0s"}],
        }
    )

    def router(client: AsyncRedis) -> Router:
        return Router.build(
            config,
            Context(settings=settings),
            store=RouterStore(client, unique),
            names=lambda s: ("أمير حاتمي", "Amir Hatami"),
            dead_letter=_nowhere,
            metrics=RouterMetrics.create(CollectorRegistry()),
        )

    async def work(client: AsyncRedis) -> tuple[int, int]:
        first = router(client)
        await first.accept(alert)  # recorded in one MULTI on the {router} slot
        await first.tick()
        for _ in range(100):
            if (tmp_path / "a.jsonl").exists():
                break
            await asyncio.sleep(0.02)
        await first.close()
        successor = router(client)
        await successor.start()
        groups = len(successor.groups)
        await successor.close()
        return groups, len((tmp_path / "a.jsonl").read_text("utf-8").splitlines())

    groups, delivered = run(settings, work)
    assert (groups, delivered) == (1, 1)


def test_the_commands_take_the_cluster_from_the_settings(
    redis_cluster: EmbeddedRedisCluster, unique: str
) -> None:
    settings = settings_for(redis_cluster, unique)
    env = env_of(settings)
    runner = CliRunner()
    checked = runner.invoke(main, ["check-config"], env=env)
    assert checked.exit_code == 0, checked.output
    assert "a Redis Cluster (RAQIB_REDIS_CLUSTER)" in checked.output
    wrong_db = runner.invoke(main, ["check-config"], env={**env, "RAQIB_REDIS": "redis://h:1/2"})
    assert wrong_db.exit_code == 1 and "database 0 only" in wrong_db.output

    async def fill(client: AsyncRedis) -> None:
        counts = RedisCounts(client, prefix=unique)
        await counts.record_many(
            many("entity:iran", T0, timedelta(minutes=6), 10)
            + many("entity:amir-hatami", T0 + timedelta(minutes=30), timedelta(minutes=3), 8)
            + many("topic:sanctions", T0 + timedelta(minutes=40), timedelta(minutes=1), 5)
        )

    run(settings, fill)
    holders = [n for n in keys_per_node(redis_cluster, f"{unique}:{{*}}:m:*") if n > 0]
    assert len(holders) >= 2  # top reads every node
    listed = runner.invoke(main, ["top", "--json", "--window", "1h"], env=env)
    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.output.splitlines()]
    assert [(r["subject"], r["observed"]) for r in rows] == [
        ("entity:iran", 10),
        ("entity:amir-hatami", 8),
        ("topic:sanctions", 5),
    ]

    added = runner.invoke(main, ["silence", "add", "--match", "subject=entity:iran"], env=env)
    assert added.exit_code == 0, added.output
    silence_id = added.output.split()[1]
    assert silence_id in runner.invoke(main, ["silence", "list"], env=env).output
    expired = runner.invoke(main, ["silence", "expire", silence_id], env=env)
    assert expired.exit_code == 0, expired.output


def test_a_backfill_on_the_cluster_counts_once_and_marks_the_partitions_watched(
    redis_cluster: EmbeddedRedisCluster, unique: str, tmp_path: Path
) -> None:
    settings = settings_for(redis_cluster, unique)
    env = env_of(settings) | {"RAQIB_APP_ID": unique, "RAQIB_PARTITIONS": "2"}
    history = tmp_path / "history.jsonl"
    quiet = [a for a in expand(DRILL) if "-quiet-day-" in a["id"]]
    history.write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in quiet), "utf-8")
    runner = CliRunner()
    first = runner.invoke(main, ["backfill", str(history)], env=env)
    assert first.exit_code == 0, first.output
    assert first.output.startswith("backfill: 48 articles, ")
    second = runner.invoke(main, ["backfill", str(history)], env=env)
    assert "0 mentions counted" in second.output and "2 partitions" in second.output

    async def starts(client: AsyncRedis) -> list[Any]:
        return [await client.get(f"{unique}:{{episodes:{unique}:{p}}}:start") for p in (0, 1)]

    assert all(run(settings, starts))


def test_producers_deduplicate_on_the_cluster(
    redis_cluster: EmbeddedRedisCluster, unique: str
) -> None:
    client = redis_sync_client(settings_for(redis_cluster, unique))
    assert isinstance(client, redis.cluster.RedisCluster)
    try:
        dedupe = Deduper(client, prefix=unique, ttl=timedelta(hours=1))
        araghchi = STORIES["araghchi"]
        assert not dedupe.check(Fingerprint.of("a1", "", araghchi["original"])).duplicate
        assert dedupe.check(Fingerprint.of("a1", "", "another text")).reason == "id"
        rewrite = dedupe.check(Fingerprint.of("a3", "", araghchi["rewrites"][0]))
        assert (rewrite.reason, rewrite.duplicate_of) == ("similar", "a1")
        fresh = Fingerprint.of("a4", "", araghchi["independent"])
        assert not dedupe.check(fresh).duplicate
        dedupe.release(fresh)  # its keys hash to several slots
        assert not dedupe.seen("a4")
    finally:
        client.close()
    assert sum(keys_per_node(redis_cluster, f"{unique}:dedupe:*")) > 0


def test_a_node_restarted_mid_stream_costs_retries_not_counts(
    redis_cluster: EmbeddedRedisCluster, unique: str, report: Callable[[str], None]
) -> None:
    """The worker's retry (tenacity, on every Redis error) over redis-py's own: the batches
    that met the stopped node are recorded once it is back, with its data; none twice."""
    settings = settings_for(redis_cluster, unique)
    node = redis_cluster.nodes[1]
    batches = [
        [mention(s, f"b{b}", T0 + timedelta(minutes=b), seq=f"0:{b}") for s in SUBJECTS]
        for b in range(12)
    ]
    retries: list[str] = []

    async def work(client: AsyncRedis) -> list[list[Recorded]]:
        counts = RedisCounts(client, prefix=unique)
        flags = []
        for b, batch in enumerate(batches):
            if b == 4:  # batches meet the stopped node for two seconds (started from this
                node.stop()  # thread: a child dies with the thread that started it)
                asyncio.get_running_loop().call_later(2.0, node.start)
            retrying = AsyncRetrying(
                wait=wait_fixed(0.2),
                stop=stop_after_delay(60),
                retry=retry_if_exception_type(REDIS_ERRORS),
                before_sleep=lambda state: retries.append(repr(state.outcome.exception())),
            )
            async for attempt in retrying:
                with attempt:
                    flags.append(await counts.record_many(batch))
        return flags

    flags = run(settings, work)
    redis_cluster.wait_until_ok()
    kinds = sorted({r.split("(", 1)[0] for r in retries})
    report(f"a node restarted under 12 batches: {len(retries)} retries ({', '.join(kinds)})")
    assert retries, "no batch met the stopped node"
    assert all(f in (Recorded.NEW, Recorded.REPLAY) for batch in flags for f in batch)

    async def read(client: AsyncRedis) -> int:
        counts = RedisCounts(client, prefix=unique)
        return sum([await counts.hours(s, hour_of(T0), hour_of(T0)) for s in SUBJECTS])

    assert run(settings, read) == len(SUBJECTS) * len(batches)  # every pair counted once
