"""deploy/grafana: the provisioned data source is the one the dashboard names, the panels
do not overlap, and every metric a panel reads is exported by the code or recorded by
deploy/prometheus/rules.yml."""

from __future__ import annotations

import json
from itertools import combinations
from typing import Any

import yaml

from tests.unit.deploy.exported import (
    DEPLOY,
    PROMETHEUS_OWN,
    dashboard_exprs,
    exported_samples,
    queried,
    recorded_names,
)

GRAFANA = DEPLOY / "grafana"


def dashboard() -> dict[str, Any]:
    return json.loads((GRAFANA / "dashboards" / "raqib.json").read_text(encoding="utf-8"))


def test_the_dashboard_reads_the_provisioned_prometheus() -> None:
    provisioned = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text(encoding="utf-8")
    )
    (source,) = provisioned["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    panels = dashboard()["panels"]
    for panel in panels:
        for target in [panel, *panel["targets"]]:
            assert target["datasource"] == {"type": "prometheus", "uid": source["uid"]}


def test_the_dashboard_provider_loads_the_mounted_folder() -> None:
    provider = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "raqib.yml").read_text(encoding="utf-8")
    )
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


def test_panels_have_unique_ids_and_do_not_overlap() -> None:
    panels = dashboard()["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    for a, b in combinations(panels, 2):
        ga, gb = a["gridPos"], b["gridPos"]
        apart = (
            ga["x"] + ga["w"] <= gb["x"]
            or gb["x"] + gb["w"] <= ga["x"]
            or ga["y"] + ga["h"] <= gb["y"]
            or gb["y"] + gb["h"] <= ga["y"]
        )
        assert apart, (a["title"], b["title"])
        assert ga["x"] + ga["w"] <= 24


def test_the_dashboard_shows_what_an_operator_asks_first() -> None:
    read = set().union(*(queried(e) for e in dashboard_exprs(dashboard())))
    for needed in (
        "job:raqib_articles_processed:rate5m",
        "entity:raqib_entity_mentions:rate5m",
        "raqib_alerts_fired_total",
        "topic:raqib_consumer_lag_messages:sum",
        "stage:raqib_pipeline_latency_seconds:p95_5m",
        "stage:raqib_processing_errors:rate5m",
    ):
        assert needed in read


def test_every_metric_a_panel_reads_is_exported_or_recorded() -> None:
    known = exported_samples() | recorded_names() | PROMETHEUS_OWN
    unknown = {e: sorted(queried(e) - known) for e in dashboard_exprs(dashboard())}
    assert {e: names for e, names in unknown.items() if names} == {}
