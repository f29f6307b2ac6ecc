"""deploy/alertmanager/alertmanager.yml is valid, and routes raqib's own stories and the
pipeline's alerts (with the labels the code and rules.yml really give them) apart."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from alerts import load_channels
from alerts.channels.alertmanager import AlertmanagerChannel, AlertmanagerConfig
from alerts.channels.base import Context
from raqib.notifications import Notification
from raqib.settings import Settings
from tests.unit.deploy.conftest import Tool
from tests.unit.deploy.exported import DEPLOY

CONFIG = DEPLOY / "alertmanager" / "alertmanager.yml"


def receiver(amtool: Tool, labels: dict[str, str]) -> str:
    """The receiver(s) Alertmanager's routing tree picks for an alert with ``labels``."""
    pairs = [f"{k}={v}" for k, v in labels.items()]
    done = amtool("config", "routes", "test", "--config.file", CONFIG, *pairs)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


def test_amtool_checks_the_config(amtool: Tool) -> None:
    done = amtool("check-config", CONFIG)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


@pytest.mark.parametrize(
    ("severity", "expected"), [("warning", "news-desk"), ("critical", "news-desk-urgent")]
)
def test_raqibs_stories_go_to_the_news_desk(
    amtool: Tool, notification: Callable[..., Notification], severity: str, expected: str
) -> None:
    """With the labels the stack's own alertmanager channel (deploy/raqib/channels.yaml) posts."""
    stack = load_channels(DEPLOY / "raqib" / "channels.yaml", Path("alerts.jsonl"))
    config = next(c for c in stack.channels if isinstance(c, AlertmanagerConfig))
    channel = AlertmanagerChannel(config, Context(settings=Settings()))
    labels = channel.labels(notification(severity=severity))
    assert receiver(amtool, labels) == expected


def test_pipeline_alerts_go_to_the_operators(amtool: Tool) -> None:
    doc = yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text(encoding="utf-8"))
    alerts = [r for g in doc["groups"] for r in g["rules"] if "alert" in r]
    for rule in alerts:
        labels = {"alertname": rule["alert"], **rule["labels"], "instance": "worker:6066"}
        expected = "ops-page" if rule["labels"]["severity"] == "critical" else "ops-oncall"
        assert receiver(amtool, labels) == expected, rule["alert"]
