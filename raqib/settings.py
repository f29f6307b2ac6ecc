"""Connection and runtime settings, read from ``RAQIB_*`` environment variables.

The same names appear in docker-compose.yml, the k8s manifests and the README. Only
``raqib demo`` and the tests start their own servers; everything else connects here.

>>> Settings.from_env({"RAQIB_KAFKA": "k1:9092,k2:9092"}).kafka_servers
['k1:9092', 'k2:9092']
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import parse_qs, urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from raqib.redaction import redact

ENV_PREFIX = "RAQIB_"

KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
Stages = Literal["all", "tag", "count"]
"""What one worker process runs: every stage, or the tag stage alone, or count and route
(so that tagging and counting each have a core: ``raqib worker --stages``)."""
_KAFKA_SASL = ("kafka_sasl_mechanism", "kafka_sasl_username", "kafka_sasl_password")
_KAFKA_TLS = ("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile")
_REDIS_TLS = ("redis_ssl_ca_certs", "redis_ssl_certfile", "redis_ssl_keyfile")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
# unset is handed to a child as "" (= unset), so that ``raqib demo``'s plaintext servers
# are never paired with the operator's credentials from the inherited environment
_CLEARED_WHEN_UNSET = frozenset(
    {*_KAFKA_SASL, *_KAFKA_TLS, *_REDIS_TLS, "redis_username", "redis_password"}
)


def env_name(field: str) -> str:
    """A field's environment variable: ``redis_password`` -> ``RAQIB_REDIS_PASSWORD``."""
    return ENV_PREFIX + field.upper()


class Topics(BaseModel):
    """Topic names; a prefix lets tests and tenants share one broker."""

    model_config = ConfigDict(frozen=True)

    prefix: str = ""

    def name(self, base: str) -> str:
        return f"{self.prefix}{base}"

    @property
    def articles(self) -> str:
        return self.name("articles")

    @property
    def tagged(self) -> str:
        return self.name("articles.tagged")

    @property
    def dlq(self) -> str:
        return self.name("articles.dlq")

    @property
    def mentions(self) -> str:
        return self.name("mentions")

    @property
    def alerts(self) -> str:
        return self.name("alerts")

    @property
    def alerts_dlq(self) -> str:
        return self.name("alerts.dlq")


