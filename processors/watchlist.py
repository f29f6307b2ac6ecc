"""The watchlist: which entities raqib tags, under which names, validated at start.

>>> wl = load_watchlist()
>>> wl.by_id["iran"].names.en
'Iran'
"""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from raqib.config import load_model, load_packaged

DEFAULT_FILE = "watchlist.yaml"


class EntityType(StrEnum):
    PER = "PER"
    ORG = "ORG"
    GPE = "GPE"
    LOC = "LOC"
    FAC = "FAC"


class Names(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ar: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Entity(BaseModel):
    """One watched actor or place.

    ``aliases`` always count; ``ambiguous`` aliases are ordinary words too (الأسد "lion",
    حماس "enthusiasm") and count only with context: the entity's full name or another
    watched entity in the article, or one of its ``cues`` in the same sentence.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    type: EntityType
    names: Names
    wikidata: str | None = Field(None, pattern=r"^Q[1-9][0-9]*$")
    aliases: tuple[str, ...] = ()
    ambiguous: tuple[str, ...] = ()
    cues: tuple[str, ...] = ()

    @property
    def subject(self) -> str:
        return f"entity:{self.id}"


class Watchlist(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    entities: tuple[Entity, ...]

    @model_validator(mode="after")
    def _unique_ids(self) -> Watchlist:
        seen: set[str] = set()
        for entity in self.entities:
            if entity.id in seen:
                raise ValueError(f"duplicate entity id {entity.id!r}")
            seen.add(entity.id)
        return self

    @cached_property
    def by_id(self) -> dict[str, Entity]:
        return {e.id: e for e in self.entities}


def load_watchlist(path: str | Path | None = None) -> Watchlist:
    """The packaged default, or the file given (flag or ``RAQIB_WATCHLIST``)."""
    if path is None:
        return load_packaged("processors", DEFAULT_FILE, Watchlist)
    return load_model(path, Watchlist)
