"""docker-compose.yml is valid against the Compose specification's JSON schema (as
check-jsonschema ships it; no Docker engine runs in the tests), every dependency waits for
a health check that exists, and every file it mounts is in the repository."""

from __future__ import annotations

import json
from importlib.metadata import files
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from alerts import load_channels
from raqib.settings import Settings
from tests.unit.deploy.exported import DEPLOY, ROOT


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def compose_schema() -> dict[str, Any]:
    """The Compose specification's schema vendored in check-jsonschema (read as a file: its
    CLI is not needed)."""
    found = [f for f in files("check-jsonschema") or [] if f.name == "compose-spec.json"]
    assert found, "check-jsonschema ships compose-spec.json"
    return json.loads(Path(str(found[0].locate())).read_text(encoding="utf-8"))


def test_the_compose_file_follows_the_compose_specification() -> None:
    schema = compose_schema()
    validator = jsonschema.validators.validator_for(schema)
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator(schema, format_checker=validator.FORMAT_CHECKER).iter_errors(compose())
    ]
    assert errors == []


def test_the_stack_has_every_service_with_volumes_for_its_data() -> None:
    doc = compose()
    services = doc["services"]
    assert set(services) == {
        "kafka",
        "redis",
        "worker",
        "replay",
        "prometheus",
        "alertmanager",
        "grafana",
    }
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert "broker,controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    assert "--appendonly" in services["redis"]["command"]
    assert services["worker"]["deploy"]["replicas"] == 2
    for name in ("kafka", "redis", "prometheus", "alertmanager", "grafana"):
        assert any(not v.startswith(".") for v in services[name]["volumes"]), name


def test_dependencies_wait_for_health_checks_that_exist() -> None:
    services = compose()["services"]
    for name, service in services.items():
        for target, condition in service.get("depends_on", {}).items():
            if condition["condition"] == "service_healthy":
                check = services[target].get("healthcheck", {})
                assert check.get("test") and not check.get("disable"), f"{name} -> {target}"
    long_running = set(services) - {"replay"}
    assert all("healthcheck" in services[name] for name in long_running)


def test_every_mounted_file_exists_and_raqibs_variables_are_settings() -> None:
    doc = compose()
    for service in doc["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), volume
    fields = {f"RAQIB_{name.upper()}" for name in Settings.model_fields}
    assert set(doc["x-raqib-env"]) <= fields


def test_the_stacks_channels_file_loads() -> None:
    channels = load_channels(DEPLOY / "raqib" / "channels.yaml", Path("alerts.jsonl"))
    assert {c.type for c in channels.channels} == {"console", "jsonl", "alertmanager"}