class Settings(BaseModel):
    """Everything a stage needs to find its servers and its configuration.

    Credentials are :class:`~pydantic.SecretStr` and the Redis URL is redacted, so that
    ``repr``, ``str`` and validation errors never show a password; :meth:`to_env` does
    hand them to child processes.
    """

    # hide_input_in_errors: a ValidationError would otherwise quote every input, secrets too
    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    kafka: str = Field("127.0.0.1:9092", description="RAQIB_KAFKA: host:port[,host:port]")
    redis: str = Field("redis://127.0.0.1:6379/0", description="RAQIB_REDIS: redis:// URL")
    redis_cluster: bool = Field(
        False,
        description="RAQIB_REDIS_CLUSTER: RAQIB_REDIS names one node of a Redis Cluster; "
        "every process uses redis-py's cluster client, which finds the others",
    )
    app_id: str = Field(
        "raqib", min_length=1, description="RAQIB_APP_ID: Faust app id = consumer group"
    )
    topic_prefix: str = Field("", description="RAQIB_TOPIC_PREFIX: prepended to every topic")
    partitions: int = Field(4, ge=1, description="RAQIB_PARTITIONS: partitions of new topics")
    replication_factor: int = Field(1, ge=1, description="RAQIB_REPLICATION_FACTOR")
    redis_prefix: str = Field(
        "raqib", min_length=1, description="RAQIB_REDIS_PREFIX: first part of keys"
    )
    web_port: int = Field(6066, ge=0, le=65535, description="RAQIB_WEB_PORT: /metrics port")
    stages: Stages = Field(
        "all",
        description="RAQIB_STAGES: all, tag (articles -> mentions) or count (mentions -> "
        "counts -> alerts -> channels); a tag process and a count process use a core each",
    )
    tag_process: bool = Field(
        default_factory=lambda: (os.cpu_count() or 1) > 1,
        description="RAQIB_TAG_PROCESS: tag articles in a child process of the worker, so "
        "that tagging and counting each use a core (default: true with two cores or more; "
        "false tags in a thread of the worker)",
    )
    web_bind: str = Field("127.0.0.1", min_length=1, description="RAQIB_WEB_BIND: /metrics address")
    watchlist: Path | None = Field(None, description="RAQIB_WATCHLIST: watchlist.yaml")
    rules: Path | None = Field(None, description="RAQIB_RULES: rules.yaml")
    topics: Path | None = Field(None, description="RAQIB_TOPICS: topics.yaml")
    alerts_file: Path = Field(Path("alerts.jsonl"), description="RAQIB_ALERTS_FILE")
    channels: Path | None = Field(
        None, description="RAQIB_CHANNELS: channels.yaml (default: console + alerts file)"
    )
    data_dir: Path = Field(Path(".raqib"), description="RAQIB_DATA_DIR: worker state")
    pair_entities: int = Field(
        6, ge=0, le=20, description="RAQIB_PAIR_ENTITIES: entities per article paired (0: none)"
    )
    batch_size: int = Field(
        500, ge=1, le=100_000, description="RAQIB_BATCH_SIZE: mentions counted per batch"
    )
    max_message_bytes: int = Field(
        1_000_000,
        ge=65_536,
        le=100_000_000,
        description="RAQIB_MAX_MESSAGE_BYTES: largest input accepted and output sent "
        "(keep it under the broker's message.max.bytes)",
    )
    align_idle_s: float = Field(
        5.0,
        gt=0,
        le=3600,
        description="RAQIB_ALIGN_IDLE_S: seconds an articles partition read to its end may stay "
        "silent before its tag stage declares it idle and the count stage stops waiting for "
        "it (what it then judges beyond it is labelled partial)",
    )
    article_budget_s: float = Field(
        2.0, gt=0, le=600, description="RAQIB_ARTICLE_BUDGET_S: CPU seconds one article may take"
    )
    kafka_connect_timeout_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="RAQIB_KAFKA_CONNECT_TIMEOUT_S: seconds a worker or command waits at start "
        "for the Kafka brokers to answer (wrong address, refused credentials) before it "
        "stops with an error naming them",
    )
    log_level: str = Field("info", min_length=1, description="RAQIB_LOG_LEVEL")
    kafka_security_protocol: KafkaSecurityProtocol = Field(
        "PLAINTEXT",
        description="RAQIB_KAFKA_SECURITY_PROTOCOL: PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL",
    )
    kafka_sasl_mechanism: SaslMechanism | None = Field(
        None, description="RAQIB_KAFKA_SASL_MECHANISM: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512"
    )
    kafka_sasl_username: str | None = Field(None, description="RAQIB_KAFKA_SASL_USERNAME")
    kafka_sasl_password: SecretStr | None = Field(None, description="RAQIB_KAFKA_SASL_PASSWORD")
    kafka_ssl_cafile: Path | None = Field(
        None, description="RAQIB_KAFKA_SSL_CAFILE: CA certificates (PEM); else the system's"
    )
    kafka_ssl_certfile: Path | None = Field(
        None, description="RAQIB_KAFKA_SSL_CERTFILE: client certificate (PEM)"
    )
    kafka_ssl_keyfile: Path | None = Field(
        None, description="RAQIB_KAFKA_SSL_KEYFILE: the client certificate's key (PEM)"
    )
    redis_username: str | None = Field(
        None, description="RAQIB_REDIS_USERNAME: ACL user, when not in RAQIB_REDIS"
    )
    redis_password: SecretStr | None = Field(
        None, description="RAQIB_REDIS_PASSWORD: when not in RAQIB_REDIS"
    )
    redis_ssl_ca_certs: Path | None = Field(
        None, description="RAQIB_REDIS_SSL_CA_CERTS: CA certificates of a rediss:// server"
    )
    redis_ssl_certfile: Path | None = Field(
        None, description="RAQIB_REDIS_SSL_CERTFILE: client certificate (PEM)"
    )
    redis_ssl_keyfile: Path | None = Field(
        None, description="RAQIB_REDIS_SSL_KEYFILE: the client certificate's key (PEM)"
    )

    # producers (issue 16): deduplication and the HTTP ingest endpoint
    dedupe_ttl_s: float = Field(
        7 * 86400,
        gt=0,
        le=366 * 86400,
        description="RAQIB_DEDUPE_TTL_S: seconds producers remember an article they sent "
        "(its id, text fingerprint and MinHash in Redis), to suppress its duplicates",
    )
    dedupe_threshold: float = Field(
        0.5,
        gt=0,
        le=1,
        description="RAQIB_DEDUPE_THRESHOLD: estimated Jaccard similarity (character 5-grams) "
        "from which an article is a light rewrite of one already sent",
    )
    ingest_token: SecretStr | None = Field(
        None, description="RAQIB_INGEST_TOKEN: the bearer token `raqib ingest-http` requires"
    )

    @field_validator("kafka")
    @classmethod
    def _servers(cls, value: str) -> str:
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port], got {value!r}")
        return value

    @field_validator("redis")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"expected a redis:// URL, got {redact(value)!r}")
        return value

    @field_validator("redis_cluster", "tag_process", mode="before")
    @classmethod
    def _flag(cls, value: object, info: ValidationInfo) -> object:
        """true/false (also 1/0, yes/no, on/off, any case); anything else names the variable."""
        if not isinstance(value, str):
            return value
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        name = f"{ENV_PREFIX}{(info.field_name or '').upper()}"
        raise ValueError(f"{name} must be true or false, got {value!r}")

    @field_validator("kafka_security_protocol", "kafka_sasl_mechanism", mode="before")
    @classmethod
    def _choice(cls, value: object, info: ValidationInfo) -> object:
        """Accept any case; name the variable and the choices when the value is none of them."""
        if not isinstance(value, str):
            return value
        field = info.field_name or ""
        choices = get_args(
            KafkaSecurityProtocol if field == "kafka_security_protocol" else SaslMechanism
        )
        upper = value.strip().upper()
        if upper not in choices:
            raise ValueError(
                f"{env_name(field)} must be one of {', '.join(choices)}, got {value!r}"
            )
        return upper

    @field_validator(*_KAFKA_TLS, *_REDIS_TLS)
    @classmethod
    def _existing_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{env_name(info.field_name or '')}: no such file: {value}")
        return value

    @model_validator(mode="after")
    def _security(self) -> Settings:
        """The connection settings make sense together, or the error says which to set."""
        problems = [
            *self._kafka_security_problems(),
            *self._redis_security_problems(),
            *self._redis_cluster_problems(),
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _kafka_security_problems(self) -> Iterator[str]:
        protocol = self.kafka_security_protocol
        protocol_var = f"RAQIB_KAFKA_SECURITY_PROTOCOL={protocol}"
        if protocol.startswith("SASL_"):
            missing = [env_name(n) for n in _KAFKA_SASL if getattr(self, n) in (None, "")]
            if missing:
                yield f"{protocol_var} needs {', '.join(missing)}"
        elif stray := [env_name(n) for n in _KAFKA_SASL if getattr(self, n) is not None]:
            yield f"{', '.join(stray)} set, but {protocol_var}: use SASL_PLAINTEXT or SASL_SSL"
        if protocol not in ("SSL", "SASL_SSL"):
            if stray := [env_name(n) for n in _KAFKA_TLS if getattr(self, n) is not None]:
                yield f"{', '.join(stray)} set, but {protocol_var}: use SSL or SASL_SSL"
        if self.kafka_ssl_keyfile and not self.kafka_ssl_certfile:
            yield "RAQIB_KAFKA_SSL_KEYFILE needs RAQIB_KAFKA_SSL_CERTFILE"

    def _redis_cluster_problems(self) -> Iterator[str]:
        if not self.redis_cluster:
            return
        url = urlsplit(self.redis)
        if url.scheme == "unix":
            yield "RAQIB_REDIS_CLUSTER=true needs a redis:// or rediss:// URL of one of its nodes"
            return
        databases = {url.path.strip("/") or "0", *parse_qs(url.query).get("db", [])}
        if databases != {"0"}:
            yield "RAQIB_REDIS_CLUSTER=true: a cluster has database 0 only (RAQIB_REDIS .../0)"

    def _redis_security_problems(self) -> Iterator[str]:
        url = urlsplit(self.redis)
        if url.scheme != "rediss":
            if stray := [env_name(n) for n in _REDIS_TLS if getattr(self, n) is not None]:
                yield f"{', '.join(stray)} set, but RAQIB_REDIS is not a rediss:// URL"
        if self.redis_ssl_keyfile and not self.redis_ssl_certfile:
            yield "RAQIB_REDIS_SSL_KEYFILE needs RAQIB_REDIS_SSL_CERTFILE"
        url_password = url.password or parse_qs(url.query).get("password")
        if self.redis_password is not None and url_password:
            yield "RAQIB_REDIS has a password and RAQIB_REDIS_PASSWORD is set: keep one"
        if self.redis_username is not None and url.username:
            yield "RAQIB_REDIS has a user name and RAQIB_REDIS_USERNAME is set: keep one"

    @property
    def kafka_servers(self) -> list[str]:
        return [s.strip() for s in self.kafka.split(",") if s.strip()]

    @property
    def topic_names(self) -> Topics:
        return Topics(prefix=self.topic_prefix)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, /, **overrides: object) -> Settings:
        """Read ``RAQIB_<FIELD>`` variables; keyword overrides win (CLI flags)."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for name in cls.model_fields:
            raw = env.get(ENV_PREFIX + name.upper())
            if raw not in (None, ""):
                values[name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(values)

    @property
    def group_id(self) -> str:
        """The consumer group of this process: tag-only processes form their own group
        (Faust assigns every partition of a group's topics to each member alike)."""
        return f"{self.app_id}-tag" if self.stages == "tag" else self.app_id

    def to_env(self) -> dict[str, str]:
        """The environment that hands these settings, secrets included, to a child process."""
        env: dict[str, str] = {}
        for name, value in self.model_dump().items():
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if value is not None:
                env[env_name(name)] = str(value)
            elif name in _CLEARED_WHEN_UNSET:
                env[env_name(name)] = ""
        return env

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """``repr`` and ``str`` show the Redis URL without its password."""
        for name, value in super().__repr_args__():
            yield name, redact(value) if name == "redis" else value
