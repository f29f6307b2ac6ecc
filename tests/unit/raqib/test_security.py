"""The security settings reach kafka-python, Faust (aiokafka) and redis-py as each expects.

What a client does with them on the wire is tested against real servers in
tests/integration/test_security.py; here, the arguments and the objects built from them.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import aiokafka
import faust
import pytest
import redis
import redis.asyncio
import redis.asyncio.cluster
from faust.auth import SASLCredentials
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient
from kafka.net.sasl import get_sasl_mechanism
from redis.asyncio.connection import SSLConnection as AsyncSSLConnection
from redis.connection import Connection, SSLConnection

from raqib.redaction import redact, redact_logger
from raqib.security import (
    faust_credentials,
    kafka_auth,
    kafka_ssl_context,
    redis_client,
    redis_options,
    redis_sync_client,
)
from raqib.settings import Settings

SASL = {
    "RAQIB_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "RAQIB_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "RAQIB_KAFKA_SASL_USERNAME": "raqib",
    "RAQIB_KAFKA_SASL_PASSWORD": "kafka-s3cret",
}


def test_plaintext_kafka_needs_nothing() -> None:
    settings = Settings()
    assert kafka_auth(settings) == {"security_protocol": "PLAINTEXT"}
    assert kafka_ssl_context(settings) is None
    assert faust_credentials(settings) is None


@pytest.mark.parametrize("client", [KafkaProducer, KafkaConsumer, KafkaAdminClient])
def test_kafka_auth_is_what_every_kafka_python_client_takes(client: Any, tmp_path: Path) -> None:
    for name in ("ca.pem", "client.pem", "client.key"):
        (tmp_path / name).touch()
    settings = Settings.from_env(
        {
            **SASL,
            "RAQIB_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "RAQIB_KAFKA_SSL_CAFILE": str(tmp_path / "ca.pem"),
            "RAQIB_KAFKA_SSL_CERTFILE": str(tmp_path / "client.pem"),
            "RAQIB_KAFKA_SSL_KEYFILE": str(tmp_path / "client.key"),
        }
    )
    config = kafka_auth(settings)
    assert config == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "raqib",
        "sasl_plain_password": "kafka-s3cret",
        "ssl_cafile": str(tmp_path / "ca.pem"),
        "ssl_certfile": str(tmp_path / "client.pem"),
        "ssl_keyfile": str(tmp_path / "client.key"),
    }
    # kafka-python rejects unknown options before it connects: these are all its own
    assert set(config) <= set(client.DEFAULT_CONFIG)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_kafka_python_sasl_mechanism_reads_the_credentials(mechanism: str) -> None:
    """Build the mechanism as kafka-python's connection does, from the client's config."""
    config = kafka_auth(Settings.from_env({**SASL, "RAQIB_KAFKA_SASL_MECHANISM": mechanism}))
    first = get_sasl_mechanism(mechanism)(host="broker", **config).auth_bytes()
    if mechanism == "PLAIN":
        assert first == b"raqib\0raqib\0kafka-s3cret"  # authzid, authcid, password
    else:  # SCRAM's client-first message names the user; the password never crosses
        assert first.startswith(b"n,,n=raqib,r=") and b"kafka-s3cret" not in first


def test_faust_sasl_credentials_become_aiokafka_settings() -> None:
    settings = Settings.from_env(SASL)
    credentials = faust_credentials(settings)
    assert isinstance(credentials, SASLCredentials)
    assert "kafka-s3cret" not in repr(credentials)
    app = faust.App("raqib-test-security", broker_credentials=credentials)
    auth = credentials_to_aiokafka_auth(app.conf.broker_credentials, app.conf.ssl_context)
    assert auth == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "raqib",
        "sasl_plain_password": "kafka-s3cret",
        "ssl_context": None,
    }

    async def build() -> aiokafka.AIOKafkaClient:
        # aiokafka checks protocol, mechanism and credentials here, before connecting
        return aiokafka.AIOKafkaClient(bootstrap_servers="127.0.0.1:9", **auth)

    client = asyncio.run(build())
    assert client._sasl_mechanism == "SCRAM-SHA-512"
    assert client._sasl_plain_password == "kafka-s3cret"


def test_redis_credentials_from_the_settings_reach_the_connections() -> None:
    settings = Settings.from_env(
        {
            "RAQIB_REDIS": "redis://cache:6379/2",
            "RAQIB_REDIS_USERNAME": "raqib",
            "RAQIB_REDIS_PASSWORD": "redis-s3cret",
        }
    )
    assert redis_options(settings) == {"username": "raqib", "password": "redis-s3cret"}
    sync = redis_sync_client(settings, socket_timeout=1.5)  # redis-py connects lazily
    assert sync.connection_pool.connection_class is Connection
    kwargs = sync.connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("cache", 6379, 2)
    assert (kwargs["username"], kwargs["password"]) == ("raqib", "redis-s3cret")
    assert kwargs["socket_timeout"] == 1.5
    sync.close()


def test_rediss_url_gets_the_tls_files(tmp_path: Path) -> None:
    for name in ("ca.pem", "client.pem", "client.key"):
        (tmp_path / name).touch()
    settings = Settings.from_env(
        {
            "RAQIB_REDIS": "rediss://raqib:redis-s3cret@cache:6380/0",
            "RAQIB_REDIS_SSL_CA_CERTS": str(tmp_path / "ca.pem"),
            "RAQIB_REDIS_SSL_CERTFILE": str(tmp_path / "client.pem"),
            "RAQIB_REDIS_SSL_KEYFILE": str(tmp_path / "client.key"),
        }
    )

    async def build() -> dict[str, Any]:
        client = redis_client(settings)
        assert client.connection_pool.connection_class is AsyncSSLConnection
        kwargs = dict(client.connection_pool.connection_kwargs)
        await client.aclose()
        return kwargs

    kwargs = asyncio.run(build())
    assert kwargs["ssl_ca_certs"] == str(tmp_path / "ca.pem")
    assert kwargs["ssl_certfile"] == str(tmp_path / "client.pem")
    assert kwargs["ssl_keyfile"] == str(tmp_path / "client.key")
    assert (kwargs["username"], kwargs["password"]) == ("raqib", "redis-s3cret")
    sync = redis_sync_client(settings)
    assert sync.connection_pool.connection_class is SSLConnection
    assert sync.connection_pool.connection_kwargs["ssl_ca_certs"] == str(tmp_path / "ca.pem")
    sync.close()


def test_the_cluster_flag_builds_the_cluster_clients_with_the_same_credentials(
    tmp_path: Path,
) -> None:
    """The asyncio cluster client connects on first use: built here, it shows what each
    node's connections will get. (The blocking one connects as it is built: it is tested
    against a real cluster, tests/integration/test_redis_cluster.py.)"""
    for name in ("ca.pem", "client.pem", "client.key"):
        (tmp_path / name).touch()
    settings = Settings.from_env(
        {
            "RAQIB_REDIS": "rediss://node-1:6380/0",
            "RAQIB_REDIS_CLUSTER": "true",
            "RAQIB_REDIS_USERNAME": "raqib",
            "RAQIB_REDIS_PASSWORD": "redis-s3cret",
            "RAQIB_REDIS_SSL_CA_CERTS": str(tmp_path / "ca.pem"),
            "RAQIB_REDIS_SSL_CERTFILE": str(tmp_path / "client.pem"),
            "RAQIB_REDIS_SSL_KEYFILE": str(tmp_path / "client.key"),
        }
    )

    async def build() -> tuple[Any, dict[str, Any], list[tuple[str, int]]]:
        client = redis_client(settings, socket_timeout=1.5)
        kwargs = dict(client.connection_kwargs)
        nodes = [(n.host, n.port) for n in client.nodes_manager.startup_nodes.values()]
        await client.aclose()
        return type(client), kwargs, nodes

    kind, kwargs, nodes = asyncio.run(build())
    assert kind is redis.asyncio.cluster.RedisCluster
    assert nodes == [("node-1", 6380)]
    assert kwargs["connection_class"] is AsyncSSLConnection
    assert (kwargs["username"], kwargs["password"]) == ("raqib", "redis-s3cret")
    assert kwargs["ssl_ca_certs"] == str(tmp_path / "ca.pem")
    assert (kwargs["ssl_certfile"], kwargs["ssl_keyfile"]) == (
        str(tmp_path / "client.pem"),
        str(tmp_path / "client.key"),
    )
    assert kwargs["socket_timeout"] == 1.5


def test_without_the_cluster_flag_the_clients_are_single_server_ones() -> None:
    settings = Settings.from_env({"RAQIB_REDIS": "redis://cache:6379/0"})

    async def build() -> type:
        client = redis_client(settings)
        await client.aclose()
        return type(client)

    assert asyncio.run(build()) is redis.asyncio.Redis
    sync = redis_sync_client(settings)
    assert type(sync) is redis.Redis
    sync.close()


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("redis://user:secret@host:6379/0", "redis://user:***@host:6379/0"),
        ("rediss://user:secret@host:6380/1", "rediss://user:***@host:6380/1"),
        ("redis://:secret@host:6379/0", "redis://:***@host:6379/0"),
        ("redis://user:se@cret@host:6379/0", "redis://user:***@host:6379/0"),
        ("unix:///run/redis.sock?db=0&password=secret", "unix:///run/redis.sock?db=0&password=***"),
        (
            "no counts in redis://u:secret@h:1/0 (prefix raqib)",
            "no counts in redis://u:***@h:1/0 (prefix raqib)",
        ),
        (
            "{'sasl_plain_password': 'secret', 'acks': 1}",
            "{'sasl_plain_password': '***', 'acks': 1}",
        ),
        (
            "RAQIB_KAFKA_SASL_PASSWORD=secret RAQIB_KAFKA=k:9092",
            "RAQIB_KAFKA_SASL_PASSWORD=*** RAQIB_KAFKA=k:9092",
        ),
        ('{"password": "secret"}', '{"password": "***"}'),
    ],
)
def test_redact_hides_passwords(text: str, shown: str) -> None:
    assert redact(text) == shown


@pytest.mark.parametrize(
    "text",
    [
        "redis://cache:6379/0",
        "redis://raqib@cache:6379/0",
        "http://127.0.0.1:6066/metrics",
        "k1:9092,k2:9092",
        "password_file: /etc/raqib/redis.pass",
    ],
)
def test_redact_leaves_text_without_passwords_as_it_is(text: str) -> None:
    assert redact(text) == text


def test_a_redacted_logger_never_logs_the_sasl_password(caplog: pytest.LogCaptureFixture) -> None:
    """kafka-python's admin client logs its configuration at debug level."""
    config = kafka_auth(Settings.from_env(SASL))
    redact_logger("kafka.admin.client")
    redact_logger("kafka.admin.client")  # idempotent
    with caplog.at_level(logging.DEBUG, logger="kafka.admin.client"):
        logging.getLogger("kafka.admin.client").debug(
            "Starting KafkaAdminClient with configuration: %s", config
        )
    assert "'sasl_plain_password': '***'" in caplog.text
    assert "kafka-s3cret" not in caplog.text
    assert len(logging.getLogger("kafka.admin.client").filters) == 1
