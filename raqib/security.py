"""Authenticated, encrypted clients for Kafka and Redis, built from the settings.

Every place that connects builds its client here, so that ``RAQIB_KAFKA_SECURITY_PROTOCOL``,
SASL, TLS and Redis ACL settings reach all of them alike:

- kafka-python (``KafkaProducer``, ``KafkaConsumer``, ``KafkaAdminClient``)::

      KafkaProducer(bootstrap_servers=settings.kafka_servers, **kafka_auth(settings))

- Faust (aiokafka underneath)::

      faust.App(..., broker_credentials=faust_credentials(settings))

- redis-py, asyncio and blocking, one server or a cluster (``RAQIB_REDIS_CLUSTER``)::

      redis = redis_client(settings)          # redis.asyncio.Redis, or its RedisCluster
      sync = redis_sync_client(settings)      # redis.Redis, or redis.cluster.RedisCluster

Passwords never leave these objects for a message: print URLs through
:func:`raqib.redaction.redact`.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster

from raqib.redis_cluster import AsyncRedis, SyncRedis
from raqib.settings import Settings

if TYPE_CHECKING:
    from faust.types.auth import CredentialsT

__all__ = [
    "faust_credentials",
    "kafka_auth",
    "kafka_ssl_context",
    "redis_client",
    "redis_options",
    "redis_sync_client",
]


def kafka_auth(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for kafka-python clients: protocol, SASL and TLS files."""
    config: dict[str, Any] = {"security_protocol": settings.kafka_security_protocol}
    if settings.kafka_security_protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        assert settings.kafka_sasl_password is not None  # checked by Settings
        config["sasl_mechanism"] = settings.kafka_sasl_mechanism
        config["sasl_plain_username"] = settings.kafka_sasl_username
        config["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        for option, path in (
            ("ssl_cafile", settings.kafka_ssl_cafile),
            ("ssl_certfile", settings.kafka_ssl_certfile),
            ("ssl_keyfile", settings.kafka_ssl_keyfile),
        ):
            if path is not None:
                config[option] = str(path)
    return config


def kafka_ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of the broker connections; None when the protocol is not SSL/SASL_SSL.

    It verifies the broker against ``RAQIB_KAFKA_SSL_CAFILE`` (else the system's CAs) and
    its host name, and presents the client certificate when one is set.
    """
    if settings.kafka_security_protocol not in ("SSL", "SASL_SSL"):
        return None
    cafile = settings.kafka_ssl_cafile
    context = ssl.create_default_context(
        ssl.Purpose.SERVER_AUTH, cafile=None if cafile is None else str(cafile)
    )
    if settings.kafka_ssl_certfile is not None:
        keyfile = settings.kafka_ssl_keyfile
        context.load_cert_chain(
            str(settings.kafka_ssl_certfile), None if keyfile is None else str(keyfile)
        )
    return context


def faust_credentials(settings: Settings) -> CredentialsT | None:
    """``broker_credentials=`` for ``faust.App``: SASL or SSL credentials, None for plaintext.

    Faust derives aiokafka's ``security_protocol`` from the credentials: SASL credentials
    with an SSL context are SASL_SSL, without one SASL_PLAINTEXT.
    """
    from faust.auth import SASLCredentials, SSLCredentials

    protocol = settings.kafka_security_protocol
    context = kafka_ssl_context(settings)
    if protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        assert settings.kafka_sasl_password is not None  # checked by Settings
        return SASLCredentials(
            username=settings.kafka_sasl_username,
            password=settings.kafka_sasl_password.get_secret_value(),
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=context,
        )
    if context is not None:
        return SSLCredentials(context)
    return None


def redis_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments that ``Redis.from_url(settings.redis, ...)`` (or the cluster
    client's) needs besides the URL: the ACL user and password when they are not in the URL,
    and the TLS files of a ``rediss://`` server. A cluster client hands them to every node's
    connections."""
    options: dict[str, Any] = {}
    if settings.redis_username is not None:
        options["username"] = settings.redis_username
    if settings.redis_password is not None:
        options["password"] = settings.redis_password.get_secret_value()
    for option, path in (
        ("ssl_ca_certs", settings.redis_ssl_ca_certs),
        ("ssl_certfile", settings.redis_ssl_certfile),
        ("ssl_keyfile", settings.redis_ssl_keyfile),
    ):
        if path is not None:  # only with a rediss:// URL (checked by Settings)
            options[option] = str(path)
    return options


def redis_client(settings: Settings, **kwargs: Any) -> AsyncRedis:
    """The asyncio Redis client of ``RAQIB_REDIS``; ``kwargs`` (timeouts,
    ``decode_responses``) go to redis-py as they are. With ``RAQIB_REDIS_CLUSTER`` it is
    redis-py's cluster client, which learns every node from the one named and connects on
    first use."""
    if settings.redis_cluster:
        return redis.asyncio.cluster.RedisCluster.from_url(
            settings.redis, **redis_options(settings), **kwargs
        )
    return redis.asyncio.Redis.from_url(settings.redis, **redis_options(settings), **kwargs)


def redis_sync_client(settings: Settings, **kwargs: Any) -> SyncRedis:
    """The blocking Redis client of ``RAQIB_REDIS``, for commands and probes. The cluster
    client connects here (to learn the nodes): an unreachable cluster raises
    ``RedisClusterException`` now."""
    if settings.redis_cluster:
        return redis.cluster.RedisCluster.from_url(
            settings.redis, **redis_options(settings), **kwargs
        )
    return redis.Redis.from_url(settings.redis, **redis_options(settings), **kwargs)
