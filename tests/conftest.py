"""Shared fixtures: the real embedded broker and Redis, one each per test session, and a
three-node Redis Cluster per module that asks for one.

Servers run as child processes on free loopback ports and are stopped by pid. A test that
needs something this machine lacks fails when ``CI`` is set and is skipped otherwise, so
CI never passes by skipping. The shared Redis is emptied after each test module: an e2e
run leaves hundreds of thousands of keys, and every later SCAN would walk them all.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest
import yaml
from redis import Redis

from raqib.embedded import EmbeddedBroker, EmbeddedRedis, EmbeddedRedisCluster
from raqib.exceptions import EmbeddedServerError
from raqib.messages import Alert, Evidence, Window
from raqib.notifications import Notification, SubjectLine


def require(condition: bool, reason: str) -> None:
    """Skip locally, fail in CI: a missing dependency must never pass silently there."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


class _Server(Protocol):
    def start(self) -> Any: ...
    def stop(self) -> None: ...


S = TypeVar("S", bound=_Server)


@contextmanager
def running(server: S, what: str) -> Iterator[S]:
    """``server`` started (or the test failed in CI, skipped elsewhere, naming ``what`` and
    why) and stopped by pid whatever the test does: what every server fixture needs."""
    try:
        server.start()
    except (EmbeddedServerError, OSError) as exc:
        require(False, f"{what}: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    with running(EmbeddedBroker(tmp_path_factory.mktemp("broker")), "embedded Kafka broker") as b:
        yield b


SHARED_REDIS = pytest.StashKey[EmbeddedRedis]()


@pytest.fixture(scope="session")
def redis_server(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[EmbeddedRedis]:
    with running(EmbeddedRedis(tmp_path_factory.mktemp("redis")), "embedded Redis") as server:
        pytestconfig.stash[SHARED_REDIS] = server
        try:
            yield server
        finally:
            del pytestconfig.stash[SHARED_REDIS]


@pytest.fixture(scope="module")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedisCluster]:
    """A Redis Cluster of three nodes (``redis-cli --cluster create``), one per test module:
    a module may restart a node, and the next starts from an empty cluster."""
    cluster = EmbeddedRedisCluster(tmp_path_factory.mktemp("redis-cluster"))
    with running(cluster, "embedded Redis Cluster") as started:
        yield started


@pytest.fixture(scope="module", autouse=True)
def _empty_shared_redis_after_module(pytestconfig: pytest.Config) -> Iterator[None]:
    """FLUSHALL the shared Redis once a module is done (after its own module-scoped
    fixtures, which are set up after this one and so torn down before it): no module
    reads another's keys, and a keyspace kept small keeps every SCAN short."""
    yield
    server = pytestconfig.stash.get(SHARED_REDIS, None)
    if server is None or server.process is None or server.process.poll() is not None:
        return
    client = Redis.from_url(server.url)
    try:
        client.flushall()
    finally:
        client.close()


DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def news_ar() -> dict[str, Any]:
    """Real Arabic headlines, bodies and outlets from the seeds (tests/data/news_ar.yaml)."""
    return yaml.safe_load((DATA / "news_ar.yaml").read_text(encoding="utf-8"))


@pytest.fixture
def notification() -> Callable[..., Notification]:
    """A notification of a real story (Amir Hatami in Damascus, seed 003), Arabic intact:
    ``notification(kind="update", seq=2, channel="slack")`` varies it."""
    t = datetime(2024, 12, 10, 0, 10, tzinfo=UTC)
    window = Window(start=t - timedelta(minutes=10), end=t)
    text = "وصل وزير الدفاع الإيراني العميد أمير حاتمي إلى دمشق اليوم"
    at = text.index("أمير حاتمي")
    evidence = [
        Evidence(
            id=f"drill-surge-{i:05d}",
            title="وزير الدفاع الإيراني يصل إلى دمشق في زيارة رسمية",
            source=source,
            url=f"https://example.org/news/{i}",
            snippet=text,
            highlight=(at, at + len("أمير حاتمي")),
        )
        for i, source in enumerate(["عكاظ", "تسنيم", "وكالة ثقة"])
    ]
    alert = Alert(
        alert_id="3f2a9c1e7b5d4a6c8e0f",
        rule="entity-spike",
        kind="spike",
        status="firing",
        subject="entity:amir-hatami",
        window=window,
        observed=12,
        expected=0.007,
        ratio=1714.0,
        p_value=1.2e-30,
        severity="warning",
        articles=evidence,
        event_time=t,
        summary="spike: أمير حاتمي (Amir Hatami) 12 mentions in 10m, expected 0.0",
        labels={"team": "duty-desk"},
    )
    line = SubjectLine(
        subject=alert.subject,
        name_ar="أمير حاتمي",
        name_en="Amir Hatami",
        rule=alert.rule,
        kind=alert.kind,
        status="firing",
        alert_id=alert.alert_id,
        observed=12,
        expected=0.007,
        ratio=1714.0,
        p_value=1.2e-30,
        severity="warning",
        sparkline="▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁█",
        window_start=window.start,
        window_end=window.end,
    )

    def make(**changes: Any) -> Notification:
        base = Notification(
            notification_id="story-1:ops-hook:1",
            story_id="story-1",
            channel="ops-hook",
            kind="page",
            seq=1,
            status="firing",
            severity="warning",
            title=evidence[0].title,
            outlets=[e.source for e in evidence],
            first_seen=t - timedelta(minutes=9),
            last_seen=t,
            summary_ar="خبر واحد: أمير حاتمي في دمشق — 1 موضوع",
            summary_en="One story: Amir Hatami in Damascus — 1 subject",
            subjects=[line],
            alerts=[alert],
            evidence=evidence,
            dashboard_url="http://127.0.0.1:3000/d/raqib",
            created_at=datetime(2026, 11, 30, 6, 0, tzinfo=UTC),
        )
        return base.model_copy(update=changes)

    return make


@pytest.fixture
def unique() -> str:
    """A short name part unique to one test: topics and keys never collide."""
    return f"t{uuid.uuid4().hex[:8]}"


FIGURES = pytest.StashKey[list[str]]()


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Lines a test wants in the run's summary: measured figures such as precision and
    recall, printed whether the test passes or fails."""
    return request.config.stash.setdefault(FIGURES, []).append


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under pytest-xdist (``-n 2``, pyproject.toml), the e2e tests run one after another
    on one worker — each starts brokers and workers that want the machine's cores — beside
    everything else on the other (xdist's own ``loadgroup`` cannot rename tests on pytest 9)."""
    from xdist.scheduler import LoadScopeScheduling

    class E2EOnOneWorker(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "e2e" if nodeid.startswith("tests/e2e/") else nodeid

    return E2EOnOneWorker(config, log)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """An xdist worker hands its figures to the controller, which prints the summary."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["figures"] = session.config.stash.get(FIGURES, [])


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """xdist's controller: gather a finished worker's figures."""
    figures = getattr(node, "workeroutput", {}).get("figures", [])
    node.config.stash.setdefault(FIGURES, []).extend(figures)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    lines = config.stash.get(FIGURES, [])
    if lines:
        terminalreporter.section("figures")
        for line in lines:
            terminalreporter.write_line(line)
