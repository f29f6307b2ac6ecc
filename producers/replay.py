"""``raqib replay PATH...``: publish seed files, JSON-lines files and scenarios.

* a directory: its ``*.txt`` seeds (metadata from its ``manifest.yaml``) and ``*.jsonl``;
* ``*.txt``: one seed article;
* ``*.jsonl``: one message per line, sent verbatim (bad lines are the worker's to
  dead-letter, so nothing is lost or silently fixed here);
* ``*.yaml`` / ``*.yml``: a scenario, expanded into its timed copies.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from producers.publisher import Publisher
from producers.scenario import expand
from producers.seeds import load_manifest, seed_article

Item = tuple[bytes | None, bytes]  # (key, value)


def _encode(article: dict[str, Any]) -> Item:
    key = str(article["id"]).encode() if article.get("id") else None
    return key, json.dumps(article, ensure_ascii=False).encode("utf-8")


def _jsonl(path: Path) -> Iterator[Item]:
    with path.open("rb") as handle:
        for line in handle:
            line = line.rstrip(b"\r\n")
            if not line.strip():
                continue
            key: bytes | None = None
            try:
                data = json.loads(line)
                if isinstance(data, dict) and data.get("id"):
                    key = str(data["id"]).encode()
            except ValueError:
                pass
            yield key, line


def items(paths: list[Path]) -> Iterator[Item]:
    """The messages that ``paths`` stand for, in order."""
    for path in paths:
        if path.is_dir():
            manifest = load_manifest(path)
            for txt in sorted(path.glob("*.txt")):
                yield _encode(seed_article(txt, manifest))
            for jsonl in sorted(path.glob("*.jsonl")):
                yield from _jsonl(jsonl)
        elif path.suffix == ".txt":
            yield _encode(seed_article(path, load_manifest(path.parent)))
        elif path.suffix == ".jsonl":
            yield from _jsonl(path)
        elif path.suffix in (".yaml", ".yml"):
            for article in expand(path):
                yield _encode(article)
        else:
            raise ValueError(f"{path}: expected a directory, .txt, .jsonl or scenario .yaml")


def replay(paths: list[Path], publisher: Publisher) -> int:
    """Publish everything and wait for the broker's acks; return the count sent."""
    sent = 0
    for key, value in items(paths):
        publisher.raw(value, key=key)
        sent += 1
    publisher.flush()
    return sent
