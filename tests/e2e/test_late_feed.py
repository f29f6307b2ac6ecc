"""A feed that publishes hours late completes a story live as ``raqib backtest`` does.

Nine hours of steady news from six outlets, then Hatami in Damascus: three outlets carry it
on time, below what any rule needs, and the news moves three hours and twenty minutes on
(beyond the two hours of minutes a worker's count mirror keeps for the default rules). Then
a feed that far behind publishes nine more copies of the story's minutes, and the news goes
on. One worker on one ``articles`` partition, against the real broker and Redis, is fed the
stream as it would arrive: the late copies only once the rest has been read. They are
judged at their own time, and the worker's count mirror, which dropped those minutes long
before, must read them as Redis holds them: the same alert events as the backtest of the
stream in that order.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from producers.publisher import Publisher
from producers.scenario import expand
from raqib.embedded import WorkerProcess, free_port
from raqib.settings import Settings
from raqib.topics import ensure_topics
from tests.e2e.test_resilience import against, alert_events, expected_run, held, hour_counts

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
OUTLETS = ["وكالة ثقة", "وكالة فرانس برس", "سانا", "الأمصار", "الشرق الأوسط", "إرنا"]
PHASES = [
    ("steady", ["000", "001", "002", "004"], 400, "83s", OUTLETS),
    ("story", ["003"], 12, "20s", ["عكاظ", "تسنيم", "وكالة ثقة", "الشرق الأوسط"]),
    ("after", ["000", "001", "002", "004"], 150, "80s", OUTLETS),
    ("later", ["000", "001", "002", "004"], 30, "80s", OUTLETS),
]
ON_TIME = 3


def _stream(tmp: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """What arrives first (the news, the story's first copies on time) and then (the late
    feed's copies, and the news that goes on)."""
    scenario = {
        "name": "late",
        "seeds_dir": str(SEEDS),
        "start": "2024-12-09T00:00:00Z",
        "phases": [
            {"name": n, "seeds": s, "count": c, "every": e, "sources": o}
            for n, s, c, e, o in PHASES
        ],
    }
    path = tmp / "late.yaml"
    path.write_text(yaml.safe_dump(scenario, allow_unicode=True), encoding="utf-8")
    phase: dict[str, list[dict[str, Any]]] = {name: [] for name, *_ in PHASES}
    for article in expand(path):
        phase[article["id"].split("-")[1]].append(article)
    first = phase["steady"] + phase["story"][:ON_TIME] + phase["after"]
    return first, phase["story"][ON_TIME:] + phase["later"]


def _counted(settings: Settings, hours: dict[str, int], deadline: float) -> None:
    """Wait until Redis holds ``hours``' counts (all of them, at least)."""
    total = sum(hours.values())
    while sum(hour_counts(settings.redis, settings.redis_prefix).values()) < total:
        assert time.monotonic() < deadline, "the worker did not count the stream in time"
        time.sleep(0.5)


def test_a_story_a_feed_completes_hours_late_fires_as_the_backtest_fires(
    kafka_broker: Any, redis_server: Any, tmp_path: Path, report: Any
) -> None:
    first, then = _stream(tmp_path)
    expected_alerts, expected_hours = expected_run(first + then)
    _, first_hours = expected_run(first[:-1])  # the last is held until the next arrives
    story = [a["published_at"][:19] for a in first + then if "-story-" in a["id"]]
    late = [e for e in expected_alerts if e[1] == "firing" and min(story) <= e[4] <= max(story)]
    assert late, "the late copies complete the story, judged at its own time"
    tag = f"late-{uuid.uuid4().hex[:6]}"
    settings = Settings(
        kafka=kafka_broker.bootstrap,
        redis=redis_server.url,
        app_id=f"raqib-{tag}",
        topic_prefix=f"{tag}.",
        redis_prefix=tag,
        partitions=1,
        web_port=free_port(),
        alerts_file=tmp_path / "alerts.jsonl",
        data_dir=tmp_path / "worker",
        align_idle_s=15.0,  # the pause before the late feed is no silence
    )
    ensure_topics(settings)
    worker = WorkerProcess(settings, tmp_path / "worker-process").start()
    try:
        with Publisher(settings) as publisher:
            for article in first:
                publisher.article(article)
            _counted(settings, first_hours, time.monotonic() + 120)
            for article in then:
                publisher.article(article)
        _counted(settings, expected_hours, time.monotonic() + 120)
        deadline = time.monotonic() + 60
        while held(settings.web_port) or len(set(alert_events(settings))) < len(
            set(expected_alerts)
        ):
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        time.sleep(1)  # anything extra would have landed by now
        counts = hour_counts(settings.redis, settings.redis_prefix)
        events = alert_events(settings)
    finally:
        worker.stop()
    deduped, missing, extra = against(expected_alerts, events)
    report(
        f"a feed 3 h 20 min late with {len(story) - ON_TIME} of a story's {len(story)} "
        f"copies: backtest {len(expected_alerts)} alert events ({len(late)} firing late), "
        f"live {len(deduped)}, missing {len(missing)}, extra {len(extra)}"
    )
    assert counts == expected_hours
    assert (missing, extra) == ([], []), "(missing, extra) vs the backtest"
