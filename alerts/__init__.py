"""Alerts: rules read counts, open and close episodes, and route alerts to channels.

The public surface other stages use is re-exported here; everything else is private to
the stage.
"""

from __future__ import annotations

from alerts.engine import RuleEngine, Step, SubjectNames, steps_of
from alerts.episodes import (
    STREAM_GAP,
    EpisodeStore,
    MemoryEpisodes,
    RedisEpisodes,
    partition_scope,
)
from alerts.router import Router, build_router
from alerts.rules import RulesFile, load_rules
from alerts.spike import SpikeStats, spike_stats

__all__ = [
    "STREAM_GAP",
    "EpisodeStore",
    "MemoryEpisodes",
    "RedisEpisodes",
    "Router",
    "RuleEngine",
    "RulesFile",
    "SpikeStats",
    "Step",
    "SubjectNames",
    "build_router",
    "load_rules",
    "partition_scope",
    "spike_stats",
    "steps_of",
]
