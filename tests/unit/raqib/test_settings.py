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


SASL = {
    "RAQIB_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "RAQIB_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
    "RAQIB_KAFKA_SASL_USERNAME": "raqib",
    "RAQIB_KAFKA_SASL_PASSWORD": "kafka-s3cret",
}


@pytest.fixture
def pem_files(tmp_path: Path) -> dict[str, str]:
    """Files standing in for certificates: Settings checks they exist, not what they hold."""
    files = {}
    for name in ("ca.pem", "client.pem", "client.key"):
        (tmp_path / name).touch()
        files[name] = str(tmp_path / name)
    return files


def test_security_defaults_to_plaintext_without_credentials() -> None:
    settings = Settings()
    assert settings.kafka_security_protocol == "PLAINTEXT"
    assert settings.kafka_sasl_password is None and settings.redis_password is None


def test_sasl_settings_are_read_and_the_password_kept_secret() -> None:
    settings = Settings.from_env(
        {**SASL, "RAQIB_KAFKA_SECURITY_PROTOCOL": "sasl_ssl", "RAQIB_KAFKA_SASL_MECHANISM": "plain"}
    )
    assert settings.kafka_security_protocol == "SASL_SSL"  # any case
    assert settings.kafka_sasl_mechanism == "PLAIN"
    assert settings.kafka_sasl_password is not None
    assert settings.kafka_sasl_password.get_secret_value() == "kafka-s3cret"


@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
@pytest.mark.parametrize(
    "missing",
    ["RAQIB_KAFKA_SASL_MECHANISM", "RAQIB_KAFKA_SASL_USERNAME", "RAQIB_KAFKA_SASL_PASSWORD"],
)
def test_sasl_needs_mechanism_user_and_password(protocol: str, missing: str) -> None:
    env = {**SASL, "RAQIB_KAFKA_SECURITY_PROTOCOL": protocol}
    del env[missing]
    with pytest.raises(
        ValidationError, match=f"RAQIB_KAFKA_SECURITY_PROTOCOL={protocol} needs {missing}"
    ):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("RAQIB_KAFKA_SECURITY_PROTOCOL", "TLS", "RAQIB_KAFKA_SECURITY_PROTOCOL must be one of"),
        ("RAQIB_KAFKA_SASL_MECHANISM", "GSSAPI", "RAQIB_KAFKA_SASL_MECHANISM must be one of"),
    ],
)
def test_unknown_protocol_or_mechanism_names_the_variable(
    name: str, value: str, expected: str
) -> None:
    with pytest.raises(ValidationError, match=expected):
        Settings.from_env({**SASL, name: value})


def test_sasl_credentials_without_a_sasl_protocol_are_an_error() -> None:
    env = {**SASL, "RAQIB_KAFKA_SECURITY_PROTOCOL": "SSL"}
    with pytest.raises(ValidationError, match="RAQIB_KAFKA_SASL_MECHANISM, .* set, but"):
        Settings.from_env(env)
    with pytest.raises(ValidationError, match="use SASL_PLAINTEXT or SASL_SSL"):
        Settings.from_env({"RAQIB_KAFKA_SASL_USERNAME": "raqib"})


def test_tls_files_must_exist_and_need_a_tls_protocol(pem_files: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="RAQIB_KAFKA_SSL_CAFILE: no such file: /nowhere"):
        Settings.from_env(
            {"RAQIB_KAFKA_SECURITY_PROTOCOL": "SSL", "RAQIB_KAFKA_SSL_CAFILE": "/nowhere"}
        )
    with pytest.raises(
        ValidationError, match="RAQIB_KAFKA_SSL_CAFILE set, but .*use SSL or SASL_SSL"
    ):
        Settings.from_env({"RAQIB_KAFKA_SSL_CAFILE": pem_files["ca.pem"]})
    with pytest.raises(
        ValidationError, match="RAQIB_KAFKA_SSL_KEYFILE needs RAQIB_KAFKA_SSL_CERTFILE"
    ):
        Settings.from_env(
            {
                "RAQIB_KAFKA_SECURITY_PROTOCOL": "SSL",
                "RAQIB_KAFKA_SSL_KEYFILE": pem_files["client.key"],
            }
        )
    settings = Settings.from_env(
        {
            "RAQIB_KAFKA_SECURITY_PROTOCOL": "SSL",
            "RAQIB_KAFKA_SSL_CAFILE": pem_files["ca.pem"],
            "RAQIB_KAFKA_SSL_CERTFILE": pem_files["client.pem"],
            "RAQIB_KAFKA_SSL_KEYFILE": pem_files["client.key"],
        }
    )
    assert settings.kafka_ssl_certfile == Path(pem_files["client.pem"])


