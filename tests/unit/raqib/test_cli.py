"""The command line without servers: tag, check-config, backtest, help."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from raqib.cli import main

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / "tests" / "data"
SMALL = str(DATA / "watchlist_small.yaml")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.mark.parametrize("command", ["demo", "worker", "replay", "tag", "backtest", "check-config"])
def test_every_command_has_help(runner: CliRunner, command: str) -> None:
    result = runner.invoke(main, [command, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output


def test_tag_prints_one_json_line_per_file_with_offsets(runner: CliRunner, tmp_path: Path) -> None:
    first = tmp_path / "a.txt"
    first.write_text("قالت إيران إن قنصليتها في حلب تعرضت للهجوم.\n", encoding="utf-8")
    second = tmp_path / "b.txt"
    second.write_text("لا شيء هنا.", encoding="utf-8")
    result = runner.invoke(main, ["tag", "--watchlist", SMALL, str(first), str(second)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [line["file"] for line in lines] == [str(first), str(second)]
    text = first.read_text(encoding="utf-8")
    entities = lines[0]["entities"]
    assert [e["id"] for e in entities] == ["iran", "aleppo"]
    assert set(entities[0]) == {"id", "type", "name", "wikidata", "surface", "start", "end"}
    assert all(text[e["start"] : e["end"]] == e["surface"] for e in entities)
    assert lines[1]["entities"] == [] and lines[1]["topics"] == []


def test_tag_reads_stdin(runner: CliRunner) -> None:
    result = runner.invoke(main, ["tag", "--watchlist", SMALL, "-"], input="وصل وفد إلى حلب")
    assert result.exit_code == 0
    line = json.loads(result.output)
    assert line["file"] == "-" and [e["id"] for e in line["entities"]] == ["aleppo"]


def test_check_config_names_file_and_line(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text(
        "rules:\n  - name: r1\n    kind: spike\n    window: 10m\n    min_ratio: lots\n",
        encoding="utf-8",
    )
    result = runner.invoke(main, ["check-config", "--watchlist", SMALL, "--rules", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:5" in result.output and "min_ratio" in result.output


def test_check_config_summarizes_valid_files(runner: CliRunner) -> None:
    result = runner.invoke(main, ["check-config", "--watchlist", SMALL])
    assert result.exit_code == 0, result.output
    assert "21 entities" in result.output and "entity-spike" in result.output
    # the default rules skip entities tagged media; this small watchlist tags none
    assert "warning: rule entity-spike: no watchlist entity is tagged 'media'" in result.output


def test_check_config_warns_of_an_ambiguous_name_without_context(
    runner: CliRunner, tmp_path: Path
) -> None:
    watchlist = tmp_path / "watchlist.yaml"
    watchlist.write_text(
        "entities:\n"
        "  - id: hamas\n"
        "    type: ORG\n"
        "    names: {ar: حركة حماس, en: Hamas}\n"
        "    ambiguous: [حماس]\n",
        encoding="utf-8",
    )
    result = runner.invoke(main, ["check-config", "--watchlist", str(watchlist)])
    assert result.exit_code == 0, result.output
    assert "warning: entity hamas: its ambiguous spellings have no cues" in result.output


def test_check_config_of_the_defaults_warns_of_nothing(runner: CliRunner) -> None:
    result = runner.invoke(main, ["check-config"])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output


def test_backtest_prints_alerts_and_reports_bad_lines(runner: CliRunner, tmp_path: Path) -> None:
    stream = tmp_path / "stream.jsonl"
    lines = ['{"broken": ']
    for i in range(8):  # eight outlets' reports of the same event within eight minutes
        lines.append(
            json.dumps(
                {
                    "id": f"a{i}",
                    "source": f"outlet-{i % 3}",
                    "title": "هجوم على قنصلية",
                    "body": "قالت الخارجية إن الحرس الثوري استهدف في حلب.",
                    "published_at": f"2024-12-01T10:0{i}:00Z",
                },
                ensure_ascii=False,
            )
        )
    stream.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # the default rules, warm from the start (as after `raqib backfill` of the history)
    defaults = yaml.safe_load((REPO / "alerts" / "data" / "rules.yaml").read_text("utf-8"))
    for rule in defaults["rules"]:
        rule["warm_up"] = "0s"
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(defaults, allow_unicode=True), encoding="utf-8")
    args = ["backtest", "--watchlist", SMALL, "--rules", str(rules), str(stream)]
    result = runner.invoke(main, args)
    assert result.exit_code == 0
    assert f"{stream}:1: skipped: not JSON" in result.stderr
    alerts = [json.loads(line) for line in result.stdout.splitlines()]
    observed = {a["subject"]: a["observed"] for a in alerts if a["status"] == "firing"}
    # entities fire at min_count 5 (entity-spike), the pair at 4 (pair-spike), the topic at
    # min_count 6 (topic-spike)
    assert observed == {
        "entity:irgc": 5,
        "entity:aleppo": 5,
        "pair:aleppo+irgc": 4,
        "topic:attacks-on-consulates": 6,
    }
