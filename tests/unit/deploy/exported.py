"""What the code exports to Prometheus, and what a PromQL expression reads: the deploy
tests check the catalogue, the rules and the dashboard against the code with these."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry

from alerts.metrics import RouterMetrics
from processors.metrics import Metrics
from producers.metrics import ProducerMetrics

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
PROMETHEUS_OWN = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})


@dataclass(frozen=True)
class Family:
    name: str
    """As exposed: a counter with its ``_total``, a histogram by its base name."""
    type: str
    labels: tuple[str, ...]
    help: str

    @property
    def samples(self) -> set[str]:
        """The sample names a query can read."""
        base = self.name.removesuffix("_total")
        return {base + suffix for suffix in SUFFIXES[self.type]}


def families() -> dict[str, Family]:
    """Every metric a raqib process exports: the worker's (processors' and the router's)
    and the producers' (``raqib poll``, ``watch``, ``ingest-http``, …), declared on one
    registry so that a name two of them declare fails here."""
    registry = CollectorRegistry()
    Metrics.create(registry)
    RouterMetrics.create(registry)
    ProducerMetrics.create(registry)
    out = {}
    for metric in registry.collect():
        name = metric.name + ("_total" if metric.type == "counter" else "")
        labels = _label_names(registry, metric.name)
        out[name] = Family(name, metric.type, labels, metric.documentation)
    return out


def _label_names(registry: CollectorRegistry, name: str) -> tuple[str, ...]:
    collector = registry._names_to_collectors[name]  # the public API lists samples only
    return tuple(getattr(collector, "_labelnames", ()))


def exported_samples() -> set[str]:
    return {sample for family in families().values() for sample in family.samples}


def recorded_names(rules_file: Path = DEPLOY / "prometheus" / "rules.yml") -> set[str]:
    rules = yaml.safe_load(rules_file.read_text(encoding="utf-8"))
    return {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_GROUPINGS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_NAME = re.compile(r"(?<![\w:.])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan", "by", "without"})


def queried(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (functions, labels, keywords and
    durations stripped).

    >>> sorted(queried('sum by (le) (rate(x_bucket{a="b"}[5m])) > 0.5 * y:z:rate5m unless up'))
    ['up', 'x_bucket', 'y:z:rate5m']
    """
    text = _STRINGS.sub('""', expr)
    text = _GROUPINGS.sub(" ", text)
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    return {n for n in _NAME.findall(text) if n.lower() not in _KEYWORDS}


def dashboard_exprs(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
