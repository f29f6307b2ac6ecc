"""Scaling out on a Redis Cluster: two workers, four partitions, three Redis nodes, one
node restarted mid-stream (``RAQIB_REDIS_CLUSTER=true``, ``RAQIB_REDIS`` naming one node).

The run of :mod:`tests.e2e.test_scale_out` on the cluster: every (subject, article) is
counted once, on every node, through the restart (which costs the workers retries, not
counts), the alerts are those of ``raqib backtest`` on the same stream, and ``raqib top``
reads the leaders off every node.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
from redis import Redis

from raqib.embedded import EmbeddedRedisCluster
from raqib.settings import Settings
from tests.e2e.test_resilience import alert_key, scrape
from tests.e2e.test_scale_out import Run, scale_out, scale_settings

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]

REDIS_ERRORS = "raqib_processing_errors_total|redis"


@dataclass
class ClusterRun:
    run: Run
    settings: Settings
    retried: float
    """Redis errors the workers counted (each one a retry) while the node was down."""
    seen_per_node: list[int]


def seen_keys(cluster: EmbeddedRedisCluster, prefix: str) -> list[int]:
    found = []
    for node in cluster.nodes:
        client = Redis.from_url(node.url)
        try:
            found.append(sum(1 for _ in client.scan_iter(f"{prefix}:{{*}}:seen:*", count=10_000)))
        finally:
            client.close()
    return found


@pytest.fixture(scope="module")
def cluster_run(
    kafka_broker: Any, redis_cluster: EmbeddedRedisCluster, tmp_path_factory: pytest.TempPathFactory
) -> ClusterRun:
    tmp = tmp_path_factory.mktemp("scale-out-cluster")
    settings = scale_settings(kafka_broker, redis_cluster.url, tmp, redis_cluster=True)
    node = redis_cluster.nodes[2]
    retried: list[float] = []

    def restart_a_node(ports: tuple[int, int]) -> None:
        """Stop a node (by pid) until a worker has met it stopped, then start it again
        with its data, as an operator's node restarts."""
        node.stop()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if sum(scrape(port).get(REDIS_ERRORS, 0.0) for port in ports) > 0:
                break
            time.sleep(0.2)
        node.start()
        redis_cluster.wait_until_ok()
        retried.append(sum(scrape(port).get(REDIS_ERRORS, 0.0) for port in ports))

    run = scale_out(settings, tmp, midway=restart_a_node)
    assert retried, "the node was never restarted"
    return ClusterRun(run, settings, retried[0], seen_keys(redis_cluster, settings.redis_prefix))


def test_two_workers_on_a_cluster_count_everything_once_through_a_node_restart(
    cluster_run: ClusterRun,
) -> None:
    run = cluster_run.run
    pairs = sum(run.expected_hours.values())
    assert cluster_run.retried > 0  # the workers met the stopped node and retried
    assert len(run.seen) == pairs
    assert sum(run.hours) == pairs  # every (subject, article) counted once, none lost
    assert all(n > 0 for n in run.processed), run.processed  # both workers had partitions
    assert all(n > 0 for n in cluster_run.seen_per_node), cluster_run.seen_per_node
    events = Counter((a["alert_id"], a["status"]) for a in run.alerts)
    assert all(n == 1 for n in events.values()), events  # no episode paged twice


def test_two_workers_on_a_cluster_fire_what_backtest_fires(
    cluster_run: ClusterRun, report: Any
) -> None:
    run = cluster_run.run
    live = sorted(alert_key(a) for a in run.alerts)
    offline = sorted(run.expected_alerts)
    report(
        f"2 workers x 4 partitions on a 3-node Redis Cluster, a node restarted: "
        f"{len(run.articles)} articles in {run.elapsed_s:.0f} s, {len(live)} alert events "
        f"live, {len(offline)} in backtest, {len(set(live) ^ set(offline))} differ; "
        f"seen keys per node {cluster_run.seen_per_node}, {cluster_run.retried:.0f} Redis "
        "errors retried"
    )
    assert len(offline) > 20
    assert live == offline


def test_raqib_top_reads_every_node(
    cluster_run: ClusterRun, redis_cluster: EmbeddedRedisCluster
) -> None:
    """As an operator runs it: a process with the cluster in its environment."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RAQIB_")},
        **cluster_run.settings.to_env(),
    }
    done = subprocess.run(
        [sys.executable, "-m", "raqib", "top", "--json", "--window", "3h", "--limit", "1000"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    subjects = {r["subject"] for r in rows}
    holders = []
    for node in redis_cluster.nodes:  # which node holds which subject's buckets
        client = Redis.from_url(node.url, decode_responses=True)
        try:
            keys = client.scan_iter(f"{cluster_run.settings.redis_prefix}:{{*}}:m:*", count=10_000)
            holders.append({k.split("{", 1)[1].rsplit("}", 1)[0] for k in keys})
        finally:
            client.close()
    assert all(held & subjects for held in holders)  # leaders from every node
    assert sum(r["observed"] for r in rows) > 0
