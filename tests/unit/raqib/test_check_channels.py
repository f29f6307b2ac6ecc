"""``raqib check-config --channels``: the issue's minimal file works; mistakes name a line."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from raqib.cli import main

MINIMAL = """channels:
  - name: ops-hook
    type: webhook
    url: http://127.0.0.1:9000/hook
    secret_env: RAQIB_HOOK_SECRET
routes:
  - channels: [ops-hook]
"""


def test_the_minimal_file_validates(tmp_path: Path) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    runner = CliRunner()
    done = runner.invoke(
        main, ["check-config", "--channels", str(path)], env={"RAQIB_HOOK_SECRET": "s3"}
    )
    assert done.exit_code == 0, done.output
    assert "channels: ops-hook (webhook); routes: 1" in done.output
    unset = runner.invoke(
        main, ["check-config", "--channels", str(path)], env={"RAQIB_HOOK_SECRET": ""}
    )
    assert (
        "warning: channel ops-hook: environment variable RAQIB_HOOK_SECRET is not set"
        in unset.output
    )


def test_a_route_to_a_missing_channel_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(MINIMAL.replace("[ops-hook]", "[ops-hook, pager]"), encoding="utf-8")
    done = CliRunner().invoke(main, ["check-config", "--channels", str(path)])
    assert done.exit_code == 1
    assert f"{path}:" in done.output and "no channel named pager" in done.output


def test_an_unknown_channel_type_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(MINIMAL.replace("type: webhook", "type: pigeon"), encoding="utf-8")
    done = CliRunner().invoke(main, ["check-config", "--channels", str(path)])
    assert done.exit_code == 1 and f"{path}:2: channels.0" in done.output, done.output
