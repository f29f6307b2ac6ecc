"""A recording HTTP server on 127.0.0.1 for the webhook, Slack and Telegram channels.

Each test starts its own :class:`RecordingServer` on a free port inside its event loop
(``async with RecordingServer(...) as server``). The server keeps every request (method,
path, headers, body bytes) and answers from a script — ``Answer(500)`` three times, then
the default — or from a function of the request (a fake Bot API that numbers messages).
"""

from __future__ import annotations

import asyncio
import json
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import pytest
from aiohttp import web

from raqib.embedded import free_port


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass(frozen=True)
class Answer:
    """What the server says: a status, a body (str as text, anything else as JSON),
    headers, and an optional delay before answering."""

    status: int = 200
    body: Any = "ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


Responder = Answer | Callable[[Recorded], Answer]


class RecordingServer:
    """Records requests and answers them from ``script``, then from ``default``."""

    def __init__(self, *script: Responder, default: Responder = Answer()) -> None:
        self.script: deque[Responder] = deque(script)
        self.default = default
        self.requests: list[Recorded] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        recorded = Recorded(
            request.method, request.path, dict(request.headers), await request.read()
        )
        self.requests.append(recorded)
        responder = self.script.popleft() if self.script else self.default
        answer = responder if isinstance(responder, Answer) else responder(recorded)
        if answer.delay_s:
            await asyncio.sleep(answer.delay_s)
        if isinstance(answer.body, str):
            return web.Response(status=answer.status, text=answer.body, headers=answer.headers)
        return web.json_response(answer.body, status=answer.status, headers=answer.headers)

    async def __aenter__(self) -> RecordingServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def assert_hidden(secret: str, caplog: pytest.LogCaptureFixture, *errors: BaseException) -> None:
    """``secret`` appears in no error (message, repr, traceback with causes) and in no
    log record (message and exception text)."""
    for error in errors:
        shown = "".join(traceback.format_exception(error)) + repr(error)
        assert secret not in shown, shown
    for record in caplog.records:
        text = record.getMessage() + (
            "".join(traceback.format_exception(*record.exc_info)) if record.exc_info else ""
        )
        assert secret not in text, text
