"""``POST /articles`` on a live server (in this process) publishing to the real broker."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from click.testing import CliRunner

from producers.ingest_http import Limits, serve
from producers.sink import open_sink
from raqib.cli import main
from raqib.embedded import free_port
from raqib.settings import Settings

pytestmark = pytest.mark.integration
TOKEN = "s3cret-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def _exchange(
    settings: Settings, requests: list[tuple[dict[str, str], bytes]]
) -> list[tuple[int, Any]]:
    port = free_port()
    answers: list[tuple[int, Any]] = []
    with open_sink(settings, producer="ingest-http", dedupe=True) as sink:
        ready, stop = asyncio.Event(), asyncio.Event()
        server = asyncio.create_task(
            serve(
                sink,
                TOKEN,
                port=port,
                limits=Limits(request_bytes=4096, records=5),
                ready=ready,
                stop=stop,
            )
        )
        await asyncio.wait_for(ready.wait(), 10)
        async with aiohttp.ClientSession() as session:
            for headers, body in requests:
                url = f"http://127.0.0.1:{port}/articles"
                async with session.post(url, data=body, headers=headers) as response:
                    answers.append((response.status, await response.json()))
        stop.set()
        await server
    return answers


def _jsonl(*articles: dict[str, Any]) -> bytes:
    return "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in articles).encode()


def test_good_bad_mixed_and_unauthorized_requests(
    settings: Settings, published: Any, news_ar: dict[str, Any]
) -> None:
    one = {"source": "سانا", "url": "https://sana.sy/?p=9", "body": news_ar["bodies"]["hatami"]}
    batch = (
        _jsonl(
            {"source": "تسنيم", "title": "عراقجي", "body": news_ar["bodies"]["araghchi"]},
            {"source": "تسنيم", "title": "بلا نص"},
            {"source": "تسنيم", "body": news_ar["bodies"]["lavrentiev"]},
        )
        + b"[1, 2]\n"
    )
    answers = asyncio.run(
        _exchange(
            settings,
            [
                ({}, json.dumps(one).encode()),  # no token
                ({"Authorization": "Bearer wrong"}, json.dumps(one).encode()),
                (AUTH, json.dumps(one, indent=2).encode()),  # one article, pretty-printed
                (AUTH, batch),  # two good, two bad
                (AUTH, json.dumps(one).encode()),  # again: a duplicate, still accepted
                (AUTH, b"x" * 5000),  # over the request limit
                (AUTH, _jsonl(*[{"body": f"b{i}"} for i in range(6)])),  # over 5 records
            ],
        )
    )
    statuses = [status for status, _ in answers]
    assert statuses == [401, 401, 202, 400, 202, 413, 413]
    assert answers[0][1] == {"error": "a bearer token is required"}
    accepted = answers[2][1]["accepted"]
    assert len(accepted) == 1 and accepted[0].startswith("u-")
    mixed = answers[3][1]
    assert len(mixed["accepted"]) == 2
    assert mixed["errors"] == [
        {"line": 2, "error": "invalid article: body: Field required"},
        {"line": 4, "error": "not a JSON object but list"},
    ]
    assert answers[4][1]["accepted"] == accepted
    assert [a["id"] for a in published(at_least=3)] == accepted + mixed["accepted"]


def test_the_server_refuses_to_start_without_a_token(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["ingest-http"], env=env | {"RAQIB_INGEST_TOKEN": ""})
    assert result.exit_code == 1
    assert "RAQIB_INGEST_TOKEN is not set" in result.output
