"""A real Prometheus scrapes a real ``raqib worker`` with deploy/prometheus's rules, and
when the worker stops, ``RaqibWorkerDown`` reaches a real Alertmanager running
deploy/alertmanager/alertmanager.yml, routed to the operators' pager.

Only the timings differ from what ships: scrapes and evaluations every second, and the
alert's ``for:`` cut to one second, in a copy of rules.yml.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from raqib.embedded import ChildServer, EmbeddedBroker, EmbeddedRedis, WorkerProcess, free_port
from raqib.settings import Settings
from raqib.topics import ensure_topics
from tests.conftest import require

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
WAIT_S = 30.0


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=2) as response:  # loopback only
        return json.loads(response.read())


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def binary(name: str, package: str) -> str:
    path = shutil.which(name)
    require(path is not None, f"{name} (Debian package {package})")
    return str(path)


class PrometheusServer(ChildServer):
    """A Debian Prometheus-project server on a free loopback port, its data in tmp."""

    package = ""

    def __init__(self, data_dir: Path, config: Path) -> None:
        super().__init__(data_dir)
        self.binary = binary(self.package, self.package)
        self.config = config

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        return answers(f"{self.url}/-/ready")


class Alertmanager(PrometheusServer):
    """Debian's Alertmanager, clustering off."""

    name = "alertmanager"
    package = "prometheus-alertmanager"

    def command(self) -> list[str]:
        return [
            self.binary,
            f"--config.file={self.config}",
            f"--storage.path={self.data_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",
        ]


class Prometheus(PrometheusServer):
    """Debian's Prometheus."""

    name = "prometheus"
    package = "prometheus"

    def command(self) -> list[str]:
        return [
            self.binary,
            f"--config.file={self.config}",
            f"--storage.tsdb.path={self.data_dir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]

    def query(self, promql: str) -> list[dict[str, Any]]:
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        return list(get_json(url)["data"]["result"])


def fast_rules(tmp: Path) -> Path:
    """rules.yml as shipped, but RaqibWorkerDown waits one second instead of a minute."""
    doc = yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text(encoding="utf-8"))
    for group in doc["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == "RaqibWorkerDown":
                rule["for"] = "1s"
    path = tmp / "rules.yml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def prometheus_config(tmp: Path, worker_port: int, alertmanager_port: int) -> Path:
    """deploy/prometheus/prometheus.yml's job and rules, aimed at the loopback servers."""
    shipped = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text("utf-8"))
    (job,) = [j for j in shipped["scrape_configs"] if j["job_name"] == "raqib-worker"]
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(fast_rules(tmp))],
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]
        },
        "scrape_configs": [
            {
                "job_name": job["job_name"],
                "metrics_path": job["metrics_path"],
                "static_configs": [{"targets": [f"127.0.0.1:{worker_port}"]}],
            }
        ],
    }
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def wait_for(what: str, found: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if result := found():
            return result
        time.sleep(0.2)
    pytest.fail(f"no {what} within {WAIT_S:.0f}s")


@pytest.fixture
def worker(
    kafka_broker: EmbeddedBroker, redis_server: EmbeddedRedis, tmp_path: Path
) -> Iterator[WorkerProcess]:
    tag = uuid.uuid4().hex[:8]
    settings = Settings(
        kafka=kafka_broker.bootstrap,
        redis=redis_server.url,
        app_id=f"raqib-prom-{tag}",
        topic_prefix=f"prom-{tag}.",
        redis_prefix=f"prom-{tag}",
        partitions=1,
        web_port=free_port(),
        alerts_file=tmp_path / "alerts.jsonl",
        data_dir=tmp_path / "worker",
    )
    ensure_topics(settings)
    with WorkerProcess(settings, tmp_path / "worker-process", wait_for="/healthz") as started:
        yield started  # type: ignore[misc]


def test_a_stopped_worker_pages_the_operators_through_alertmanager(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    with (
        Alertmanager(tmp_path / "am", DEPLOY / "alertmanager" / "alertmanager.yml") as am,
        Prometheus(tmp_path / "prom", prometheus_config(tmp_path, worker.port, am.port)) as prom,
    ):
        assert isinstance(am, Alertmanager) and isinstance(prom, Prometheus)
        build = wait_for("scrape of the worker", lambda: prom.query("raqib_build_info"))
        assert build[0]["metric"]["job"] == "raqib-worker"
        assert prom.query('up{job="raqib-worker"}')[0]["value"][1] == "1"
        assert prom.query('ALERTS{alertname="RaqibWorkerDown"}') == []

        worker.stop()

        def paged() -> list[dict[str, Any]]:
            alerts = get_json(f"{am.url}/api/v2/alerts?filter=alertname%3D%22RaqibWorkerDown%22")
            return [a for a in alerts if a["status"]["state"] == "active"]

        (alert,) = wait_for("RaqibWorkerDown in Alertmanager", paged)
        assert alert["labels"]["component"] == "raqib-pipeline"
        assert alert["labels"]["instance"] == f"127.0.0.1:{worker.port}"
        assert [r["name"] for r in alert["receivers"]] == ["ops-page"]
