"""``raqib replay --speed``: paced by event time, published verbatim, JSON summary."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from raqib.cli import main

pytestmark = pytest.mark.integration


def test_replay_at_speed_spaces_articles_by_event_time(
    env: dict[str, str], published: Any, tmp_path: Path
) -> None:
    stream = tmp_path / "stream.jsonl"
    times = ["2024-12-09T00:00:00+00:00", "2024-12-09T00:06:00+00:00", "2024-12-09T00:12:00+00:00"]
    stream.write_text(
        "".join(
            json.dumps({"id": f"s-{i}", "body": "حلب", "published_at": t}) + "\n"
            for i, t in enumerate(times)
        )
        + "not json\n"
    )
    started = time.monotonic()
    result = CliRunner().invoke(main, ["replay", "--speed", "3600", "--json", str(stream)], env=env)
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"sent": 4, "topic": env["RAQIB_TOPIC_PREFIX"] + "articles"}
    assert elapsed >= 0.2  # 12 minutes of event time at 3600x: 0.2 s
    sent = published(at_least=4)
    assert [a.get("id") for a in sent] == ["s-0", "s-1", "s-2", None]
    assert sent[3] == {"raw": "not json"}  # verbatim: the worker dead-letters it
