"""The ``raqib`` command line.

Each command imports the stage it runs inside its own body, so that this contract
package never imports a stage at module level (and ``raqib --help`` stays fast).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import click

from raqib import heap
from raqib.exceptions import ConfigError, RaqibError
from raqib.producer_cli import COMMANDS as PRODUCER_COMMANDS
from raqib.redaction import redact
from raqib.settings import Settings
from raqib.silence_cli import silence

if TYPE_CHECKING:
    from processors.pipeline import Pipeline

_PATHS = click.Path(exists=True, path_type=Path)
_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _settings(**overrides: object) -> Settings:
    try:
        return Settings.from_env(**overrides)
    except ValueError as exc:
        raise click.ClickException(f"bad RAQIB_* setting: {redact(exc)}") from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="raqib")
def main() -> None:
    """raqib (رقيب): real-time monitor for Arabic news, alerts when mentions spike."""


@main.command()
@click.option("--watchlist", type=_FILE, help="watchlist.yaml replacing the default")
@click.option("--rules", type=_FILE, help="rules.yaml replacing the default")
@click.option("--topics", type=_FILE, help="topics.yaml replacing the default")
@click.option("--channels", type=_FILE, help="channels.yaml: channels and routes (RAQIB_CHANNELS)")
@click.option("--web-port", type=int, help="port of /metrics (RAQIB_WEB_PORT)")
@click.option(
    "--stages",
    type=click.Choice(["all", "tag", "count"]),
    default=None,
    help="all (default), tag, or count and route (RAQIB_STAGES): run a tag process and a "
    "count process, each with its own --web-port, to use two cores",
)
@click.option("--loglevel", default=None, help="debug, info, warning (RAQIB_LOG_LEVEL)")
def worker(
    watchlist: Path | None,
    rules: Path | None,
    topics: Path | None,
    channels: Path | None,
    web_port: int | None,
    stages: str | None,
    loglevel: str | None,
) -> None:
    """Run the stream processor: articles -> tags -> counts -> alerts."""
    from alerts.channels import ChannelError
    from processors.app import create_app
    from processors.health import Health
    from processors.worker import Worker
    from raqib.topics import ensure_topics

    settings = _settings(
        watchlist=watchlist,
        rules=rules,
        topics=topics,
        channels=channels,
        web_port=web_port,
        stages=stages,
        log_level=loglevel,
    )
    health = Health()
    try:
        app = create_app(settings, health=health)
    except (ConfigError, ChannelError) as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        ensure_topics(settings)
    except RaqibError as exc:
        raise click.ClickException(str(exc)) from None
    # redirect_stdouts=False: the console channel writes to the terminal, not into the log
    worker_ = Worker(
        app, health=health, loglevel=settings.log_level, quiet=True, redirect_stdouts=False
    )
    heap.settle()
    try:
        worker_.execute_from_commandline()
    except SystemExit as exc:
        # an agent died: exit non-zero whatever Faust's shutdown said, so that an
        # orchestrator restarts the worker instead of keeping a husk alive
        raise SystemExit(health.exit_code or exc.code) from None


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.option("--watchlist", type=_FILE, help="watchlist.yaml replacing the default")
@click.option("--topics", type=_FILE, help="topics.yaml replacing the default")
@click.option(
    "--clean/--no-clean",
    default=True,
    show_default=True,
    help="skip page chrome (menus, tickers, teasers) as the worker does",
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="processes tagging a long list of files at once (0: one per core)",
)
def tag(
    files: tuple[str, ...], watchlist: Path | None, topics: Path | None, clean: bool, jobs: int
) -> None:
    """Print the entities and topics found in each FILE (or - for stdin) as one JSON line,
    in the order given.

    Offsets index the file's text as read (UTF-8): text[start:end] == surface.
    """
    import gc

    from raqib.tag_files import load_numba_quietly, tag_files

    load_numba_quietly()
    settings = _settings(watchlist=watchlist, topics=topics)
    pipeline = _pipeline(settings)
    for lines in tag_files(pipeline, files, clean=clean, jobs=jobs):
        click.echo(lines)
    # the interpreter's last collections would walk every object start-up made (numba's
    # registries: a third of a second after the last line); none of them needs collecting
    gc.freeze()


def _pipeline(settings: Settings) -> Pipeline:
    """The processors' pipeline for these settings; config errors become clean exits."""
    from processors.pipeline import Pipeline
    from processors.topics import load_topics
    from processors.watchlist import load_watchlist

    try:
        watchlist = load_watchlist(settings.watchlist)
        return Pipeline(
            watchlist,
            load_topics(settings.topics, watchlist),
            pair_entities=settings.pair_entities,
        )
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@click.argument("stream", type=_FILE)
@click.option("--watchlist", type=_FILE, help="watchlist.yaml replacing the default")
@click.option("--rules", type=_FILE, help="rules.yaml replacing the default")
@click.option("--topics", type=_FILE, help="topics.yaml replacing the default")
def backtest(stream: Path, watchlist: Path | None, rules: Path | None, topics: Path | None) -> None:
    """Run the live rules offline over STREAM.jsonl; print one JSON line per alert event."""
    import asyncio

    from alerts import load_rules
    from processors.backtest import Rejected
    from processors.backtest import backtest as run_backtest

    settings = _settings(watchlist=watchlist, rules=rules, topics=topics)
    pipeline = _pipeline(settings)
    try:
        rule_file = load_rules(settings.rules)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    with stream.open("rb") as handle:
        events = asyncio.run(run_backtest(handle, pipeline, rule_file))
    for event in events:
        if isinstance(event, Rejected):
            click.echo(f"{stream}:{event.line}: skipped: {event.reason}", err=True)
        else:
            click.echo(event.model_dump_json())


