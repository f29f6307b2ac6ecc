"""Seed articles: verbatim text, metadata from manifest.yaml."""

from __future__ import annotations

from typing import Any

import pytest

from producers.seeds import load_manifest, load_seed_dir, seed_article
from raqib.exceptions import ConfigError


def test_a_seed_dir_in_name_order_with_its_manifest(seed_tree: Any) -> None:
    araghchi, hatami = load_seed_dir(seed_tree.seeds)
    assert araghchi == {
        "id": "seed-100_araghchi",
        "body": seed_tree.bodies["100_araghchi"],
        "source": "وكالة فرانس برس",
        "url": "https://www.congluan.vn/araghchi-damascus",
        "title": "عراقجي يلتقي الأسد في دمشق",
        "published_at": "2024-12-01T18:00:00+00:00",  # naive in the manifest: UTC
        "lang": "ar",
    }
    assert hatami["body"] == seed_tree.bodies["101_hatami"]  # verbatim, trailing lines too
    assert hatami["url"] == ""
    assert hatami["published_at"] == "2018-08-26T11:00:00+00:00"  # +03:00 converted


def test_a_seed_without_manifest_entry_has_only_id_and_body(seed_tree: Any) -> None:
    extra = seed_tree.seeds / "102_lavrentiev.txt"
    extra.write_text("وأعلن مبعوث الرئاسة الروسية إلى سوريا ألكسندر لافرينتيف.", "utf-8")
    article = seed_article(extra, load_manifest(seed_tree.seeds))
    assert article == {"id": "seed-102_lavrentiev", "body": extra.read_text("utf-8")}


def test_a_dir_without_manifest(seed_tree: Any) -> None:
    (seed_tree.seeds / "manifest.yaml").unlink()
    assert load_manifest(seed_tree.seeds) is None
    assert [sorted(a) for a in load_seed_dir(seed_tree.seeds)] == [["body", "id"]] * 2


@pytest.mark.parametrize(
    ("old", "new", "cause", "line"),
    [
        ("    source: عكاظ\n", "    source: عكاظ\n    author: x\n", "articles.1.author", 9),
        ("published_at: 2018-08-26T14:00:00+03:00", "published_at: soon", "published_at", 10),
    ],
)
def test_a_bad_manifest_is_a_config_error(
    seed_tree: Any, old: str, new: str, cause: str, line: int
) -> None:
    path = seed_tree.seeds / "manifest.yaml"
    path.write_text(path.read_text("utf-8").replace(old, new), "utf-8")
    with pytest.raises(ConfigError) as info:
        load_seed_dir(seed_tree.seeds)
    assert info.value.path == str(path) and cause in info.value.cause
    assert info.value.line == line
