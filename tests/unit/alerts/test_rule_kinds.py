"""The rule kinds beside spike: new, cooccurrence and silence, on synthetic streams run
through the in-memory engine exactly as ``raqib backtest`` runs them."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts.rules import CooccurrenceRule, NewRule, RulesFile, SilenceRule, load_rules, silence_p
from raqib.exceptions import ConfigError
from raqib.messages import Alert, Mention
from tests.unit.alerts.conftest import in_order

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def only(kind: str) -> RulesFile:
    """The default rules of one kind, so the test reads what that kind does."""
    return RulesFile(rules=tuple(r for r in load_rules().rules if r.kind == kind))


def events(alerts: list[Alert]) -> list[tuple[str, str, str]]:
    return [(a.rule, a.subject, a.status) for a in alerts]


# --- new -------------------------------------------------------------------------------


def test_new_fires_on_first_mentions_after_the_warm_up(
    run_engine: Any, periodic: Any, background: list[Mention], t0: datetime
) -> None:
    first = periodic("entity:hatami", start=t0 + 26 * HOUR, every=5 * MINUTE, count=2, prefix="h")
    alerts = run_engine(in_order(background, first), rules=only("new"))
    assert events(alerts) == [
        ("entity-new", "entity:hatami", "firing"),
        ("entity-new", "entity:hatami", "resolved"),
    ]
    firing = alerts[0]
    assert firing.kind == "new" and firing.observed == 2
    assert firing.expected == pytest.approx(60 / 1440, abs=1e-6)  # the prior floor, 1 a day
    assert firing.event_time == first[1].event_time
    assert {e.id for e in firing.articles} == {m.article_id for m in first}


def test_new_is_silent_during_the_warm_up(
    run_engine: Any, periodic: Any, background: list[Mention], t0: datetime
) -> None:
    early = periodic("entity:hatami", start=t0 + 3 * HOUR, every=5 * MINUTE, count=4, prefix="h")
    assert run_engine(in_order(background, early), rules=only("new")) == []


def test_a_subject_seen_in_the_baseline_is_not_new(
    run_engine: Any, periodic: Any, background: list[Mention], t0: datetime
) -> None:
    """Seen once 20 hours before (and once 40 minutes before, inside the part hour
    before the window): the later pair is not a first mention."""
    once = periodic("entity:hatami", start=t0 + 6 * HOUR, every=HOUR, count=1, prefix="h0")
    again = periodic("entity:hatami", start=t0 + 26 * HOUR, every=5 * MINUTE, count=2, prefix="h")
    assert run_engine(in_order(background, once, again), rules=only("new")) == []
    recent = periodic(
        "entity:hatami", start=t0 + 26 * HOUR - 70 * MINUTE, every=HOUR, count=1, prefix="h1"
    )
    assert run_engine(in_order(background, recent, again), rules=only("new")) == []


def test_one_outlet_cannot_make_a_subject_new(
    run_engine: Any, periodic: Any, background: list[Mention], t0: datetime
) -> None:
    first = periodic(
        "entity:hatami",
        start=t0 + 26 * HOUR,
        every=5 * MINUTE,
        count=3,
        prefix="h",
        sources=["وكالة ثقة"],
    )
    assert run_engine(in_order(background, first), rules=only("new")) == []


# --- cooccurrence ----------------------------------------------------------------------


def test_a_pair_named_together_far_more_than_usual_fires(
    run_engine: Any, periodic: Any, background: list[Mention], t0: datetime
) -> None:
    usual = periodic("pair:iran+syria", start=t0, every=2 * HOUR, count=13, prefix="p")
    surge = periodic(
        "pair:hezbollah+iran", start=t0 + 25 * HOUR, every=2 * MINUTE, count=6, prefix="s"
    )
    alerts = run_engine(in_order(background, usual, surge), rules=only("cooccurrence"))
    assert events(alerts) == [
        ("pair-spike", "pair:hezbollah+iran", "firing"),
        ("pair-spike", "pair:hezbollah+iran", "resolved"),
    ]
    assert alerts[0].kind == "cooccurrence" and alerts[0].observed == 4


def test_first_mode_fires_on_a_pair_never_seen(
    run_engine: Any, periodic: Any, background: list[Mention], t0: datetime
) -> None:
    rule = CooccurrenceRule(name="pair-first", kind="cooccurrence", mode="first", min_count=2)
    seen = periodic("pair:iran+syria", start=t0, every=2 * HOUR, count=14, prefix="p")
    pairs = [
        *periodic("pair:iran+syria", start=t0 + 26 * HOUR, every=MINUTE, count=2, prefix="q"),
        *periodic("pair:hamas+turkey", start=t0 + 26 * HOUR, every=MINUTE, count=2, prefix="r"),
    ]
    alerts = run_engine(in_order(background, seen, pairs), rules=RulesFile(rules=(rule,)))
    assert [(a.subject, a.status) for a in alerts if a.status == "firing"] == [
        ("pair:hamas+turkey", "firing")
    ]


def test_cooccurrence_rules_watch_pairs_only(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        'rules:\n  - name: pairs\n    kind: cooccurrence\n    subjects: ["entity:*"]\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_rules(path)
    assert info.value.line == 2 and "pair:" in str(info.value)


# --- silence ---------------------------------------------------------------------------


@pytest.fixture
def outlets(periodic: Any, t0: datetime) -> list[Mention]:
    """Two outlets at a steady pace for 30 hours: SANA every 10 minutes, Okaz every 15;
    SANA stops at 26:00 and comes back at 29:00."""
    sana = [
        m
        for m in periodic("source:SANA", start=t0, every=10 * MINUTE, count=180, prefix="sana")
        if not t0 + 26 * HOUR < m.event_time < t0 + 29 * HOUR
    ]
    okaz = periodic("source:Okaz", start=t0, every=15 * MINUTE, count=120, prefix="okaz")
    return in_order(sana, okaz)


def test_an_outlet_quiet_far_longer_than_its_usual_gap_fires_then_resolves(
    run_engine: Any, outlets: list[Mention], t0: datetime
) -> None:
    alerts = run_engine(outlets, rules=only("silence"))
    assert events(alerts) == [
        ("source-silence", "source:SANA", "firing"),
        ("source-silence", "source:SANA", "resolved"),
    ]
    firing, resolved = alerts
    assert firing.alert_id == resolved.alert_id and firing.kind == "silence"
    rule = only("silence").rules[0]
    assert isinstance(rule, SilenceRule)
    last = t0 + 26 * HOUR
    assert firing.window.start == last
    quiet = firing.event_time - last
    # 6 an hour: p = e^(-g/10 min) falls below 1e-4 after 92 minutes, above min_silence (1h)
    assert 92 * MINUTE <= quiet < 92 * MINUTE + 15 * MINUTE  # judged as Okaz moves time on
    assert firing.p_value == pytest.approx(silence_p(quiet / MINUTE, 1 / 10), rel=0.1)
    assert firing.p_value <= rule.max_p and firing.observed == 0
    assert [e.id for e in firing.articles] == ["sana-0156"]  # the last article heard
    assert "SANA" in firing.summary and "quiet for" in firing.summary
    assert resolved.event_time == t0 + 29 * HOUR


def test_an_irregular_outlet_has_no_usual_gap_to_break(
    run_engine: Any, periodic: Any, outlets: list[Mention], t0: datetime
) -> None:
    """Twelve articles a day is below min_baseline_count: four quiet hours are normal."""
    sparse = periodic("source:Tasnim", start=t0, every=2 * HOUR, count=12, prefix="t")
    alerts = run_engine(in_order(outlets, sparse), rules=only("silence"))
    assert {a.subject for a in alerts} == {"source:SANA"}


def test_a_silence_is_judged_the_same_after_a_restart(
    run_engine: Any, outlets: list[Mention]
) -> None:
    from alerts.episodes import MemoryEpisodes
    from processors.counts import MemoryCounts

    whole = run_engine(outlets, rules=only("silence"))
    counts, episodes = MemoryCounts(), MemoryEpisodes()
    cut = len(outlets) * 9 // 10  # inside the silence
    first = run_engine(outlets[:cut], rules=only("silence"), counts=counts, episodes=episodes)
    second = run_engine(outlets[cut:], rules=only("silence"), counts=counts, episodes=episodes)
    assert first + second == whole


def test_the_silence_rule_file_shape() -> None:
    data = yaml.safe_load(
        "rules: [{name: quiet, kind: silence, baseline: 90m, subjects: ['source:*']}]"
    )
    with pytest.raises(ValueError, match="whole number of hours"):
        RulesFile.model_validate(data)
    assert isinstance(only("new").rules[0], NewRule)


def test_a_stream_resuming_after_a_gap_warms_up_again(
    run_engine: Any, periodic: Any, background: list[Mention], t0: datetime
) -> None:
    """Three days of nothing, then the same day again: its subjects are not all new."""
    later = [m.model_copy(update={"event_time": m.event_time + 72 * HOUR}) for m in background]
    later = [m.model_copy(update={"article_id": "later-" + m.article_id}) for m in later]
    fresh = periodic("entity:hatami", start=t0 + 98 * HOUR, every=5 * MINUTE, count=2, prefix="h")
    alerts = run_engine(in_order(background, later, fresh), rules=only("new"))
    assert [(a.subject, a.status) for a in alerts if a.status == "firing"] == [
        ("entity:hatami", "firing")
    ]


# --- which subjects: types ---------------------------------------------------------------


def fired_by_labels(
    rules_yaml: str,
    labels: dict[str, tuple[str, ...]],
    subjects: list[str],
    *,
    by: str,
    periodic: Any,
    names: Any,
    t0: datetime,
    tmp_path: Path,
) -> set[tuple[str, str]]:
    """(rule, subject) of what fires when each subject is mentioned three minutes running,
    the engine told each entity's labels (``by``: "types" or "tags") as the pipeline does."""
    import asyncio

    from alerts.engine import RuleEngine
    from alerts.episodes import MemoryEpisodes
    from processors.counts import MemoryCounts

    path = tmp_path / "rules.yaml"
    path.write_text(rules_yaml, encoding="utf-8")
    rules = load_rules(path)

    def of(subject: str) -> tuple[str, ...]:
        kind, _, ident = subject.partition(":")
        parts = ident.split("+") if kind == "pair" else [ident] if kind == "entity" else []
        return tuple(sorted({label for p in parts for label in labels[p]}))

    stream = in_order(*(periodic(s, start=t0, every=MINUTE, count=3, prefix=s) for s in subjects))

    async def run() -> list[Alert]:
        engine = RuleEngine(rules, MemoryCounts(), MemoryEpisodes(), names, **{by: of})
        return await engine.on_batch(stream)

    return {(a.rule, a.subject) for a in asyncio.run(run()) if a.status == "firing"}


