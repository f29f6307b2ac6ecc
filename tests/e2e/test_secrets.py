"""No password in anything the worker shows, with Redis behind an ACL password.

A real ``python -m raqib worker`` (debug logging: the most it ever says) counts a few
articles against a redis-server with an ACL user and a password on the default user,
fires an alert for each, and then its log, ``/metrics``, ``/healthz``, ``/readyz``, the
alerts file and everything else it wrote are searched for the passwords. The same with a
wrong Redis password (the worker waits for Redis and says why, without the password), a
worker given Kafka SASL credentials (Tansu, the test broker, has no SASL: it cannot
connect, and must not print the password while failing), and ``raqib backfill`` and
``raqib demo --help`` with known and wrong passwords. ``tests/integration/test_security.py``
covers the other commands.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from redis import Redis
from redis.exceptions import RedisError

from producers.publisher import Publisher
from raqib.cli import main
from raqib.embedded import EmbeddedRedis, WorkerProcess, free_port
from raqib.settings import Settings
from raqib.topics import ensure_topics
from tests.conftest import running

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

USER = "raqib"
PASSWORD = f"acl-{uuid.uuid4().hex}"
DEFAULT_PASSWORD = f"default-{uuid.uuid4().hex}"
WRONG_PASSWORD = f"wrong-{uuid.uuid4().hex}"
KAFKA_PASSWORD = f"sasl-{uuid.uuid4().hex}"
SECRETS = (PASSWORD, DEFAULT_PASSWORD, WRONG_PASSWORD, KAFKA_PASSWORD)
ARTICLES = 5
RULES = """\
rules:
  - name: every-article
    kind: threshold
    subjects: ["source:*"]
    window: 10m
    min_count: 1
    channels: [jsonl]
