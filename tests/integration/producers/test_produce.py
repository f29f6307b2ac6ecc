"""``raqib produce`` end to end: stdin to the real broker, duplicates suppressed in Redis."""

from __future__ import annotations

import json
import os
import signal
from typing import Any

import pytest
from click.testing import CliRunner

from producers.publisher import Publisher
from producers.shutdown import Terminated, sigterm_raises
from raqib.cli import main
from raqib.embedded import free_port
from raqib.settings import Settings

pytestmark = pytest.mark.integration


def _line(**article: Any) -> str:
    return json.dumps(article, ensure_ascii=False)


def test_a_bad_line_is_reported_and_the_others_sent(
    env: dict[str, str], published: Any, news_ar: dict[str, Any]
) -> None:
    bodies = news_ar["bodies"]
    stdin = "\n".join(
        [
            _line(source="سانا", url="https://sana.sy/?p=1&utm_source=x", body=bodies["araghchi"]),
            "{not json",
            _line(source="عكاظ", title="حاتمي في دمشق", body=bodies["hatami"]),
            _line(source="سانا", title="بلا نص", body="   "),
            _line(source="عكاظ", title="حاتمي في دمشق", body=bodies["hatami"] + "  "),  # copy
            _line(id="given-1", source="Reuters", body="Iran's minister met Assad in Damascus."),
        ]
    )
    result = CliRunner().invoke(main, ["produce"], input=stdin, env=env)
    assert result.exit_code == 1, result.output
    assert "stdin: line 2: not JSON" in result.stderr
    assert "stdin: line 4: invalid article: body: Value error, body is empty" in result.stderr
    assert "sent 3 articles, 1 duplicates suppressed, 2 bad lines" in result.stdout
    first, second, third = published(at_least=3)
    assert first["id"].startswith("u-") and first["lang"] == "ar"
    assert first["url"] == "https://sana.sy/?p=1&utm_source=x"  # sent as given
    assert second["id"].startswith("h-") and second["source"] == "عكاظ"
    assert third["id"] == "given-1" and third["lang"] == "en"

    again = CliRunner().invoke(main, ["produce"], input=stdin, env=env)  # a restart
    assert "sent 0 articles, 4 duplicates suppressed, 2 bad lines" in again.stdout
    assert len(published(at_least=3)) == 3


def test_an_unreachable_broker_is_named_without_a_traceback(env: dict[str, str]) -> None:
    env = env | {"RAQIB_KAFKA": f"127.0.0.1:{free_port()}", "RAQIB_KAFKA_CONNECT_TIMEOUT_S": "1"}
    result = CliRunner().invoke(main, ["produce"], input='{"body": "x"}\n', env=env)
    assert result.exit_code == 1
    assert f"cannot use the Kafka brokers {env['RAQIB_KAFKA']}" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("cluster", ["false", "true"])
def test_an_unreachable_redis_is_named(env: dict[str, str], cluster: str) -> None:
    """A cluster client connects as it is built (to learn the nodes): that too is named."""
    env = env | {
        "RAQIB_REDIS": f"redis://:hunter2@127.0.0.1:{free_port()}/0",
        "RAQIB_REDIS_CLUSTER": cluster,
    }
    result = CliRunner().invoke(main, ["produce"], input='{"body": "x"}\n', env=env)
    assert result.exit_code == 1
    assert "cannot reach Redis at redis://:***@127.0.0.1" in result.output
    assert "--no-dedupe" in result.output and "hunter2" not in result.output


def test_sigterm_stops_the_loop_and_the_publisher_flushes(
    settings: Settings, published: Any
) -> None:
    from raqib.topics import ensure_topics

    ensure_topics(settings)
    with pytest.raises(Terminated), sigterm_raises(), Publisher(settings) as publisher:
        for i in range(50):
            publisher.article({"id": f"t-{i}", "body": "حلب"})
            if i == 9:
                os.kill(os.getpid(), signal.SIGTERM)
    assert [a["id"] for a in published(at_least=10)] == [f"t-{i}" for i in range(10)]