def test_a_rule_can_watch_only_some_entity_types(
    periodic: Any, names: Any, t0: datetime, tmp_path: Path
) -> None:
    rules = (
        "rules:\n"
        "  - name: actors\n"
        "    kind: threshold\n"
        '    subjects: ["entity:*", "pair:*", "topic:*"]\n'
        "    types: [PER, ORG]\n"
        "    window: 10m\n"
        "    min_count: 2\n"
    )
    kinds = {"hatami": ("PER",), "irgc": ("ORG",), "damascus": ("GPE",)}
    subjects = [
        "entity:hatami",
        "entity:damascus",
        "pair:hatami+irgc",
        "pair:damascus+hatami",
        "topic:visits",
    ]
    fired = fired_by_labels(
        rules, kinds, subjects, by="types", periodic=periodic, names=names, t0=t0, tmp_path=tmp_path
    )
    assert fired == {("actors", "entity:hatami"), ("actors", "pair:hatami+irgc")}


def test_a_rule_can_skip_or_select_entities_by_watchlist_tag(
    periodic: Any, names: Any, t0: datetime, tmp_path: Path
) -> None:
    rules = (
        "rules:\n"
        "  - name: no-outlets\n"
        "    kind: threshold\n"
        '    subjects: ["entity:*", "pair:*"]\n'
        "    not_tags: [media]\n"
        "    window: 10m\n"
        "    min_count: 2\n"
        "  - name: outlets-only\n"
        "    kind: threshold\n"
        '    subjects: ["entity:*"]\n'
        "    tags: [media]\n"
        "    window: 10m\n"
        "    min_count: 2\n"
    )
    tagged = {"tasnim": ("media",), "hatami": (), "damascus": ()}
    subjects = ["entity:hatami", "entity:tasnim", "pair:hatami+tasnim", "pair:damascus+hatami"]
    fired = fired_by_labels(
        rules, tagged, subjects, by="tags", periodic=periodic, names=names, t0=t0, tmp_path=tmp_path
    )
    assert fired == {
        ("no-outlets", "entity:hatami"),
        ("no-outlets", "pair:damascus+hatami"),  # a pair with an outlet in it is skipped too
        ("outlets-only", "entity:tasnim"),
    }


def test_an_unknown_type_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n  - name: people\n    kind: spike\n    types: [PERSON]\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError) as info:
        load_rules(path)
    assert info.value.line == 4 and "PER" in str(info.value)
