"""The README's metrics catalogue is the code's: every metric the worker and the producers
export is listed with its type and labels, and nothing listed is missing from the code."""

from __future__ import annotations

import re

from tests.unit.deploy.exported import ROOT, families

BOUNDED_LABELS = frozenset(
    {
        "cache",  # the count stage's named caches
        "channel",  # channels.yaml
        "entity",  # the watchlist
        "feed",  # feeds.yaml or poll's command line: the operator's feeds, never an entry
        "kind",  # page, update, resolved
        "partition",  # the topics' partitions
        "producer",  # the producer commands
        "python",  # build info
        "reason",  # dead-letter kinds
        "result",  # fixed outcomes
        "rule",  # rules.yaml
        "stage",  # fixed stage names
        "status",  # firing, resolved; ingest-http's few HTTP statuses
        "topic",  # topics.yaml, or topic names
        "version",  # build info
        "what",  # trimmed fields
    }
)
"""Labels whose values come from configuration or fixed sets, never from input."""


def catalogue() -> dict[str, tuple[str, tuple[str, ...]]]:
    """The README's Metrics table: name -> (type, labels)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Metrics", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0].startswith("`raqib_"):
            name, kind, unit, labels, meaning = cells
            assert unit and meaning, f"{name}: unit and meaning are required"
            rows[name.strip("`")] = (kind, tuple(re.findall(r"`(\w+)`", labels)))
    return rows


def test_every_exported_metric_is_in_the_catalogue_and_nothing_else() -> None:
    listed, exported = catalogue(), families()
    assert sorted(set(exported) - set(listed)) == [], "exported, missing from README"
    assert sorted(set(listed) - set(exported)) == [], "in README, not exported"


def test_the_catalogue_gives_each_metric_its_type_and_labels() -> None:
    listed = catalogue()
    wrong = {
        name: (listed[name], (family.type, family.labels))
        for name, family in families().items()
        if listed.get(name) != (family.type, family.labels)
    }
    assert wrong == {}


def test_metrics_follow_the_naming_rules_and_bounded_labels() -> None:
    for name, family in families().items():
        assert name.startswith("raqib_"), name
        assert (family.type == "counter") == name.endswith("_total"), name
        if family.type == "histogram":
            assert name.endswith("_seconds"), f"{name}: a histogram's unit in its name"
        assert set(family.labels) <= BOUNDED_LABELS, f"{name}: {family.labels}"
        assert family.help.endswith("."), f"{name}: help is a sentence"
