"""docker-compose.yml is valid against the Compose specification's JSON schema (as
check-jsonschema ships it; no Docker engine runs in the tests), every dependency waits for
a health check that exists, every file it mounts is in the repository, and Prometheus
scrapes the producers on the ports they serve."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib.metadata import files
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from alerts import load_channels
from producers.feeds import load_feeds
from raqib.settings import Settings
from tests.unit.deploy.exported import DEPLOY, ROOT

PRODUCERS = {"poller": "feeds", "ingest": "ingest"}
"""The long-running producer services and the profile that starts each."""
CLUSTER = ("redis-node-1", "redis-node-2", "redis-node-3", "redis-cluster")
"""The services of the `cluster` profile: a Redis Cluster's nodes and the job joining them."""


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def _strings(node: object) -> Iterator[str]:
    """Every string value of a parsed YAML document, however deep."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


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
        "poller",
        "ingest",
        "prometheus",
        "alertmanager",
        "grafana",
        *CLUSTER,
    }
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert "broker,controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    assert "--appendonly" in services["redis"]["command"]
    assert services["worker"]["deploy"]["replicas"] == 2
    for name in ("kafka", "redis", "poller", "prometheus", "alertmanager", "grafana"):
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
    for name, service in doc["services"].items():
        raqibs = {key for key in service.get("environment", {}) if key.startswith("RAQIB_")}
        assert raqibs <= fields, name


def test_ports_are_published_on_the_loopback_only() -> None:
    for name, service in compose()["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name}: {port}"


def test_the_producers_are_opt_in_and_need_no_secret_to_start_the_stack() -> None:
    services = compose()["services"]
    assert {name: services[name]["profiles"] for name in PRODUCERS} == {
        name: [profile] for name, profile in PRODUCERS.items()
    }
    required = [value for value in _strings(compose()) if ":?" in value]
    assert required == [], "a required variable stops every `docker compose up`"
    ingest = services["ingest"]
    assert ingest["environment"]["RAQIB_INGEST_TOKEN"] == "${RAQIB_INGEST_TOKEN:-}"
    assert ingest["command"][:3] == ["ingest-http", "--host", "0.0.0.0"]
    opt_in = {*PRODUCERS, *CLUSTER}
    assert all(not s.get("profiles") for n, s in services.items() if n not in opt_in)
    for service in services.values():  # a service of the default stack cannot wait on one
        assert not set(service.get("depends_on", {})) & set(PRODUCERS)
        if service.get("profiles") != ["cluster"]:  # nor need the cluster's to start
            for name in set(service.get("depends_on", {})) & set(CLUSTER):
                assert service["depends_on"][name]["required"] is False


def test_the_cluster_profile_joins_three_append_only_nodes_that_raqib_may_use() -> None:
    doc = compose()
    services = doc["services"]
    assert all(services[name]["profiles"] == ["cluster"] for name in CLUSTER)
    for node in CLUSTER[:3]:
        command = services[node]["command"]
        assert command[command.index("--cluster-enabled") + 1] == "yes"
        assert command[command.index("--appendonly") + 1] == "yes"
        assert command[command.index("--cluster-announce-hostname") + 1] == node
        assert any(v.endswith(":/data") for v in services[node]["volumes"])
    (create,) = services["redis-cluster"]["command"]
    assert all(f"{node}:6379" in create for node in CLUSTER[:3])
    assert "--cluster-replicas 0" in create and "--cluster-yes" in create
    assert doc["x-raqib-env"]["RAQIB_REDIS_CLUSTER"] == "${RAQIB_REDIS_CLUSTER:-false}"
    for name in ("worker", *PRODUCERS):  # they wait for the job when the profile is on
        assert services[name]["depends_on"]["redis-cluster"] == {
            "condition": "service_completed_successfully",
            "required": False,
        }


def test_prometheus_scrapes_each_producer_on_its_metrics_port() -> None:
    services = compose()["services"]
    served = {}
    for name in PRODUCERS:
        command = services[name]["command"]
        served[name] = int(command[command.index("--metrics-port") + 1])
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text("utf-8"))
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "raqib-producers"]
    scraped = {name: sd["port"] for sd in job["dns_sd_configs"] for name in sd["names"]}
    assert scraped == served


def test_the_pollers_feeds_file_loads() -> None:
    mounted = [v for v in compose()["services"]["poller"]["volumes"] if v.startswith("./")]
    assert mounted == ["./deploy/raqib/feeds.yaml:/config/feeds.yaml:ro"]
    feeds = load_feeds(DEPLOY / "raqib" / "feeds.yaml").feeds
    assert feeds and all(f.url.startswith("https://") and f.name for f in feeds)


def test_the_stacks_channels_file_loads() -> None:
    channels = load_channels(DEPLOY / "raqib" / "channels.yaml", Path("alerts.jsonl"))
    assert {c.type for c in channels.channels} == {"console", "jsonl", "alertmanager"}
