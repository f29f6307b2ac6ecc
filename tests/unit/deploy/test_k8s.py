"""deploy/k8s validates (strictly: no unknown field) against the Kubernetes schemas of
kubernetes-validate, probes the real health views of the worker and of ingest-http, and
configures only settings that exist."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import kubernetes_validate
import pytest
import yaml
from prometheus_client import CollectorRegistry

from alerts import load_channels
from processors.health import Health, WebService
from producers.ingest_http import create_app
from producers.metrics import ProducerMetrics
from producers.publisher import Publisher
from producers.sink import Sink
from raqib.limits import Limits
from raqib.producer_cli import ingest_http
from raqib.settings import Settings
from tests.unit.deploy.exported import DEPLOY

K8S = DEPLOY / "k8s"
KUBERNETES = "1.33.0"


def documents() -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted(K8S.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if doc
    ]


def named(kind: str, name: str) -> dict[str, Any]:
    return next(d for d in documents() if d["kind"] == kind and d["metadata"]["name"] == name)


@pytest.mark.parametrize("doc", documents(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_each_manifest_is_valid_kubernetes(doc: dict[str, Any]) -> None:
    try:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)
    except kubernetes_validate.ValidationError as exc:
        pytest.fail(f"{'/'.join(map(str, exc.path))}: {exc.message}")


def test_the_manifests_hold_what_an_operator_deploys() -> None:
    kinds = {d["kind"] for d in documents()}
    assert kinds == {"ConfigMap", "Secret", "Deployment", "Service", "PodDisruptionBudget"}


def test_probes_ask_the_views_the_worker_serves() -> None:
    (container,) = named("Deployment", "raqib-worker")["spec"]["template"]["spec"]["containers"]
    served = {
        resource.canonical
        for resource in WebService(CollectorRegistry(), Health(), host="127.0.0.1", port=0)
        .application()
        .router.resources()
    }
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {"/healthz", "/readyz", "/metrics"} <= served


def test_ingest_runs_the_real_command_and_probes_the_view_it_serves() -> None:
    (container,) = named("Deployment", "raqib-ingest")["spec"]["template"]["spec"]["containers"]
    command, *flags = container["args"]
    assert command == ingest_http.name
    params = ingest_http.make_context(command, flags).params
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert (params["host"], params["port"], params["metrics_port"]) == (
        "0.0.0.0",
        ports["http"],
        ports["metrics"],
    )
    metrics = ProducerMetrics.create(CollectorRegistry())
    sink = Sink(cast(Publisher, None), producer="ingest-http", metrics=metrics, limits=Limits())
    served = {r.canonical for r in create_app(sink, "token").router.resources()}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}, probe
    assert {"/healthz", "/articles"} <= served


def test_ingests_token_comes_from_a_secret_the_manifests_do_not_ship() -> None:
    (container,) = named("Deployment", "raqib-ingest")["spec"]["template"]["spec"]["containers"]
    (token,) = [e for e in container["env"] if e["name"] == "RAQIB_INGEST_TOKEN"]
    ref = token["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "raqib-ingest", "key": "RAQIB_INGEST_TOKEN"}  # required: no default
    secrets = {d["metadata"]["name"] for d in documents() if d["kind"] == "Secret"}
    assert ref["name"] not in secrets, "a committed token would be everyone's"


def test_the_config_map_sets_only_raqib_settings_and_ships_the_stacks_channels(
    tmp_path: Path,
) -> None:
    env = named("ConfigMap", "raqib-env")["data"]
    fields = {f"RAQIB_{name.upper()}" for name in Settings.model_fields}
    assert set(env) <= fields
    Settings.from_env(env)  # valid values
    channels = named("ConfigMap", "raqib-files")["data"]["channels.yaml"]
    assert channels == (DEPLOY / "raqib" / "channels.yaml").read_text(encoding="utf-8")
    (tmp_path / "channels.yaml").write_text(channels, encoding="utf-8")
    load_channels(tmp_path / "channels.yaml", tmp_path / "alerts.jsonl")


def test_the_secret_holds_placeholders_only() -> None:
    secret = named("Secret", "raqib-channels")
    assert set(secret["stringData"].values()) == {"replace-me"}
