"""Settings come from RAQIB_* variables; flags win; a child process gets the same settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from raqib.settings import Settings, Topics


def test_defaults_without_environment() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.kafka_servers == ["127.0.0.1:9092"]
    assert settings.redis == "redis://127.0.0.1:6379/0"


def test_from_env_reads_and_converts_every_field() -> None:
    env = {
        "RAQIB_KAFKA": "k1:9092, k2:9093",
        "RAQIB_REDIS": "redis://cache:6380/2",
        "RAQIB_PARTITIONS": "8",
        "RAQIB_WEB_PORT": "0",
        "RAQIB_RULES": "/etc/raqib/rules.yaml",
        "RAQIB_TOPIC_PREFIX": "",  # empty means unset, as docker-compose passes it
        "OTHER_KAFKA": "ignored:1",
    }
    settings = Settings.from_env(env)
    assert settings.kafka_servers == ["k1:9092", "k2:9093"]
    assert settings.redis == "redis://cache:6380/2"
    assert (settings.partitions, settings.web_port) == (8, 0)
    assert settings.rules == Path("/etc/raqib/rules.yaml")
    assert settings.topic_prefix == ""


def test_overrides_win_and_none_does_not_override() -> None:
    env = {"RAQIB_KAFKA": "env:9092", "RAQIB_APP_ID": "from-env"}
    settings = Settings.from_env(env, kafka="flag:9092", app_id=None, partitions=2)
    assert settings.kafka == "flag:9092"
    assert settings.app_id == "from-env"
    assert settings.partitions == 2


@pytest.mark.parametrize(
    "kafka", ["k1", ":9092", "k1:", "k1:abc", "k1:9092,", "k1:9092,,k2:9092", "k1: 9092"]
)
def test_bad_kafka_is_rejected(kafka: str) -> None:
    with pytest.raises(ValidationError, match="host:port"):
        Settings.from_env({"RAQIB_KAFKA": kafka})


@pytest.mark.parametrize("redis", ["cache:6379", "http://cache:6379/0", "6379", "REDIS"])
def test_bad_redis_is_rejected(redis: str) -> None:
    with pytest.raises(ValidationError, match="redis:// URL"):
        Settings.from_env({"RAQIB_REDIS": redis})


@pytest.mark.parametrize("redis", ["redis://r:1/0", "rediss://r:6380/1", "unix:///tmp/r.sock"])
def test_redis_url_schemes(redis: str) -> None:
    assert Settings.from_env({"RAQIB_REDIS": redis}).redis == redis


@pytest.mark.parametrize(("name", "value"), [("PARTITIONS", "0"), ("WEB_PORT", "65536")])
def test_out_of_range_numbers_are_rejected(name: str, value: str) -> None:
    with pytest.raises(ValidationError):
        Settings.from_env({f"RAQIB_{name}": value})


def test_settings_are_frozen() -> None:
    with pytest.raises(ValidationError):
        Settings().kafka = "other:9092"  # type: ignore[misc]


_word = st.text(alphabet="abcdefghij0123456789-_.", min_size=1, max_size=12)


@given(
    kafka=st.lists(st.tuples(_word, st.integers(1, 65535)), min_size=1, max_size=3),
    prefix=st.text(alphabet="abcxyz-.", max_size=8),
    redis_prefix=_word,
    partitions=st.integers(1, 64),
    watchlist=st.none() | st.just(Path("/etc/raqib/watchlist.yaml")),
)
def test_to_env_round_trips(
    kafka: list[tuple[str, int]],
    prefix: str,
    redis_prefix: str,
    partitions: int,
    watchlist: Path | None,
) -> None:
    settings = Settings(
        kafka=",".join(f"{host}:{port}" for host, port in kafka),
        redis="redis://cache:6379/3",
        topic_prefix=prefix,
        redis_prefix=redis_prefix,
        partitions=partitions,
        watchlist=watchlist,
        data_dir=Path("/var/lib/raqib"),
    )
    env = settings.to_env()
    assert all(k.startswith("RAQIB_") and isinstance(v, str) for k, v in env.items())
    assert Settings.from_env(env) == settings


@pytest.mark.parametrize("name", ["redis_prefix", "app_id", "web_bind", "log_level"])
def test_names_that_cannot_round_trip_empty_are_required(name: str) -> None:
    # the environment cannot tell "" from unset, so a child process would read the default
    with pytest.raises(ValidationError):
        Settings(**{name: ""})


def test_topic_prefix_is_prepended_to_every_topic() -> None:
    topics = Settings.from_env({"RAQIB_TOPIC_PREFIX": "t42."}).topic_names
    assert isinstance(topics, Topics)
    assert [topics.articles, topics.tagged, topics.dlq, topics.mentions, topics.alerts] == [
        "t42.articles",
        "t42.articles.tagged",
        "t42.articles.dlq",
        "t42.mentions",
        "t42.alerts",
    ]
    assert Settings().topic_names.articles == "articles"
