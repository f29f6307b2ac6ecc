"""``raqib replay`` items: what would be published, without a broker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from producers.replay import items


def test_jsonl_lines_go_verbatim_keyed_by_id(tmp_path: Path) -> None:
    good = '{"id": "sana-7", "source": "سانا", "body": "حلب"}'.encode()
    no_id = '{"source": "سانا",  "body":   "دمشق"}'.encode()
    malformed = b'{"id": "x-1", "body": "\xd8\xad\xd9\x84'  # truncated JSON and UTF-8
    listing = b'["not", "an", "object"]'
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(good + b"\r\n" + b"\n" + no_id + b"\n   \n" + malformed + b"\n" + listing)
    assert list(items([path])) == [
        (b"sana-7", good),
        (None, no_id),
        (None, malformed),
        (None, listing),
    ]


def test_a_seed_dir_yields_its_seeds_then_its_jsonl(seed_tree: Any) -> None:
    (seed_tree.seeds / "extra.jsonl").write_text('{"id": "j1", "body": "x"}\n', "utf-8")
    keys, values = zip(*items([seed_tree.seeds]), strict=True)
    assert keys == (b"seed-100_araghchi", b"seed-101_hatami", b"j1")
    first = json.loads(values[0])
    assert first["source"] == "وكالة فرانس برس"
    assert "وكالة فرانس برس".encode() in values[0]  # Arabic unescaped


def test_one_txt_uses_the_manifest_beside_it(seed_tree: Any) -> None:
    ((key, value),) = items([seed_tree.seeds / "101_hatami.txt"])
    assert key == b"seed-101_hatami"
    assert json.loads(value)["source"] == "عكاظ"


def test_a_scenario_yields_its_copies_in_order(seed_tree: Any) -> None:
    sent = list(items([seed_tree.scenario]))
    assert [k for k, _ in sent][:2] == [b"mini-quiet-00000", b"mini-quiet-00001"]
    assert len(sent) == 8
    assert all(json.loads(v)["id"].encode() == k for k, v in sent)


def test_paths_are_replayed_in_the_order_given(seed_tree: Any, tmp_path: Path) -> None:
    path = tmp_path / "one.jsonl"
    path.write_text('{"id": "first", "body": "x"}\n', "utf-8")
    keys = [k for k, _ in items([path, seed_tree.seeds / "100_araghchi.txt", path])]
    assert keys == [b"first", b"seed-100_araghchi", b"first"]


def test_an_unknown_file_type_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "articles.csv"
    path.write_text("id,body\n", "utf-8")
    with pytest.raises(ValueError, match="expected a directory, .txt, .jsonl or scenario .yaml"):
        list(items([path]))
