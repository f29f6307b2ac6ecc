"""``raqib watch DIR --once`` across restarts: each new or changed file sent once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from raqib.cli import main

pytestmark = pytest.mark.integration


def test_each_file_is_sent_once_across_restarts(
    env: dict[str, str], published: Any, tmp_path: Path, news_ar: dict[str, Any]
) -> None:
    inbox = tmp_path / "inbox"
    (inbox / "sub").mkdir(parents=True)
    bodies = news_ar["bodies"]
    (inbox / "hatami.txt").write_text(f"{news_ar['headlines'][0]}\n\n{bodies['hatami']}\n")
    (inbox / "sub" / "one.json").write_text(
        json.dumps({"source": "سانا", "url": "https://sana.sy/1", "body": bodies["araghchi"]})
    )
    lines = [
        {"source": "تسنيم", "title": f"خبر {i}", "body": f"نص الخبر رقم {i} عن حلب"}
        for i in range(2)
    ]
    stream = inbox / "feed.jsonl"
    stream.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines))
    (inbox / "notes.md").write_text("ignored")
    (inbox / ".hidden.json").write_text("{}")
    watch = ["watch", str(inbox), "--once", "--source", "عكاظ"]

    first = CliRunner().invoke(main, watch, env=env)
    assert first.exit_code == 0, first.output
    assert "3 files: sent 4 articles" in first.stdout
    sent = published(at_least=4)
    assert sorted(a["source"] for a in sent) == sorted(["تسنيم", "تسنيم", "سانا", "عكاظ"])
    txt = next(a for a in sent if a["source"] == "عكاظ")
    assert txt["title"] == news_ar["headlines"][0] and txt["lang"] == "ar"

    again = CliRunner().invoke(main, watch, env=env)  # a restart: nothing new
    assert "0 files: sent 0 articles" in again.stdout

    with stream.open("a", encoding="utf-8") as handle:  # appended: only the new line
        handle.write(json.dumps({"source": "تسنيم", "body": "خبر جديد عن دمشق"}) + "\n{bad\n")
    third = CliRunner().invoke(main, watch, env=env)
    assert "1 files: sent 1 articles, 0 duplicates suppressed, 1 errors" in third.stdout
    assert "feed.jsonl:4: not JSON" in third.stderr
    assert len(published(at_least=5)) == 5