def test_redis_tls_files_need_a_rediss_url(pem_files: dict[str, str]) -> None:
    env = {"RAQIB_REDIS_SSL_CA_CERTS": pem_files["ca.pem"]}
    with pytest.raises(
        ValidationError, match="RAQIB_REDIS_SSL_CA_CERTS set, but RAQIB_REDIS is not a rediss://"
    ):
        Settings.from_env({**env, "RAQIB_REDIS": "redis://cache:6379/0"})
    with pytest.raises(ValidationError, match="RAQIB_REDIS_SSL_CERTFILE: no such file"):
        Settings.from_env(
            {"RAQIB_REDIS": "rediss://cache:6380/0", "RAQIB_REDIS_SSL_CERTFILE": "/nowhere"}
        )
    settings = Settings.from_env({**env, "RAQIB_REDIS": "rediss://cache:6380/0"})
    assert settings.redis_ssl_ca_certs == Path(pem_files["ca.pem"])


@pytest.mark.parametrize(
    ("url", "variable"),
    [
        ("redis://raqib:s3cret@cache:6379/0", "RAQIB_REDIS_PASSWORD"),
        ("redis://:s3cret@cache:6379/0", "RAQIB_REDIS_PASSWORD"),
        ("unix:///run/redis.sock?password=s3cret", "RAQIB_REDIS_PASSWORD"),
        ("redis://raqib@cache:6379/0", "RAQIB_REDIS_USERNAME"),
    ],
)
def test_redis_credentials_come_from_the_url_or_the_variables_not_both(
    url: str, variable: str
) -> None:
    with pytest.raises(ValidationError, match=f"{variable} is set: keep one") as raised:
        Settings.from_env({"RAQIB_REDIS": url, variable: "other"})
    assert "s3cret" not in str(raised.value)


