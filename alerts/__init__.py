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
    Position,
    RedisEpisodes,
    partition_scope,
)
from alerts.metrics import RouterMetrics
from alerts.router import Router, RouterStore
from alerts.routing import ChannelsFile, load_channels
from alerts.rules import RulesFile, load_rules
from alerts.silences import Silence, Silences
from alerts.spike import SpikeStats, spike_stats

__all__ = [
    "STREAM_GAP",
    "EpisodeStore",
    "MemoryEpisodes",
    "Position",
    "RedisEpisodes",
    "Router",
    "RuleEngine",
    "RulesFile",
    "SpikeStats",
    "Step",
    "SubjectNames",
    "ChannelsFile",
    "RouterMetrics",
    "RouterStore",
    "Silence",
    "Silences",
    "load_channels",
    "load_rules",
    "partition_scope",
    "spike_stats",
    "steps_of",
]
