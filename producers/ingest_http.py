"""``raqib ingest-http``: ``POST /articles`` — one JSON article, or a JSON-lines batch.

* ``Authorization: Bearer <RAQIB_INGEST_TOKEN>`` is required (401 otherwise); the server
  refuses to start without a token.
* ``202`` with the ids accepted (sent, or duplicates of articles already sent: the
  sender need not retry them); ``400`` when some records are bad, with one error per bad
  record (its line) — the good records of the batch are accepted all the same;
  ``413`` past ``max_request_bytes``, or past ``max_records`` lines.
* Replies only once the broker has acknowledged the batch: an accepted id is durable.
* Binds 127.0.0.1 unless told otherwise; ``GET /healthz`` answers 200.

Example::

    curl -H "Authorization: Bearer $RAQIB_INGEST_TOKEN" --data-binary @batch.jsonl \\
        http://127.0.0.1:8600/articles
"""

from __future__ import annotations

import asyncio
import hmac
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from producers.shutdown import stop_on_signals
from producers.sink import Sink
from raqib.exceptions import InvalidArticle

DEFAULT_PORT = 8600
DEFAULT_MAX_REQUEST_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_RECORDS = 10_000


@dataclass(frozen=True, slots=True)
class Limits:
    """How much one request may carry."""

    request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    records: int = DEFAULT_MAX_RECORDS


def split_records(body: bytes, content_type: str = "") -> list[tuple[int, bytes]]:
    """(line, bytes) of each record: the whole body when it reads as one JSON document (a
    pretty-printed article spans lines), else each non-blank line (JSON lines)."""
    if not content_type.endswith(("ndjson", "jsonl", "json-seq")):
        try:
            json.loads(body)
        except ValueError:
            pass
        else:
            return [(1, body.strip())]
    return [(n, line) for n, line in enumerate(body.splitlines(), 1) if line.strip()]


def ingest(sink: Sink, records: list[tuple[int, bytes]]) -> tuple[list[str], list[dict[str, Any]]]:
    """Offer each record, wait for the broker's acks; return accepted ids and errors."""
    accepted: list[str] = []
    errors: list[dict[str, Any]] = []
    for line, raw in records:
        try:
            accepted.append(sink.offer_raw(raw).id)
        except InvalidArticle as exc:
            errors.append({"line": line, "error": exc.reason})
    sink.flush()
    return accepted, errors


def create_app(sink: Sink, token: str, limits: Limits = Limits()) -> web.Application:
    """The aiohttp application: ``POST /articles`` and ``GET /healthz``."""
    expected = f"Bearer {token}".encode()
    requests = sink.metrics.ingest_requests

    def answer(status: int, body: dict[str, Any], **headers: str) -> web.Response:
        requests.labels(status=str(status)).inc()
        return web.json_response(body, status=status, headers=headers)

    async def post_articles(request: web.Request) -> web.Response:
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return answer(
                401, {"error": "a bearer token is required"}, **{"WWW-Authenticate": "Bearer"}
            )
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return answer(413, {"error": f"request over {limits.request_bytes:,} bytes"})
        records = split_records(body, request.content_type)
        if not records:
            return answer(400, {"accepted": [], "errors": [{"line": 1, "error": "no article"}]})
        if len(records) > limits.records:
            return answer(413, {"error": f"{len(records):,} records, at most {limits.records:,}"})
        accepted, errors = await asyncio.to_thread(ingest, sink, records)
        return answer(400 if errors else 202, {"accepted": accepted, "errors": errors})

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application(client_max_size=limits.request_bytes)
    app.router.add_post("/articles", post_articles)
    app.router.add_get("/healthz", healthz)
    return app


async def serve(
    sink: Sink,
    token: str,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    limits: Limits = Limits(),
    ready: asyncio.Event | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until ``stop`` is set (by default: SIGTERM or Ctrl-C), then stop cleanly."""
    stop = stop or stop_on_signals(asyncio.get_running_loop())
    runner = web.AppRunner(create_app(sink, token, limits), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        if ready is not None:
            ready.set()
        await stop.wait()
    finally:
        await runner.cleanup()
