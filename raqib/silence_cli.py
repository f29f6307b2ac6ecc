"""``raqib silence add|list|expire``: hold back matching alerts for a while (in Redis)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

import click

from raqib.durations import parse_duration
from raqib.redaction import redact
from raqib.settings import Settings

if TYPE_CHECKING:
    from alerts import Silences

T = TypeVar("T")


def _with_silences(work: Callable[[Silences], Awaitable[T]]) -> T:
    """Run ``work`` against the silences in RAQIB_REDIS; errors become clean exits. (redis
    is imported here: every ``raqib`` command loads this module, few talk to Redis.)"""
    from alerts import Silences
    from raqib.redis_cluster import REDIS_ERRORS
    from raqib.security import redis_client

    try:
        settings = Settings.from_env()
    except ValueError as exc:
        raise click.ClickException(f"bad RAQIB_* setting: {redact(exc)}") from exc

    async def go() -> T:
        client = redis_client(settings)
        try:
            return await work(Silences(client, settings.redis_prefix))
        finally:
            await client.aclose()

    try:
        return asyncio.run(go())
    except REDIS_ERRORS as exc:
        raise click.ClickException(f"cannot reach Redis: {redact(exc)}") from exc


@click.group()
def silence() -> None:
    """Hold back alerts that match, for a while (recorded and counted, not delivered)."""


@silence.command("add")
@click.option(
    "--match",
    "matches",
    multiple=True,
    required=True,
    help="field=glob: rule, kind, severity, subject, status, alert_id, label.<name>",
)
@click.option("--for", "span", default="2h", show_default=True, help="how long: 30m, 2h, 1d")
@click.option("--reason", default="", help="why, for the next person on duty")
def add(matches: tuple[str, ...], span: str, reason: str) -> None:
    """Add a silence; print its id."""
    from alerts import Silence

    matchers: dict[str, str] = {}
    for item in matches:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise click.BadParameter(f"expected field=value, got {item!r}", param_hint="--match")
        matchers[key] = value
    try:
        created = Silence.create(matchers, datetime.now(UTC), parse_duration(span), reason)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    _with_silences(lambda silences: silences.add(created))
    click.echo(f"silence {created.id} until {created.ends:%Y-%m-%d %H:%M} UTC")


@silence.command("list")
@click.option("--all", "show_all", is_flag=True, help="expired ones too")
@click.option("--json", "as_json", is_flag=True, help="one JSON line each")
def list_(show_all: bool, as_json: bool) -> None:
    """List the active silences."""
    now = datetime.now(UTC)
    found = [s for s in _with_silences(lambda s: s.all()) if show_all or s.active(now)]
    for s in found:
        if as_json:
            click.echo(json.dumps(json.loads(s.model_dump_json()), ensure_ascii=False))
        else:
            what = " ".join(f"{k}={v}" for k, v in sorted(s.matchers.items()))
            click.echo(f"{s.id}  until {s.ends:%Y-%m-%d %H:%M} UTC  {what}  {s.reason}")
    if not found and not as_json:
        click.echo("no active silences")


@silence.command("expire")
@click.argument("silence_id")
def expire(silence_id: str) -> None:
    """End a silence now."""
    if not _with_silences(lambda s: s.expire(silence_id, datetime.now(UTC))):
        raise click.ClickException(f"no silence {silence_id}")
    click.echo(f"silence {silence_id} expired")
