"""The producer commands: ``raqib replay``, ``produce``, ``poll``, ``watch``, ``ingest-http``.

Each parses its flags and hands over to its module in ``producers/`` (imported inside
the command, so that the contract package never imports a stage at module level).
:func:`_producing` turns every expected failure — brokers or Redis unreachable, a bad
feeds.yaml, a refused send — into one clear line and a non-zero exit, no traceback.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from raqib.exceptions import RaqibError
from raqib.redaction import redact
from raqib.settings import Settings

if TYPE_CHECKING:
    from producers.sink import Sink

FC = TypeVar("FC", bound=Callable[..., object])
_PATHS = click.Path(exists=True, path_type=Path)
EXIT_TERMINATED = 143  # 128 + SIGTERM: a batch command stopped before the end


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ValueError as exc:
        raise click.ClickException(f"bad RAQIB_* setting: {redact(exc)}") from exc


def _metrics_port(help_default: str) -> Callable[[FC], FC]:
    return click.option(
        "--metrics-port",
        type=click.IntRange(0, 65535),
        default=None,
        help=f"serve /metrics on this port (RAQIB_WEB_BIND address); 0: off; {help_default}",
    )


_DEDUPE = click.option(
    "--dedupe/--no-dedupe",
    default=True,
    show_default=True,
    help="suppress articles already sent (any producer, any run; Redis: RAQIB_REDIS)",
)


@contextmanager
def _producing(settings: Settings) -> Iterator[None]:
    """Expected failures as one line naming what failed; a non-zero exit."""
    from kafka.errors import KafkaError

    from producers.shutdown import Terminated

    try:
        yield
    except Terminated:
        click.echo("stopped by SIGTERM; everything sent was flushed", err=True)
        raise SystemExit(EXIT_TERMINATED) from None
    except (RaqibError, ValueError) as exc:
        raise click.ClickException(redact(str(exc))) from None
    except KafkaError as exc:  # the broker stopped answering, or never did
        servers = ",".join(settings.kafka_servers)
        raise click.ClickException(
            f"cannot publish to the Kafka broker {servers}: {redact(exc)}"
        ) from None


@contextmanager
def _sink(settings: Settings, producer: str, dedupe: bool, metrics_port: int) -> Iterator[Sink]:
    from producers.shutdown import sigterm_raises
    from producers.sink import open_sink

    with (
        sigterm_raises(),
        open_sink(settings, producer=producer, dedupe=dedupe, metrics_port=metrics_port) as sink,
    ):
        yield sink


@click.command()
@click.argument("paths", nargs=-1, required=True, type=_PATHS)
@click.option(
    "--speed",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="N: N times faster than event time (the gap between two articles divided by N); "
    "0: as fast as possible",
)
@click.option("--loop", is_flag=True, help="play again and again: later event times, new ids")
@_metrics_port("default 0")
@click.option("--json", "as_json", is_flag=True, help="print the result as one JSON line")
def replay(
    paths: tuple[Path, ...], speed: float, loop: bool, metrics_port: int | None, as_json: bool
) -> None:
    """Publish seed .txt files, .jsonl articles and scenario .yaml files to `articles`.

    Messages go verbatim (a drill replays copies on purpose: no deduplication).
    """
    from prometheus_client import CollectorRegistry

    from producers.metrics import ProducerMetrics, serve_metrics
    from producers.progress import progress_bar
    from producers.publisher import Publisher
    from producers.replay import replay as run_replay
    from producers.shutdown import sigterm_raises
    from raqib.topics import ensure_topics

    settings = _settings()
    registry = CollectorRegistry()
    sent_total = ProducerMetrics.create(registry).articles.labels(producer="replay", result="sent")
    serve_metrics(registry, metrics_port or 0, settings.web_bind)

    def on_sent(done: int, total: int | None) -> None:
        sent_total.inc()
        advance(done, total)

    with _producing(settings), sigterm_raises(), progress_bar("replay") as advance:
        ensure_topics(settings)
        with Publisher(settings) as publisher:
            sent = run_replay(list(paths), publisher, speed=speed, loop=loop, on_sent=on_sent)
    if as_json:
        click.echo(json.dumps({"sent": sent, "topic": settings.topic_names.articles}))
    else:
        click.echo(f"replayed {sent} messages to {settings.topic_names.articles}")


@click.command()
@_DEDUPE
@_metrics_port("default 0")
def produce(dedupe: bool, metrics_port: int | None) -> None:
    """Publish JSON lines from stdin, one article each.

    A bad line is reported on stderr with its number; the others are still sent, and the
    exit status is 1 at the end.
    """
    from producers.stdin import produce_lines

    settings = _settings()
    with _producing(settings), _sink(settings, "produce", dedupe, metrics_port or 0) as sink:
        done = produce_lines(
            sys.stdin.buffer, sink, on_error=lambda e: click.echo(f"stdin: {e}", err=True)
        )
    click.echo(done.line())
    if done.errors:
        raise SystemExit(1)


@click.command()
@click.argument("urls", nargs=-1)
@click.option(
    "--feeds",
    "feeds_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="feeds.yaml: the feeds and their settings",
)
@click.option("--once", is_flag=True, help="poll each feed once and exit (1 if every feed failed)")
@click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    help="state file (validators, entries seen); default RAQIB_DATA_DIR/feeds-state.json",
)
@_DEDUPE
@_metrics_port("default 6067, 0 with --once")
def poll(
    urls: tuple[str, ...],
    feeds_file: Path | None,
    once: bool,
    state: Path | None,
    dedupe: bool,
    metrics_port: int | None,
) -> None:
    """Poll RSS and Atom feeds (URL... or --feeds feeds.yaml) and publish new entries."""
    from producers.feeds import Feed, FeedStates, Poller, load_feeds
    from producers.shutdown import stop_on_signals

    if bool(urls) == bool(feeds_file):
        raise click.UsageError("give feed URLs or --feeds feeds.yaml (one of them)")
    settings = _settings()
    port = (0 if once else 6067) if metrics_port is None else metrics_port
    with _producing(settings):
        if feeds_file is not None:
            feeds = load_feeds(feeds_file).feeds
        else:
            try:
                feeds = tuple(Feed(url=url) for url in urls)
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="URL") from None
        states = FeedStates(state or settings.data_dir / "feeds-state.json")
        with _sink(settings, "poll", dedupe, port) as sink:
            poller = Poller(
                feeds,
                sink,
                states,
                on_error=lambda feed, why: click.echo(f"feed {feed.label}: {why}", err=True),
            )
            if once:
                asyncio.run(poller.run_once())
            else:

                async def forever() -> None:
                    await poller.run(stop_on_signals(asyncio.get_running_loop()))

                asyncio.run(forever())
    for feed in feeds:
        s = states.of(feed)
        click.echo(f"feed {feed.label}: {s.published} published, {s.errors} errors in a row")


@click.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--once", is_flag=True, help="scan once and exit")
@click.option("--interval", default=2.0, show_default=True, help="seconds between scans")
@click.option("--source", default="", help="the outlet of .txt files")
@click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    help="state file (what was sent); default RAQIB_DATA_DIR/watch-<dir hash>.json",
)
@_DEDUPE
@_metrics_port("default 6068, 0 with --once")
def watch(
    directory: Path,
    once: bool,
    interval: float,
    source: str,
    state: Path | None,
    dedupe: bool,
    metrics_port: int | None,
) -> None:
    """Publish each new or changed .txt, .json or .jsonl file in DIRECTORY once."""
    from producers.shutdown import Terminated
    from producers.watch import Watcher, WatchState, state_path

    settings = _settings()
    port = (0 if once else 6068) if metrics_port is None else metrics_port
    with _producing(settings):
        watch_state = WatchState.load(state or state_path(settings.data_dir, directory))
        with _sink(settings, "watch", dedupe, port) as sink:
            watcher = Watcher(
                directory,
                sink,
                watch_state,
                source=source,
                settle_s=0.0 if once else 1.0,
                on_error=lambda message: click.echo(f"{directory}/{message}", err=True),
            )
            try:
                done = watcher.run(interval, once=once)
            except Terminated:  # the watch's normal end: nothing is left half done
                return
    click.echo(done.line())


@click.command("ingest-http")
@click.option("--host", default="127.0.0.1", show_default=True, help="address to bind")
@click.option("--port", default=8600, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--max-request-bytes",
    default=16 * 1024 * 1024,
    show_default=True,
    type=click.IntRange(1024),
    help="largest request body (413 beyond)",
)
@click.option(
    "--max-records",
    default=10_000,
    show_default=True,
    type=click.IntRange(1),
    help="most articles in one batch (413 beyond)",
)
@_DEDUPE
@_metrics_port("default 6069")
def ingest_http(
    host: str,
    port: int,
    max_request_bytes: int,
    max_records: int,
    dedupe: bool,
    metrics_port: int | None,
) -> None:
    """Accept articles over HTTP: POST /articles (a JSON article or JSON lines).

    Requires the bearer token in RAQIB_INGEST_TOKEN; answers 202 with the accepted ids,
    400 with one error per bad record (the good ones still accepted).
    """
    from producers.ingest_http import Limits, serve

    settings = _settings()
    if settings.ingest_token is None or not settings.ingest_token.get_secret_value().strip():
        raise click.ClickException(
            "RAQIB_INGEST_TOKEN is not set: ingest-http refuses to start without a bearer "
            "token (set it to a long random string; senders pass 'Authorization: Bearer ...')"
        )
    token = settings.ingest_token.get_secret_value().strip()
    limits = Limits(request_bytes=max_request_bytes, records=max_records)
    with (
        _producing(settings),
        _sink(
            settings, "ingest-http", dedupe, 6069 if metrics_port is None else metrics_port
        ) as sink,
    ):
        click.echo(f"accepting articles on http://{host}:{port}/articles", err=True)
        asyncio.run(serve(sink, token, host=host, port=port, limits=limits))


COMMANDS = (replay, produce, poll, watch, ingest_http)
