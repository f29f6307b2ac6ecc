"""deploy/prometheus is valid for promtool, every alert has a unit test that passes, and
every metric a rule reads is one the code exports."""

from __future__ import annotations

from typing import Any

import yaml

from tests.unit.deploy.conftest import Tool
from tests.unit.deploy.exported import (
    DEPLOY,
    PROMETHEUS_OWN,
    exported_samples,
    queried,
    recorded_names,
)

PROMETHEUS = DEPLOY / "prometheus"


def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load((PROMETHEUS / "rules.yml").read_text(encoding="utf-8"))
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_promtool_checks_the_config_and_its_rules(promtool: Tool) -> None:
    done = promtool("check", "config", PROMETHEUS / "prometheus.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 rule files found" in done.stdout


def test_promtool_checks_the_rules(promtool: Tool) -> None:
    done = promtool("check", "rules", PROMETHEUS / "rules.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_unit_tests_pass(promtool: Tool) -> None:
    done = promtool("test", "rules", "rules_test.yml", cwd=PROMETHEUS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_has_a_firing_and_a_quiet_test_case() -> None:
    tests = yaml.safe_load((PROMETHEUS / "rules_test.yml").read_text(encoding="utf-8"))
    cases = [c for t in tests["tests"] for c in t.get("alert_rule_test", [])]
    alerts = {r["alert"] for r in rules() if "alert" in r}
    firing = {c["alertname"] for c in cases if c.get("exp_alerts")}
    quiet = {c["alertname"] for c in cases if not c.get("exp_alerts")}
    assert alerts == firing == quiet


def test_pipeline_alerts_carry_the_labels_alertmanager_routes_on() -> None:
    for rule in rules():
        if "alert" in rule:
            assert rule["labels"]["component"] == "raqib-pipeline", rule["alert"]
            assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
            assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_every_metric_a_rule_reads_is_exported_or_recorded() -> None:
    known = exported_samples() | recorded_names() | PROMETHEUS_OWN
    unknown = {
        rule.get("alert") or rule["record"]: sorted(queried(rule["expr"]) - known)
        for rule in rules()
    }
    assert {name: names for name, names in unknown.items() if names} == {}


def test_recording_rules_follow_the_naming_convention() -> None:
    for name in recorded_names():
        level, metric, operation = name.split(":")
        assert level and metric.startswith("raqib_") and operation, name
