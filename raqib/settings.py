"""Connection and runtime settings, read from ``RAQIB_*`` environment variables.

The same names appear in docker-compose.yml, the k8s manifests and the README. Only
``raqib demo`` and the tests start their own servers; everything else connects here.

>>> Settings.from_env({"RAQIB_KAFKA": "k1:9092,k2:9092"}).kafka_servers
['k1:9092', 'k2:9092']
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

ENV_PREFIX = "RAQIB_"


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


class Settings(BaseModel):
    """Everything a stage needs to find its servers and its configuration."""

    model_config = ConfigDict(frozen=True)

    kafka: str = Field("127.0.0.1:9092", description="RAQIB_KAFKA: host:port[,host:port]")
    redis: str = Field("redis://127.0.0.1:6379/0", description="RAQIB_REDIS: redis:// URL")
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
    web_bind: str = Field("127.0.0.1", min_length=1, description="RAQIB_WEB_BIND: /metrics address")
    watchlist: Path | None = Field(None, description="RAQIB_WATCHLIST: watchlist.yaml")
    rules: Path | None = Field(None, description="RAQIB_RULES: rules.yaml")
    topics: Path | None = Field(None, description="RAQIB_TOPICS: topics.yaml")
    alerts_file: Path = Field(Path("alerts.jsonl"), description="RAQIB_ALERTS_FILE")
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
    article_budget_s: float = Field(
        2.0, gt=0, le=600, description="RAQIB_ARTICLE_BUDGET_S: CPU seconds one article may take"
    )
    log_level: str = Field("info", min_length=1, description="RAQIB_LOG_LEVEL")

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
            raise ValueError(f"expected a redis:// URL, got {value!r}")
        return value

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

    def to_env(self) -> dict[str, str]:
        """The environment that hands these settings to a child process."""
        env: dict[str, str] = {}
        for name, value in self.model_dump().items():
            if value is not None:
                env[ENV_PREFIX + name.upper()] = str(value)
        return env