"""


def leaked(text: str | bytes) -> list[str]:
    """The known passwords found in ``text``."""
    raw = text.encode() if isinstance(text, str) else text
    return [s for s in SECRETS if s.encode() in raw]


class AclRedis(EmbeddedRedis):
    """Redis with a password on the default user and an ACL user ``raqib``."""

    def command(self) -> list[str]:
        acl = ["--requirepass", DEFAULT_PASSWORD]
        return [*super().command(), *acl, "--user", USER, "on", f">{PASSWORD}", "~*", "&*", "+@all"]

    def url_with(self, password: str) -> str:
        return f"redis://{USER}:{password}@127.0.0.1:{self.port}/0"

    def ready(self) -> bool:
        client = Redis.from_url(
            self.url_with(PASSWORD), socket_connect_timeout=0.5, socket_timeout=0.5
        )
        try:
            return bool(client.ping())
        except (RedisError, OSError):
            return False
        finally:
            client.close()


@pytest.fixture(scope="module")
def acl_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AclRedis]:
    with running(
        AclRedis(tmp_path_factory.mktemp("acl-redis")), "redis-server with ACL users"
    ) as s:
        yield s


def _settings(kafka: Any, redis_url: str, tmp: Path, **values: Any) -> Settings:
    tag = uuid.uuid4().hex[:8]
    rules = tmp / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    return Settings(
        kafka=kafka.bootstrap,
        redis=redis_url,
        app_id=f"raqib-secrets-{tag}",
        topic_prefix=f"secrets-{tag}.",
        redis_prefix=f"secrets-{tag}",
        partitions=1,
        web_port=free_port(),
        alerts_file=tmp / "alerts.jsonl",
        data_dir=tmp / "worker",
        rules=rules,
        log_level="debug",
        **values,
    )


def _get(port: int, path: str) -> tuple[int, str]:
    url = f"http://127.0.0.1:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@dataclass
class Shown:
    """Everything a worker run showed: HTTP views, its log, the files it wrote."""

    views: dict[str, tuple[int, str]] = field(default_factory=dict)
    log: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)

    def leaks(self) -> dict[str, list[str]]:
        found = {f"GET {path}": leaked(body) for path, (_, body) in self.views.items()}
        found["worker log"] = leaked(self.log)
        found.update((name, leaked(data)) for name, data in self.files.items())
        return {where: secrets for where, secrets in found.items() if secrets}


def _bodies(news_ar: dict[str, Any]) -> list[str]:
    return list(news_ar["bodies"].values())


def _article(news_ar: dict[str, Any], i: int) -> dict[str, Any]:
    """A real headline and body (tests/data/news_ar.yaml) on 1 December, i minutes past 9."""
    return {
        "id": f"secret-test-{i}",
        "source": news_ar["sources"][i % len(news_ar["sources"])],
        "title": news_ar["headlines"][i % len(news_ar["headlines"])],
        "body": _bodies(news_ar)[i % len(news_ar["bodies"])],
        "published_at": f"2024-12-01T09:{i:02d}:00Z",
    }


def _written(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _views(port: int) -> dict[str, tuple[int, str]]:
    return {path: _get(port, path) for path in ("/metrics", "/healthz", "/readyz")}


@pytest.fixture(scope="module")
def worker_run(
    kafka_broker: Any,
    acl_redis: AclRedis,
    news_ar: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Shown:
    tmp = tmp_path_factory.mktemp("secrets")
    settings = _settings(kafka_broker, acl_redis.url_with(PASSWORD), tmp)
    ensure_topics(settings)
    worker = WorkerProcess(settings, tmp / "process")
    shown = Shown()
    try:
        worker.start()
        with Publisher(settings) as publisher:
            for i in range(ARTICLES):
                publisher.article(_article(news_ar, i))
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if settings.alerts_file.exists():
                lines = settings.alerts_file.read_text(encoding="utf-8").splitlines()
                shown.alerts = [json.loads(line) for line in lines if line.strip()]
            if len(shown.alerts) >= ARTICLES:
                break
            time.sleep(0.5)
        shown.views = _views(settings.web_port)
    finally:
        worker.stop()
    shown.log = worker.log_path.read_text(errors="replace")
    shown.files = _written(tmp)
    return shown


def test_the_worker_counts_with_an_acl_password_and_shows_it_nowhere(worker_run: Shown) -> None:
    assert len(worker_run.alerts) >= ARTICLES, "the worker counted and fired through the ACL"
    assert worker_run.views["/readyz"][0] == 200
    assert worker_run.views["/healthz"][0] == 200
    assert "raqib_mentions_counted_total" in worker_run.views["/metrics"][1]
    assert worker_run.log, "debug logging: the most the worker ever says"
    assert worker_run.leaks() == {}


@pytest.fixture(scope="module")
def wrong_password_run(
    kafka_broker: Any,
    acl_redis: AclRedis,
    news_ar: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, tuple[int, str]], Shown]:
    """A worker whose Redis password is wrong: what it shows once started, and once an
    article made it touch Redis (it retries, and says so)."""
    tmp = tmp_path_factory.mktemp("wrong-password")
    settings = _settings(kafka_broker, acl_redis.url_with(WRONG_PASSWORD), tmp)
    ensure_topics(settings)
    worker = WorkerProcess(settings, tmp / "process", wait_for="/healthz")
    shown = Shown()
    try:
        worker.start()
        at_start = _views(settings.web_port)
        with Publisher(settings) as publisher:
            publisher.article(_article(news_ar, 0))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            shown.views = _views(settings.web_port)
            log = worker.log_path.read_text(errors="replace")
            if shown.views["/readyz"][0] == 503 and "redis unavailable" in log:
                break
            time.sleep(0.5)
    finally:
        worker.stop()
    shown.log = worker.log_path.read_text(errors="replace")
    shown.files = _written(tmp)
    return at_start, shown


def test_a_worker_with_a_wrong_redis_password_retries_and_hides_it(
    wrong_password_run: tuple[dict[str, tuple[int, str]], Shown],
) -> None:
    at_start, shown = wrong_password_run
    status, body = shown.views["/readyz"]
    assert (status, json.loads(body)["redis"]) == (503, False)
    assert "redis unavailable" in shown.log
    assert leaked(json.dumps(at_start)) == []
    assert shown.leaks() == {}


def test_a_worker_with_a_wrong_redis_password_is_never_ready(
    wrong_password_run: tuple[dict[str, tuple[int, str]], Shown],
) -> None:
    at_start, _ = wrong_password_run
    assert at_start["/readyz"][0] == 503


def _worker_with_sasl(kafka: Any, redis_url: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAQIB_")}
    env.update(
        _settings(
            kafka,
            redis_url,
            tmp,
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_sasl_mechanism="SCRAM-SHA-512",
            kafka_sasl_username=USER,
            kafka_sasl_password=KAFKA_PASSWORD,
            kafka_connect_timeout_s=5.0,  # not kafka-python's 30 s: it never gets through
        ).to_env()
    )
    return subprocess.run(
        [sys.executable, "-m", "raqib", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def sasl_worker(
    kafka_broker: Any, acl_redis: AclRedis, tmp_path_factory: pytest.TempPathFactory
) -> tuple[subprocess.CompletedProcess[str], dict[str, bytes]]:
    """A worker given SASL credentials for a broker without SASL (Tansu): it cannot
    connect, and stops once RAQIB_KAFKA_CONNECT_TIMEOUT_S (5 s here) has passed."""
    tmp = tmp_path_factory.mktemp("sasl")
    done = _worker_with_sasl(kafka_broker, acl_redis.url_with(PASSWORD), tmp)
    return done, _written(tmp)


def test_a_worker_that_cannot_log_in_to_kafka_stops_without_the_password(
    sasl_worker: tuple[subprocess.CompletedProcess[str], dict[str, bytes]],
) -> None:
    done, files = sasl_worker
    assert done.returncode != 0
    assert leaked(done.stdout + done.stderr) == []
    assert {name: leaked(data) for name, data in files.items() if leaked(data)} == {}


def test_a_worker_that_cannot_log_in_to_kafka_says_why(
    sasl_worker: tuple[subprocess.CompletedProcess[str], dict[str, bytes]],
) -> None:
    done, _ = sasl_worker
    output = done.stdout + done.stderr
    assert "Traceback" not in output
    assert "SASL_PLAINTEXT" in output or "SASL" in output


# -- commands ------------------------------------------------------------------------------


def _raqib(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A real process, as an operator runs it: stdout and stderr both."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RAQIB_")}
    return subprocess.run(
        [sys.executable, "-m", "raqib", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def history(tmp_path: Path, news_ar: dict[str, Any]) -> Path:
    path = tmp_path / "history.jsonl"
    lines = [
        {
            "id": f"history-{i}",
            "source": news_ar["sources"][i % len(news_ar["sources"])],
            "title": headline,
            "body": _bodies(news_ar)[i % len(news_ar["bodies"])],
            "published_at": f"2024-11-30T{i:02d}:00:00Z",
        }
        for i, headline in enumerate(news_ar["headlines"])
    ]
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), "utf-8")
    return path


@pytest.mark.parametrize("form", ["url", "variables"])
def test_backfill_counts_with_the_password_and_never_prints_it(
    acl_redis: AclRedis, history: Path, unique: str, form: str
) -> None:
    if form == "url":
        env = {"RAQIB_REDIS": acl_redis.url_with(PASSWORD)}
    else:
        env = {
            "RAQIB_REDIS": f"redis://127.0.0.1:{acl_redis.port}/0",
            "RAQIB_REDIS_USERNAME": USER,
            "RAQIB_REDIS_PASSWORD": PASSWORD,
        }
    done = _raqib(["backfill", str(history)], {**env, "RAQIB_REDIS_PREFIX": unique})
    assert done.returncode == 0, done.stderr
    assert leaked(done.stdout + done.stderr) == []
    client = Redis.from_url(acl_redis.url_with(PASSWORD))
    try:
        assert list(client.scan_iter(f"{unique}:*:h:*", count=10_000)), (
            "backfill counted through the ACL"
        )
        for key in list(client.scan_iter(f"{unique}:*", count=10_000)):
            client.unlink(key)
    finally:
        client.close()


@pytest.mark.parametrize("form", ["url", "variables"])
def test_backfill_with_a_wrong_password_fails_and_hides_it(
    acl_redis: AclRedis, history: Path, form: str
) -> None:
    if form == "url":
        env = {"RAQIB_REDIS": acl_redis.url_with(WRONG_PASSWORD)}
    else:
        env = {
            "RAQIB_REDIS": f"redis://127.0.0.1:{acl_redis.port}/0",
            "RAQIB_REDIS_USERNAME": USER,
            "RAQIB_REDIS_PASSWORD": WRONG_PASSWORD,
        }
    done = _raqib(["backfill", str(history)], env)
    assert done.returncode == 1
    assert "cannot count in redis://" in done.stderr
    if form == "url":
        assert f"redis://{USER}:***@127.0.0.1:{acl_redis.port}/0" in done.stderr
    assert "Traceback" not in done.stderr
    assert leaked(done.stdout + done.stderr) == []


def test_demo_help_never_prints_the_secrets() -> None:
    env = {
        "RAQIB_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "RAQIB_KAFKA_SASL_MECHANISM": "PLAIN",
        "RAQIB_KAFKA_SASL_USERNAME": USER,
        "RAQIB_KAFKA_SASL_PASSWORD": KAFKA_PASSWORD,
        "RAQIB_REDIS": f"redis://{USER}:{PASSWORD}@127.0.0.1:6379/0",
    }
    result = CliRunner().invoke(main, ["demo", "--help"], env=env)
    assert result.exit_code == 0, result.output
    assert leaked(result.output) == []
