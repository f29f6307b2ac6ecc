"""Load a YAML file into a pydantic model, with errors that name file, line and cause.

Every configuration file (watchlist, rules, channels, seed manifest, scenarios) goes
through :func:`load_model`, so an operator who mistypes a key is told where at start-up,
not surprised at 3 a.m.

>>> from pydantic import BaseModel
>>> class Conf(BaseModel):
...     name: str
>>> load_model_text("name: raqib\\n", Conf, path="conf.yaml").name
'raqib'
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from raqib.exceptions import ConfigError

M = TypeVar("M", bound=BaseModel)


class _UniqueKeys:
    """Refuses duplicate keys (YAML silently keeps the last one): mixed into a safe loader."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[attr-defined]
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)  # type: ignore[misc,no-any-return]


class _UniqueKeyLoader(_UniqueKeys, yaml.SafeLoader):
    """The pure-Python safe loader: slow, and what every error is told from (its messages
    and line marks are the ones operators and tests know)."""


class _FastUniqueKeyLoader(_UniqueKeys, getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml's parser (when PyYAML was built with it) under the same safe constructor:
    the same data, about ten times faster. A file it refuses is read again by
    :class:`_UniqueKeyLoader`, so errors say what they always said."""


def _locate(node: yaml.Node | None, loc: Sequence[int | str]) -> tuple[int | None, str]:
    """Follow a pydantic error location down the YAML tree: 1-based line and dotted path.

    Parts that name no node (the tag pydantic inserts for a discriminated union, such as
    ``spike`` in ``rules.1.spike.min_count``) are skipped; an unknown key at the end is
    kept in the path and located at its mapping.
    """
    if node is None:
        return None, ".".join(str(p) for p in loc)
    current = node
    path: list[str] = []
    for i, part in enumerate(loc):
        child: yaml.Node | None = None
        if isinstance(current, yaml.MappingNode):
            for key_node, value_node in current.value:
                if key_node.value == str(part):
                    child = value_node
                    break
        elif isinstance(current, yaml.SequenceNode) and isinstance(part, int):
            if 0 <= part < len(current.value):
                child = current.value[part]
        if child is None:
            if i == len(loc) - 1:
                path.append(str(part))
            continue
        path.append(str(part))
        current = child
    return current.start_mark.line + 1, ".".join(path)


def line_of(text: str, loc: Sequence[int | str]) -> int | None:
    """The 1-based line of the node at ``loc`` in YAML ``text`` (for checks after loading)."""
    try:
        node = yaml.compose(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError:
        return None
    return _locate(node, loc)[0]


def read_text(path: str | Path) -> str:
    """A config file's text, or a :class:`ConfigError` naming it."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), None, f"cannot read: {exc}") from exc


def packaged_text(package: str, name: str) -> tuple[str, str]:
    """The text of a default file shipped in ``package/data/name``, and a display path."""
    ref = resources.files(package).joinpath("data", name)
    return ref.read_text(encoding="utf-8"), f"{package}/data/{name}"


def _parse(text: str, path: str) -> Any:
    """The data of a YAML text: libyaml's parser when it is there; any error is told by the
    pure-Python one (file, line and cause, as before)."""
    try:
        return yaml.load(text, Loader=_FastUniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError:
        pass
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(path, line, f"invalid YAML: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(path, None, f"invalid YAML: {exc}") from exc


def load_model_text(text: str, model: type[M], *, path: str) -> M:
    """Parse YAML text and validate it; ``path`` is only used in error messages."""
    data = _parse(text, path)
    if data is None:
        data = {}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        node = yaml.compose(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
        line, where = _locate(node, err["loc"])
        more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        cause = f"{where or '(top level)'}: {err['msg']}{more}"
        raise ConfigError(path, line, cause) from exc


def load_model(path: str | Path, model: type[M]) -> M:
    """Read and validate a YAML file."""
    return load_model_text(read_text(path), model, path=str(path))


def load_packaged(package: str, name: str, model: type[M]) -> M:
    """Validate a default file shipped inside a stage package (``package/data/name``)."""
    text, display = packaged_text(package, name)
    return load_model_text(text, model, path=display)
