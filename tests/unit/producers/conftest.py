"""A small seeds directory on disk: two real Arabic articles, a manifest and a scenario."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).resolve().parents[2] / "data"

MANIFEST = """\
articles:
  - file: 100_araghchi.txt
    source: وكالة فرانس برس
    url: https://www.congluan.vn/araghchi-damascus
    title: عراقجي يلتقي الأسد في دمشق
    published_at: 2024-12-01T18:00:00
  - file: 101_hatami.txt
    source: عكاظ
    title: "صحيفة : الخلافات بين نظام الأسد والأذرع الإيرانية في سوريا بدأت تظهر على السطح"
    published_at: 2018-08-26T14:00:00+03:00
"""

SCENARIO = """\
name: mini
description: two quiet hours, then a surge about Hatami
seeds_dir: ..
start: 2024-12-09T00:00:00Z
phases:
  - name: quiet
    seeds: ["100", "101"]
    count: 5
    every: 30m
    sources: [سانا, وكالة ثقة]
  - name: surge
    gap_before: 10m
    seeds: ["101_hatami.txt"]
    count: 3
    every: 50s
"""


@dataclass(frozen=True)
class SeedTree:
    """Paths of the temporary seeds directory and its scenario."""

    seeds: Path
    scenario: Path
    bodies: dict[str, str]


@pytest.fixture
def seed_tree(tmp_path: Path, news_ar: dict[str, Any]) -> SeedTree:
    seeds = tmp_path / "seeds"
    (seeds / "scenarios").mkdir(parents=True)
    bodies = {
        "100_araghchi": news_ar["bodies"]["araghchi"] + "\n",
        "101_hatami": news_ar["bodies"]["hatami"] + "\n\n",
    }
    for stem, body in bodies.items():
        (seeds / f"{stem}.txt").write_text(body, encoding="utf-8")
    (seeds / "manifest.yaml").write_text(MANIFEST, encoding="utf-8")
    scenario = seeds / "scenarios" / "mini.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    return SeedTree(seeds=seeds, scenario=scenario, bodies=bodies)
