"""``raqib silence`` against a real Redis, and the router honouring what it stores."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from click.testing import CliRunner
from redis.asyncio import Redis

from alerts import Silences
from raqib.cli import main
from raqib.messages import Alert

pytestmark = pytest.mark.integration


def test_add_list_expire_and_the_router_sees_it(
    redis_server: Any, unique: str, notification: Any
) -> None:
    runner = CliRunner()
    env = {"RAQIB_REDIS": redis_server.url, "RAQIB_REDIS_PREFIX": unique}
    added = runner.invoke(
        main,
        [
            "silence",
            "add",
            "--match",
            "rule=entity-*",
            "--match",
            "subject=entity:amir-hatami",
            "--for",
            "2h",
            "--reason",
            "زيارة معروفة",
        ],
        env=env,
    )
    assert added.exit_code == 0, added.output
    silence_id = added.output.split()[1]
    listed = runner.invoke(main, ["silence", "list", "--json"], env=env)
    (line,) = [json.loads(x) for x in listed.output.splitlines()]
    assert line["id"] == silence_id and line["reason"] == "زيارة معروفة"

    alert: Alert = notification().alerts[0]

    async def silenced() -> bool:
        client = Redis.from_url(redis_server.url)
        try:
            return await Silences(client, unique).matching(alert) is not None
        finally:
            await client.aclose()

    assert asyncio.run(silenced())
    other = alert.model_copy(update={"subject": "entity:iran"})

    async def other_silenced() -> bool:
        client = Redis.from_url(redis_server.url)
        try:
            return await Silences(client, unique).matching(other) is not None
        finally:
            await client.aclose()

    assert not asyncio.run(other_silenced())
    assert runner.invoke(main, ["silence", "expire", silence_id], env=env).exit_code == 0
    assert "no active silences" in runner.invoke(main, ["silence", "list"], env=env).output
    assert not asyncio.run(silenced())
    missing = runner.invoke(main, ["silence", "expire", "nope"], env=env)
    assert missing.exit_code == 1 and "no silence nope" in missing.output


def test_bad_matchers_are_refused_clearly(redis_server: Any) -> None:
    runner = CliRunner()
    env = {"RAQIB_REDIS": redis_server.url}
    bad = runner.invoke(main, ["silence", "add", "--match", "colour=red"], env=env)
    assert bad.exit_code == 2 and "cannot match on colour" in bad.output
    worse = runner.invoke(main, ["silence", "add", "--match", "rule"], env=env)
    assert worse.exit_code == 2 and "expected field=value" in worse.output
