"""Seed articles: verbatim text files plus ``manifest.yaml`` metadata beside them.

Example::

    articles = load_seed_dir(Path("seeds"))
    articles[0]["source"]
    # -> 'وكالة ثقة'
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from raqib.config import load_model
from raqib.messages import as_utc

MANIFEST = "manifest.yaml"


class SeedEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str
    source: str
    url: str | None = None
    title: str
    published_at: datetime
    lang: str = "ar"
    title_in_text: bool = True


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    articles: tuple[SeedEntry, ...] = Field(min_length=1)

    def entry(self, name: str) -> SeedEntry | None:
        return next((a for a in self.articles if a.file == name), None)


def load_manifest(directory: Path) -> Manifest | None:
    path = directory / MANIFEST
    return load_model(path, Manifest) if path.exists() else None


def seed_article(path: Path, manifest: Manifest | None) -> dict[str, Any]:
    """An article dict for one text file; the manifest gives its metadata."""
    body = path.read_text(encoding="utf-8")
    entry = manifest.entry(path.name) if manifest else None
    article: dict[str, Any] = {"id": f"seed-{path.stem}", "body": body}
    if entry is not None:
        article.update(
            source=entry.source,
            url=entry.url or "",
            title=entry.title,
            published_at=as_utc(entry.published_at).isoformat(),
            lang=entry.lang,
        )
    return article


def load_seed_dir(directory: Path) -> list[dict[str, Any]]:
    """Every ``*.txt`` in a directory, in name order, with manifest metadata."""
    manifest = load_manifest(directory)
    return [seed_article(p, manifest) for p in sorted(directory.glob("*.txt"))]
