"""Config errors name the file, the line and the cause, so operators find their typo."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel, ConfigDict

from raqib.config import _FastUniqueKeyLoader, _UniqueKeyLoader, load_model, load_model_text
from raqib.exceptions import ConfigError


class Alias(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str
    weight: int = 1


class Entity(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    aliases: list[Alias] = []


class Watch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entities: list[Entity]


WATCH = """\
# a watchlist in the shape of watchlist.yaml
entities:
  - id: iran
    aliases:
      - text: الإيراني
      - text: الإيرانية
  - id: syria
    aliases:
      - text: السوري
      - text: السورية
        weight: {weight}
"""


def test_a_valid_file_loads() -> None:
    watch = load_model_text(WATCH.format(weight=2), Watch, path="w.yaml")
    assert [e.id for e in watch.entities] == ["iran", "syria"]
    assert watch.entities[1].aliases[1] == Alias(text="السورية", weight=2)


def test_a_bad_value_deep_in_a_list_names_its_line() -> None:
    with pytest.raises(ConfigError) as info:
        load_model_text(WATCH.format(weight="heavy"), Watch, path="conf/w.yaml")
    err = info.value
    assert (err.path, err.line) == ("conf/w.yaml", 11)
    assert "entities.1.aliases.1.weight" in err.cause
    assert str(err).startswith("conf/w.yaml:11: ")


def test_an_unknown_key_names_its_line() -> None:
    text = WATCH.format(weight=2).replace("  - id: syria\n", "  - id: syria\n    wikidata: Q858\n")
    with pytest.raises(ConfigError) as info:
        load_model_text(text, Watch, path="w.yaml")
    assert info.value.line == 8
    assert "entities.1.wikidata" in info.value.cause and "Extra inputs" in info.value.cause


def test_a_missing_key_points_at_its_parent_and_counts_the_rest() -> None:
    text = "entities:\n  - aliases: []\n  - id: syria\n  - {}\n"
    with pytest.raises(ConfigError) as info:
        load_model_text(text, Watch, path="w.yaml")
    assert info.value.line == 2
    assert "entities.0.id: Field required (and 1 more)" in info.value.cause


def test_invalid_yaml_names_its_line() -> None:
    text = "entities:\n  - id: iran\n    aliases: [الإيراني\n  - id: syria\n"
    with pytest.raises(ConfigError) as info:
        load_model_text(text, Watch, path="w.yaml")
    assert info.value.line is not None and info.value.line >= 3
    assert info.value.cause.startswith("invalid YAML")


def test_duplicate_keys_are_refused_at_the_second_one() -> None:
    text = "entities:\n  - id: iran\n    aliases: []\n    id: syria\n"
    with pytest.raises(ConfigError) as info:
        load_model_text(text, Watch, path="w.yaml")
    assert info.value.line == 4
    assert "duplicate key 'id'" in info.value.cause


def test_an_empty_file_is_an_empty_mapping() -> None:
    with pytest.raises(ConfigError) as info:
        load_model_text("# nothing yet\n", Watch, path="w.yaml")
    assert "entities: Field required" in info.value.cause


def test_load_model_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "watch.yaml"
    path.write_text(WATCH.format(weight=3), encoding="utf-8")
    assert load_model(path, Watch).entities[1].aliases[1].weight == 3
    path.write_text(WATCH.format(weight="x"), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_model(path, Watch)
    assert str(info.value).startswith(f"{path}:11: entities.1.aliases.1.weight")


@pytest.mark.parametrize("what", ["missing", "directory", "latin-1"])
def test_an_unreadable_file_is_a_config_error(tmp_path: Path, what: str) -> None:
    path = tmp_path / "watch.yaml"
    if what == "directory":
        path.mkdir()
    elif what == "latin-1":
        path.write_bytes("entities: [{id: caf\u00e9}]\n".encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_model(path, Watch)
    assert info.value.path == str(path) and info.value.line is None
    assert info.value.cause.startswith("cannot read")


ROOT = Path(__file__).resolve().parents[3]
YAML_FILES = sorted(
    p
    for p in ROOT.glob("**/*.yaml")
    if not any(part.startswith(".") or part in ("node_modules", "build") for part in p.parts)
)


def test_libyaml_reads_every_yaml_file_as_the_python_parser_does() -> None:
    """The fast loader is libyaml's parser under the same constructor: the same data."""
    assert YAML_FILES and yaml.__with_libyaml__
    for path in YAML_FILES:
        text = path.read_text(encoding="utf-8")
        try:
            expected = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506
        except yaml.YAMLError:
            continue  # told by the Python parser anyway
        assert yaml.load(text, Loader=_FastUniqueKeyLoader) == expected, path  # noqa: S506


def test_errors_are_told_by_the_python_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    """libyaml words its errors its own way: a file it refuses is read again by PyYAML, so
    the cause and line are what they were."""
    text = "entities:\n  - id: iran\n    aliases: [الإيراني\n  - id: syria\n"
    with pytest.raises(ConfigError) as fast:
        load_model_text(text, Watch, path="w.yaml")
    monkeypatch.setattr("raqib.config._FastUniqueKeyLoader", _UniqueKeyLoader)
    with pytest.raises(ConfigError) as slow:
        load_model_text(text, Watch, path="w.yaml")
    assert (fast.value.line, fast.value.cause) == (slow.value.line, slow.value.cause)
