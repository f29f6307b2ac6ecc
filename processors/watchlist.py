"""The watchlist: which entities raqib tags, under which names, validated at start.

>>> wl = load_watchlist()
>>> wl.by_id["iran"].names.en
'Iran'
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from processors.normalize import normalize_ar
from raqib.config import line_of, load_model_text, packaged_text, read_text
from raqib.exceptions import ConfigError

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

    ``aliases`` always count; ``ambiguous`` spellings (which may include the name itself:
    تدمر is also "it destroys") are ordinary words too (الأسد "lion", حماس "enthusiasm")
    and count only with context: the entity's own unambiguous name anywhere in the
    article, or in the same sentence one of its ``cues`` or one of the entities its
    ``context`` lists (the actors of its theatre: a lion beside إسطنبول is still a lion).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    type: EntityType
    names: Names
    wikidata: str | None = Field(None, pattern=r"^Q[1-9][0-9]*$")
    aliases: tuple[str, ...] = ()
    ambiguous: tuple[str, ...] = ()
    cues: tuple[str, ...] = ()
    context: tuple[str, ...] = ()
    tags: tuple[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")], ...] = ()
    """Free labels rules can select or skip (``media``: outlets and journalists, whose
    names in a text are attributions, not news about them)."""
    excludes: tuple[str, ...] = ()
    """Longer phrases that hold one of the names but name something else (ميشال عون is
    not Joseph Aoun, حماة الديار is an anthem, not Hama): matched like names, they take
    their span, and report nothing."""

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

    @model_validator(mode="after")
    def _context_ids_exist(self) -> Watchlist:
        ids = {e.id for e in self.entities}
        for entity in self.entities:
            unknown = sorted(set(entity.context) - ids)
            if unknown:
                raise ValueError(f"{entity.id}: context names unknown entities {unknown}")
        return self

    @cached_property
    def by_id(self) -> dict[str, Entity]:
        return {e.id: e for e in self.entities}


def names_of(entity: Entity) -> Iterator[tuple[str, str, bool]]:
    """Every spelling of an entity: (field, text, ambiguous)."""
    yield "names", entity.names.ar, False
    yield "names", entity.names.en, False
    for alias in entity.aliases:
        yield "aliases", alias, False
    for alias in entity.ambiguous:
        yield "ambiguous", alias, True


def spellings_of(entity: Entity) -> Iterator[tuple[str, str]]:
    """Every text the tagger matches for an entity, names and excludes: (field, text)."""
    for field, name, _ in names_of(entity):
        yield field, name
    for phrase in entity.excludes:
        yield "excludes", phrase


def _check_unique_names(watchlist: Watchlist, text: str, path: str) -> None:
    """One normalized spelling, one entity: the tagger could not tell them apart."""
    owner: dict[str, str] = {}
    for index, entity in enumerate(watchlist.entities):
        for field, name in spellings_of(entity):
            key = normalize_ar(name).strip()
            if not key:
                raise ConfigError(
                    path, line_of(text, ["entities", index, field]), f"{entity.id}: empty name"
                )
            other = owner.setdefault(key, entity.id)
            if other != entity.id:
                raise ConfigError(
                    path,
                    line_of(text, ["entities", index, field]),
                    f"{entity.id}: {name!r} is already a name of {other!r}",
                )


def load_watchlist(path: str | Path | None = None) -> Watchlist:
    """The packaged default, or the file given (flag or ``RAQIB_WATCHLIST``)."""
    if path is None:
        text, display = packaged_text("processors", DEFAULT_FILE)
    else:
        text, display = read_text(path), str(path)
    watchlist = load_model_text(text, Watchlist, path=display)
    _check_unique_names(watchlist, text, display)
    return watchlist
