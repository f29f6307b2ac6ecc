"""Create raqib's topics before anyone produces, so they get the configured partitions.

A broker that auto-creates topics would give ``articles`` its default partition count on
the first send; creating them up front keeps ``mentions`` keyed and spread as planned.
"""

from __future__ import annotations

import logging

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from raqib.exceptions import BrokerUnavailable, ConfigError
from raqib.redaction import redact, redact_logger
from raqib.security import kafka_auth
from raqib.settings import Settings

log = logging.getLogger(__name__)


def topic_names(settings: Settings) -> list[str]:
    t = settings.topic_names
    return [t.articles, t.tagged, t.dlq, t.mentions, t.alerts, t.alerts_dlq]


def partitions_of(settings: Settings, name: str) -> int:
    """``alerts`` (and its dead letters) have one partition: one router sees every alert
    event in order and tells each story once; alerts are few."""
    t = settings.topic_names
    return 1 if name in (t.alerts, t.alerts_dlq) else settings.partitions


def _check_partitions(admin: KafkaAdminClient, settings: Settings) -> None:
    """The tag stage routes each subject to ``murmur2(subject) % RAQIB_PARTITIONS``, and the
    count stage waits for every one of the RAQIB_PARTITIONS ``articles`` partitions before
    it judges: both topics must have exactly that many partitions, or events would go to
    partitions that do not exist (or the count stage would wait for one that never sends)."""
    t = settings.topic_names
    for name in (t.mentions, t.articles):
        (described,) = admin.describe_topics([name])
        found = len(described.get("partitions") or [])
        if found and found != settings.partitions:
            raise ConfigError(
                "RAQIB_PARTITIONS",
                None,
                f"topic {name} has {found} partitions but RAQIB_PARTITIONS is "
                f"{settings.partitions}: set RAQIB_PARTITIONS={found} (or use a new topic "
                "prefix)",
            )


def ensure_topics(settings: Settings, *, timeout_s: float = 30.0) -> list[str]:
    """Create the missing topics; return the names that were created.

    Raises :class:`BrokerUnavailable` naming the servers and the security protocol when the
    brokers cannot be reached or refuse the credentials (no traceback for an operator)
    within ``settings.kafka_connect_timeout_s`` (``RAQIB_KAFKA_CONNECT_TIMEOUT_S``);
    ``timeout_s`` bounds each request once connected.
    """
    redact_logger("kafka.admin.client")  # it logs its configuration, SASL password included
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=settings.kafka_servers,
            client_id=f"{settings.app_id}-admin",
            request_timeout_ms=int(timeout_s * 1000),
            bootstrap_timeout_ms=int(settings.kafka_connect_timeout_s * 1000),
            **kafka_auth(settings),
        )
    except KafkaError as exc:
        raise _unavailable(settings, exc) from None
    try:
        existing = set(admin.list_topics())
        missing = [name for name in topic_names(settings) if name not in existing]
        created: list[str] = []
        for name in missing:
            try:
                admin.create_topics(
                    [
                        NewTopic(
                            name,
                            num_partitions=partitions_of(settings, name),
                            replication_factor=settings.replication_factor,
                        )
                    ]
                )
                created.append(name)
            except TopicAlreadyExistsError:  # another process won the race
                pass
        if created:
            log.info("created topics %s with %d partitions", created, settings.partitions)
        _check_partitions(admin, settings)
        return created
    except KafkaError as exc:
        raise _unavailable(settings, exc) from None
    finally:
        admin.close()


def _unavailable(settings: Settings, exc: Exception) -> BrokerUnavailable:
    protocol = settings.kafka_security_protocol
    how = f" as {settings.kafka_sasl_mechanism}" if protocol.startswith("SASL") else ""
    return BrokerUnavailable(
        f"cannot use the Kafka brokers {settings.kafka} over {protocol}{how}: "
        f"{type(exc).__name__}: {redact(exc)} — check RAQIB_KAFKA and the "
        "RAQIB_KAFKA_SECURITY_PROTOCOL / SASL / SSL settings"
    )
