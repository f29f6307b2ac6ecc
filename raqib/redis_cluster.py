"""One code path for a single Redis and a Redis Cluster (``RAQIB_REDIS_CLUSTER``).

A cluster spreads keys over its primaries by hash slot (the part of a key in braces, when
there is one): a command, a Lua script or a MULTI may touch the keys of one slot only.
redis-py's cluster client routes each command by its keys' slot, and its pipeline sends each
node its share of a pipeline, every node at once — one round trip per node, concurrently.
What raqib needs beyond that is here:

- :data:`AsyncRedis` and :data:`SyncRedis`, the clients every stage accepts (built by
  :mod:`raqib.security` from the settings);
- :func:`eval_many`: one Lua script called many times (each call on one slot's keys) in one
  pipeline. redis-py's cluster pipeline refuses ``evalsha`` and loads no script, so EVALSHA
  is queued as a plain command, and the calls a node refuses with NOSCRIPT (restarted,
  promoted, new: its script cache is empty) are sent again once the script is loaded;
- :func:`mget` and :func:`mget_sync`: values of keys of many slots (many subjects) in one
  round trip per node — one MGET on a single Redis, redis-py's ``mget_nonatomic`` (one
  MGET per slot, pipelined) on a cluster;
- :func:`pipe_mget`: an MGET of one slot's keys in a pipeline, which the cluster pipeline's
  ``mget`` method refuses (it could span slots);
- :func:`adopt_renamed`: keys moved to hash-tagged names, taken over from their old name once
  (RENAMENX on one server; DUMP and RESTORE across the slots of a cluster);
- :data:`REDIS_ERRORS`: what a retry waits out (a cluster with no node answering raises
  ``RedisClusterException``, which is no ``RedisError``).

Example::

    replies = await eval_many(redis, redis.register_script(LUA), [(keys, args), ...])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis
import redis.asyncio
import redis.asyncio.client
import redis.asyncio.cluster
import redis.cluster
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisClusterException, RedisError, ResponseError

AsyncRedis = redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster
SyncRedis = redis.Redis | redis.cluster.RedisCluster
AsyncPipeline = redis.asyncio.client.Pipeline | redis.asyncio.cluster.ClusterPipeline
REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisError, RedisClusterException, OSError)
"""Redis unreachable or failing: a worker retries, a command reports it. A cluster none of
whose nodes answers raises ``RedisClusterException`` (so does a slot no node serves)."""

Call = tuple[Sequence[str], Sequence[str | int | float | bytes]]
"""One script call: its keys (all of one hash slot) and its arguments."""


async def eval_many(
    client: AsyncRedis,
    script: AsyncScript,
    calls: Sequence[Call],
    *,
    before: Sequence[Sequence[str | int | bytes]] = (),
) -> list[Any]:
    """Each call's reply, in order: all the calls in one pipeline (one round trip per node),
    after the single-key commands ``before`` (their replies dropped).

    A call refused with NOSCRIPT changed nothing: the script is loaded (on every primary of
    a cluster) and those calls alone are sent again. Any other error is raised.
    """
    replies = (await _evalsha(client, script, calls, before))[len(before) :]
    refused = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
    if refused:
        await client.script_load(script.script)
        again = await _evalsha(client, script, [calls[i] for i in refused], ())
        for i, reply in zip(refused, again, strict=True):
            replies[i] = reply
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return replies


async def _evalsha(
    client: AsyncRedis,
    script: AsyncScript,
    calls: Sequence[Call],
    before: Sequence[Sequence[str | int | bytes]],
) -> list[Any]:
    async with client.pipeline(transaction=False) as pipe:
        for command in before:
            pipe.execute_command(*command)
        for keys, args in calls:
            pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
        replies = list(await pipe.execute(raise_on_error=False))
    for reply in replies[: len(before)]:
        if isinstance(reply, Exception):
            raise reply
    return replies


async def mget(client: AsyncRedis, keys: Sequence[str]) -> list[Any]:
    """The values of ``keys``, of any slots, in order."""
    if isinstance(client, redis.asyncio.cluster.RedisCluster):
        return list(await client.mget_nonatomic(keys))
    return list(await client.mget(keys))


def mget_sync(client: SyncRedis, keys: Sequence[str]) -> list[Any]:
    """:func:`mget` for the blocking clients."""
    if isinstance(client, redis.cluster.RedisCluster):
        return list(client.mget_nonatomic(keys))
    return list(client.mget(keys))


def pipe_mget(pipe: AsyncPipeline, keys: Sequence[str]) -> None:
    """Queue an MGET of keys that share one hash slot (one subject's): the cluster pipeline
    routes the command by its keys' slot, and refuses keys of two slots before sending."""
    pipe.execute_command("MGET", *keys)


async def adopt_renamed(client: AsyncRedis, renames: Sequence[tuple[str, str]]) -> int:
    """Move each ``(old, new)`` key whose old name still exists to its new name, with its
    TTL, unless the new one was written meanwhile (then it wins and the old one goes):
    state a deployment wrote before its keys were hash-tagged is taken over once, not lost.
    One round trip when nothing is left to move; the number moved.

    On one server RENAMENX moves the key. On a cluster (old keys there came from an import)
    the two names may hash to two slots, on two nodes: DUMP and RESTORE copy it across.
    """
    async with client.pipeline(transaction=False) as pipe:
        for old, _ in renames:
            pipe.exists(old)
        found = await pipe.execute()
    moved = 0
    for (old, new), exists in zip(renames, found, strict=True):
        if not exists:
            continue
        if not isinstance(client, redis.asyncio.cluster.RedisCluster):
            if await client.renamenx(old, new):
                moved += 1
            else:
                await client.delete(old)
            continue
        dumped, ttl = await client.dump(old), await client.pttl(old)
        if dumped is not None:
            try:
                await client.restore(new, max(int(ttl), 0), dumped)
                moved += 1
            except ResponseError as exc:
                if "BUSYKEY" not in str(exc):
                    raise
        await client.delete(old)
    return moved
