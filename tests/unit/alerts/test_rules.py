"""Rules files: the packaged default loads; every mistake is reported with file and line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from alerts.rules import RULE_KINDS, SpikeRule, load_rules
from raqib.exceptions import ConfigError

GOOD_RULE = """\
rules:
  - name: entity-spike
    kind: spike
    window: 10m
"""
RULE_LINE = 5  # the second rule's "- name:" line
FIELD_LINE = 9  # the line of the setting under test inside it


def rules_file(tmp_path: Path, **setting: str) -> Path:
    """A rules file whose second rule ends with one ``key: value`` line (line 9)."""
    ((key, value),) = setting.items()
    path = tmp_path / "rules.yaml"
    path.write_text(
        GOOD_RULE
        + "  - name: topic-spike\n"
        + "    kind: spike\n"
        + '    subjects: ["topic:*"]\n'
        + "    labels: {team: العاجل}\n"
        + f"    {key}: {value}\n",
        encoding="utf-8",
    )
    assert path.read_text(encoding="utf-8").splitlines()[FIELD_LINE - 1].strip().startswith(key)
    return path


def config_error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_rules(path)
    assert info.value.path == str(path)
    assert str(info.value).startswith(f"{path}:{info.value.line}: ")
    return info.value


def test_the_packaged_rules_load_with_the_documented_defaults() -> None:
    rule, topic_rule, *others = load_rules().rules
    assert [r.kind for r in others] == ["cooccurrence", "new", "silence"]
    assert topic_rule.name == "topic-spike" and topic_rule.subjects == ("topic:*",)
    assert isinstance(rule, SpikeRule) and RULE_KINDS[rule.kind] is SpikeRule
    assert rule.name == "entity-spike" and rule.subjects == ("entity:*",)
    assert (rule.window, rule.baseline) == (timedelta(minutes=10), timedelta(hours=24))
    assert (rule.window_minutes, rule.baseline_hours) == (10, 24)
    assert (rule.min_count, rule.min_ratio, rule.max_p) == (5, 4.0, 0.001)
    assert (rule.prior_per_day, rule.min_sources) == (1.0, 2)
    assert (rule.resolve_after, rule.cooldown) == (timedelta(minutes=30), timedelta(hours=1))
    warm_ups = {r.name: r.warm_up for r in load_rules().rules}
    assert warm_ups == {
        "entity-spike": timedelta(hours=6),
        "topic-spike": timedelta(hours=6),
        "pair-spike": timedelta(hours=6),
        "entity-new": timedelta(hours=24),
        "source-silence": timedelta(hours=24),
    }


@pytest.mark.parametrize(
    ("rule", "warm_up"),
    [
        ("{name: r, kind: spike}", timedelta(hours=6)),
        ("{name: r, kind: threshold}", timedelta(0)),
        ("{name: r, kind: new}", timedelta(hours=24)),
        ("{name: r, kind: cooccurrence}", timedelta(hours=6)),
        ("{name: r, kind: cooccurrence, mode: spike}", timedelta(hours=6)),
        ("{name: r, kind: cooccurrence, mode: first}", timedelta(hours=24)),
        ("{name: r, kind: cooccurrence, mode: first, warm_up: 2h}", timedelta(hours=2)),
        ("{name: r, kind: silence}", timedelta(hours=24)),
        ("{name: r, kind: spike, warm_up: 0s}", timedelta(0)),
        ("{name: r, kind: silence, warm_up: 0s}", timedelta(0)),
    ],
)
def test_each_kind_has_its_warm_up_and_0s_turns_it_off(
    tmp_path: Path, rule: str, warm_up: timedelta
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(f"rules:\n  - {rule}\n", encoding="utf-8")
    assert load_rules(path).rules[0].warm_up == warm_up


def test_a_file_replaces_the_defaults(tmp_path: Path) -> None:
    rules = load_rules(rules_file(tmp_path, baseline="7d"))
    assert [r.name for r in rules.rules] == ["entity-spike", "topic-spike"]
    topic = rules.rules[1]
    assert topic.baseline_hours == 7 * 24 and topic.labels == {"team": "العاجل"}
    assert topic.min_sources == 1  # the model's default, not the packaged file's


def test_rules_for_a_subject_follow_globs_and_enabled(tmp_path: Path) -> None:
    rules = load_rules(rules_file(tmp_path, enabled="false"))
    assert [r.name for r in rules.for_subject("entity:iran")] == ["entity-spike"]
    assert rules.for_subject("topic:sanctions") == []  # its rule is disabled
    assert [r.kind for r in load_rules().for_subject("source:sana")] == ["silence"]
    assert load_rules().for_subject("elsewhere:x") == []


@pytest.mark.parametrize(
    ("key", "value", "cause"),
    [
        ("window", "90s", "window must be a whole number of minutes"),
        ("window", "30s", "window must be a whole number of minutes"),
        ("window", "3d", "window must be at most 2d"),
        ("baseline", "90m", "baseline must be a whole number of hours"),
        ("baseline", "36d", "baseline must be at most 35d"),
    ],
)
def test_bucket_constraints_name_the_rule_line(
    tmp_path: Path, key: str, value: str, cause: str
) -> None:
    err = config_error(rules_file(tmp_path, **{key: value}))
    assert cause in err.cause and "rules.1" in err.cause
    assert err.line in (RULE_LINE, FIELD_LINE)


def test_35_days_of_baseline_is_allowed(tmp_path: Path) -> None:
    assert load_rules(rules_file(tmp_path, baseline="35d")).rules[1].baseline_hours == 840


def test_an_unknown_kind_names_the_rule_line(tmp_path: Path) -> None:
    path = rules_file(tmp_path, severity="info")
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("spike\n    subjects", "surge\n    subjects"), "utf-8")
    err = config_error(path)
    assert err.line == RULE_LINE
    assert "'surge'" in err.cause and "'spike'" in err.cause


@pytest.mark.parametrize(
    ("key", "value", "cause"),
    [
        ("min_cuont", "5", "Extra inputs are not permitted"),
        ("min_count", "five", "valid integer"),
        ("max_p", "2", "less than or equal to 1"),
        ("severity", "page", "'info', 'warning' or 'critical'"),
        ("cooldown", "an hour", "like 90s, 10m"),
        ("warm_up", "-1h", "like 90s, 10m"),
    ],
)
def test_a_bad_setting_names_the_rule(tmp_path: Path, key: str, value: str, cause: str) -> None:
    err = config_error(rules_file(tmp_path, **{key: value}))
    assert cause in err.cause and key in err.cause
    assert err.line in (RULE_LINE, FIELD_LINE)


@pytest.mark.parametrize(("key", "value"), [("min_cuont", "5"), ("min_count", "five")])
def test_a_bad_setting_names_its_own_line(tmp_path: Path, key: str, value: str) -> None:
    assert config_error(rules_file(tmp_path, **{key: value})).line == FIELD_LINE


def test_an_infinite_cooldown_is_a_config_error(tmp_path: Path) -> None:
    config_error(rules_file(tmp_path, cooldown=".inf"))


def test_duplicate_rule_names_are_refused(tmp_path: Path) -> None:
    path = rules_file(tmp_path, enabled="true")
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("topic-spike", "entity-spike"), encoding="utf-8")
    err = config_error(path)
    assert err.line is not None
    assert "duplicate rule names: entity-spike" in err.cause


def test_a_duplicate_key_in_a_rule_names_its_line(tmp_path: Path) -> None:
    err = config_error(rules_file(tmp_path, kind="spike"))
    assert err.line == FIELD_LINE and "duplicate key 'kind'" in err.cause


def test_a_threshold_rule_fires_on_count_alone(tmp_path: Path) -> None:
    import asyncio
    from datetime import UTC, datetime

    from alerts import MemoryEpisodes, RuleEngine
    from processors.counts import MemoryCounts
    from raqib.messages import Mention

    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n"
        "  - name: busy\n"
        "    kind: threshold\n"
        "    subjects: ['entity:*']\n"
        "    window: 10m\n"
        "    min_count: 3\n",
        encoding="utf-8",
    )
    rules = load_rules(path)
    t0 = datetime(2024, 12, 1, 9, 0, tzinfo=UTC)

    async def go() -> list[str]:
        counts = MemoryCounts()
        engine = RuleEngine(rules, counts, MemoryEpisodes(), lambda s: ("حلب", "Aleppo"))
        fired: list[str] = []
        for i in range(3):
            m = Mention(
                subject="entity:aleppo",
                article_id=f"a{i}",
                event_time=t0.replace(minute=i),
                source="سانا",
            )
            for alert in await engine.on_batch([m]):
                fired.append(f"{alert.kind}:{alert.status}:{alert.observed}")
        return fired

    assert asyncio.run(go()) == ["threshold:firing:3"]