@main.command()
@click.argument("paths", nargs=-1, required=True, type=_PATHS)
@click.option("--watchlist", type=_FILE, help="watchlist.yaml replacing the default")
@click.option("--topics", type=_FILE, help="topics.yaml replacing the default")
@click.option(
    "--processes",
    type=click.IntRange(min=1, max=256),
    default=None,
    help="processes tagging and counting at once (default: one per core)",
)
def backfill(
    paths: tuple[Path, ...], watchlist: Path | None, topics: Path | None, processes: int | None
) -> None:
    """Count the history in PATH... (what `raqib replay` reads) in Redis, without alerts.

    Counts as the worker would (RAQIB_REDIS, idempotent: a second run counts nothing
    twice) and marks each partition as watched since its history, so that rules start
    warm. Run it before the workers start.
    """
    import asyncio
    import os

    from processors.backfill import (
        Backfilled,
        count,
        count_in_processes,
        mark_watched,
        redis_episodes,
    )
    from processors.counts import RedisCounts
    from producers.replay import items
    from raqib.limits import Limits
    from raqib.redaction import redact
    from raqib.redis_cluster import REDIS_ERRORS
    from raqib.security import redis_client

    settings = _settings(watchlist=watchlist, topics=topics)
    pipeline = _pipeline(settings)

    limits = Limits(message_bytes=settings.max_message_bytes)
    lines = (value for _, value in items(list(paths)))
    heap.settle()
    processes = processes or os.cpu_count() or 1

    async def run(counted: Backfilled | None) -> Backfilled:
        redis = redis_client(settings)
        try:
            done = counted or await count(
                enumerate(lines, start=1),
                pipeline,
                RedisCounts(redis, prefix=settings.redis_prefix),
                partitions=settings.partitions,
                limits=limits,
            )
            await mark_watched(done, redis_episodes(redis, settings.redis_prefix, settings.app_id))
            return done
        finally:
            await redis.aclose()

    try:
        counted = None
        if processes > 1:
            counted = count_in_processes(
                lines,
                pipeline,
                lambda: redis_client(settings),
                prefix=settings.redis_prefix,
                partitions=settings.partitions,
                processes=processes,
                limits=limits,
            )
        done = asyncio.run(run(counted))
    except REDIS_ERRORS as exc:
        raise click.ClickException(redact(f"cannot count in {settings.redis}: {exc}")) from exc
    except (RaqibError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    for rejected in done.rejected:
        click.echo(f"message {rejected.line}: skipped: {rejected.reason}", err=True)
    click.echo(done.line())


@main.command()
@click.option("--window", default="1h", show_default=True, help="how far back: 10m, 1h, 2d")
@click.option(
    "--by",
    type=click.Choice(["count", "ratio"]),
    default="count",
    show_default=True,
    help="order by mentions, or by mentions over the previous 24 hours' rate",
)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--subjects", default="*", show_default=True, help="glob: entity:*, topic:*, pair:*")
@click.option("--json", "as_json", is_flag=True, help="one JSON line per subject")
def top(window: str, by: str, limit: int, subjects: str, as_json: bool) -> None:
    """Print the leading subjects of the last WINDOW of event time, from Redis (RAQIB_REDIS)."""
    import asyncio
    from fnmatch import fnmatchcase

    from processors.top import Leaders, Order, leaders
    from raqib.durations import parse_duration
    from raqib.redis_cluster import REDIS_ERRORS
    from raqib.security import redis_client

    settings = _settings()
    try:
        span = parse_duration(window)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--window") from exc

    async def read() -> Leaders | None:
        redis = redis_client(settings)
        try:
            order: Order = "ratio" if by == "ratio" else "count"
            return await leaders(redis, settings.redis_prefix, window=span, by=order, limit=100_000)
        finally:
            await redis.aclose()

    try:
        found = asyncio.run(read())
    except REDIS_ERRORS as exc:
        raise click.ClickException(
            f"cannot read counts from {redact(settings.redis)}: {redact(exc)}"
        ) from exc
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--window") from exc
    if found is None:
        raise click.ClickException(
            f"no counts in {redact(settings.redis)} (prefix {settings.redis_prefix})"
        )
    rows = [r for r in found.rows if fnmatchcase(r.subject, subjects)][:limit]
    pipeline = _pipeline(settings)
    if as_json:
        for r in rows:
            ar, en = pipeline.names(r.subject)
            line = {
                "subject": r.subject,
                "name_ar": ar,
                "name_en": en,
                "observed": r.observed,
                "expected": round(r.expected, 6),
                "ratio": round(r.ratio, 3),
                "window": {"start": found.start.isoformat(), "end": found.end.isoformat()},
            }
            click.echo(json.dumps(line, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"top {len(rows)} by {by}, {found.start:%Y-%m-%d %H:%M} to {found.end:%H:%M} UTC"
    )
    for column in ("#", "subject", "name", "mentions", "expected", "ratio"):
        table.add_column(
            column, justify="right" if column in ("#", "mentions", "expected", "ratio") else "left"
        )
    for rank, r in enumerate(rows, 1):
        ar, en = pipeline.names(r.subject)
        table.add_row(
            str(rank),
            r.subject,
            f"{ar} ({en})",
            str(r.observed),
            f"{r.expected:.1f}",
            f"x{r.ratio:.1f}",
        )
    Console().print(table)


@main.command("check-config")
@click.option("--watchlist", type=_FILE, help="watchlist.yaml to check")
@click.option("--rules", type=_FILE, help="rules.yaml to check")
@click.option("--topics", type=_FILE, help="topics.yaml to check")
@click.option("--channels", type=_FILE, help="channels.yaml to check (RAQIB_CHANNELS)")
def check_config(
    watchlist: Path | None, rules: Path | None, topics: Path | None, channels: Path | None
) -> None:
    """Validate the configuration files; exit 1 with file, line and cause on error."""
    from alerts import load_channels, load_rules
    from alerts.channels import MissingSecret

    settings = _settings(watchlist=watchlist, rules=rules, topics=topics, channels=channels)
    pipeline = _pipeline(settings)
    try:
        rule_file = load_rules(settings.rules)
        channel_file = load_channels(settings.channels, settings.alerts_file)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    mode = "a Redis Cluster (RAQIB_REDIS_CLUSTER)" if settings.redis_cluster else "one server"
    click.echo(f"redis: {redact(settings.redis)}, {mode}, key prefix {settings.redis_prefix}")
    click.echo(
        f"channels: {', '.join(f'{c.name} ({c.type})' for c in channel_file.channels)}; "
        f"routes: {len(channel_file.effective_routes)}"
    )
    for config in channel_file.channels:
        try:
            config.secret()
        except MissingSecret as exc:
            click.echo(f"warning: {exc} (the worker will not start without it)")
    tagger = pipeline.tagger
    click.echo(
        f"watchlist: {len(tagger.watchlist.entities)} entities, {tagger.alias_count} patterns"
    )
    click.echo(f"topics: {len(pipeline.topics.topics)}")
    click.echo(f"rules: {len(rule_file.rules)} ({', '.join(r.name for r in rule_file.rules)})")
    for entity in tagger.watchlist.entities:
        if entity.ambiguous and not (entity.cues or entity.context):
            click.echo(
                f"warning: entity {entity.id}: its ambiguous spellings have no cues and no "
                "context, so they count only in an article that also gives its full name"
            )
    carried = {t for e in tagger.watchlist.entities for t in e.tags}
    for rule in rule_file.rules:
        for tag in sorted(set(rule.tags + rule.not_tags) - carried):
            click.echo(f"warning: rule {rule.name}: no watchlist entity is tagged {tag!r}")


main.add_command(silence)
for _command in PRODUCER_COMMANDS:
    main.add_command(_command)


@main.command()
@click.option("--seeds", "seeds_dir", default=Path("seeds"), type=_PATHS, show_default=True)
@click.option(
    "--scenario",
    default=Path("seeds/scenarios/drill.yaml"),
    type=_FILE,
    show_default=True,
)
@click.option("--timeout", default=100.0, show_default=True, help="seconds before giving up")
def demo(seeds_dir: Path, scenario: Path, timeout: float) -> None:
    """Start a broker and Redis, run the worker, replay the seeds and a drill, show alerts."""
    from raqib.demo import run_demo

    logging.basicConfig(level=logging.WARNING)
    # the broker probe and the viewer retry while servers start: their noise is not news
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    try:
        summary = run_demo(seeds_dir, scenario, timeout_s=timeout)
    except RaqibError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(summary.line())