def test_repr_and_str_never_show_a_password() -> None:
    settings = Settings.from_env(
        {
            **SASL,
            "RAQIB_REDIS": "redis://raqib:redis-s3cret@cache:6379/0",
            "RAQIB_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        }
    )
    for shown in (repr(settings), str(settings), f"{settings}", f"{settings!r}"):
        assert "redis-s3cret" not in shown and "kafka-s3cret" not in shown
        assert "redis://raqib:***@cache:6379/0" in shown
    other = Settings.from_env(
        {"RAQIB_REDIS_USERNAME": "raqib", "RAQIB_REDIS_PASSWORD": "redis-s3cret"}
    )
    assert "redis-s3cret" not in repr(other)


def test_validation_errors_do_not_quote_the_secrets() -> None:
    env = {
        **SASL,
        "RAQIB_REDIS": "redis://raqib:redis-s3cret@cache:6379/0",
        "RAQIB_PARTITIONS": "0",
        "RAQIB_KAFKA_SASL_USERNAME": "",
    }
    with pytest.raises(ValidationError) as raised:
        Settings.from_env(env)
    assert "redis-s3cret" not in str(raised.value) and "kafka-s3cret" not in str(raised.value)
    with pytest.raises(ValidationError) as raised:
        Settings.from_env({"RAQIB_REDIS": "http://raqib:redis-s3cret@cache/0"})
    assert "redis-s3cret" not in str(raised.value) and "raqib:***@cache" in str(raised.value)


def test_to_env_hands_the_secrets_to_a_child(pem_files: dict[str, str]) -> None:
    settings = Settings.from_env(
        {
            **SASL,
            "RAQIB_KAFKA_SSL_CAFILE": pem_files["ca.pem"],
            "RAQIB_REDIS": "rediss://cache:6380/0",
            "RAQIB_REDIS_USERNAME": "raqib",
            "RAQIB_REDIS_PASSWORD": "redis-s3cret",
            "RAQIB_REDIS_SSL_CA_CERTS": pem_files["ca.pem"],
        }
    )
    env = settings.to_env()
    assert env["RAQIB_KAFKA_SASL_PASSWORD"] == "kafka-s3cret"
    assert env["RAQIB_REDIS_PASSWORD"] == "redis-s3cret"
    assert Settings.from_env(env) == settings


def test_to_env_clears_the_credentials_a_child_would_otherwise_inherit() -> None:
    """``raqib demo`` runs its worker on its own plaintext servers: an operator's SASL
    settings in the environment must not reach it."""
    inherited = {**SASL, "RAQIB_REDIS_PASSWORD": "redis-s3cret"}
    child = {**inherited, **Settings(kafka="127.0.0.1:1234").to_env()}
    settings = Settings.from_env(child)
    assert settings.kafka_security_protocol == "PLAINTEXT"
    assert settings.kafka_sasl_password is None and settings.redis_password is None


def test_stages_split_the_worker_and_a_tag_process_has_its_own_group() -> None:
    assert Settings().stages == "all" and Settings().group_id == "raqib"
    tag = Settings.from_env(stages="tag")
    assert (tag.stages, tag.group_id) == ("tag", "raqib-tag")
    assert Settings.from_env(stages="count").group_id == "raqib"
    with pytest.raises(ValueError, match="stages"):
        Settings.from_env(stages="everything")


def test_kafka_connect_timeout_is_read_checked_and_handed_to_children() -> None:
    assert Settings().kafka_connect_timeout_s == 30.0
    settings = Settings.from_env({"RAQIB_KAFKA_CONNECT_TIMEOUT_S": "2.5"})
    assert settings.kafka_connect_timeout_s == 2.5
    assert Settings.from_env(settings.to_env()).kafka_connect_timeout_s == 2.5
    for bad in ("0", "-1", "soon", "3601"):
        with pytest.raises(ValidationError, match="kafka_connect_timeout_s"):
            Settings.from_env({"RAQIB_KAFKA_CONNECT_TIMEOUT_S": bad})


@pytest.mark.parametrize(
    ("value", "flag"),
    [("true", True), ("True", True), ("1", True), ("yes", True), ("false", False), ("OFF", False)],
)
def test_redis_cluster_is_a_flag_in_any_case(value: str, flag: bool) -> None:
    assert Settings.from_env({"RAQIB_REDIS_CLUSTER": value}).redis_cluster is flag
    assert Settings.from_env({}).redis_cluster is False


def test_a_bad_redis_cluster_flag_names_the_variable() -> None:
    with pytest.raises(ValidationError, match="RAQIB_REDIS_CLUSTER must be true or false"):
        Settings.from_env({"RAQIB_REDIS_CLUSTER": "sometimes"})


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("unix:///run/redis.sock", "URL of one of its nodes"),
        ("redis://node-1:6379/2", "database 0 only"),
        ("redis://node-1:6379/0?db=1", "database 0 only"),
    ],
)
def test_a_cluster_needs_a_node_url_of_database_0(url: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        Settings.from_env({"RAQIB_REDIS_CLUSTER": "true", "RAQIB_REDIS": url})
    assert Settings.from_env({"RAQIB_REDIS": url}).redis_cluster is False  # fine for one server


@pytest.mark.parametrize("url", ["redis://node-1:6379/0", "redis://node-1:6379", "rediss://n:1"])
def test_a_cluster_of_node_urls_round_trips_to_a_child(url: str) -> None:
    settings = Settings.from_env({"RAQIB_REDIS_CLUSTER": "true", "RAQIB_REDIS": url})
    assert settings.to_env()["RAQIB_REDIS_CLUSTER"] == "True"
    assert Settings.from_env(settings.to_env()) == settings
