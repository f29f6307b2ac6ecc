"""``raqib demo`` as a user runs it: one summary line, exit 0, nothing left behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from raqib.embedded import pid_alive

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(200)]

ROOT = Path(__file__).resolve().parents[2]
SUMMARY = re.compile(
    r"^demo: (\d+) articles, (\d+) mentions, (\d+) alerts in (\d+) stories "
    r"\((\d+) notifications\)$"
)


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid``, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def test_demo_prints_one_summary_line_and_exits_0() -> None:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "raqib", "demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summaries = [line for line in done.stdout.splitlines() if line.startswith("demo:")]
    assert len(summaries) == 1
    match = SUMMARY.match(summaries[0])
    assert match, summaries[0]
    articles, mentions, alerts, stories, notifications = map(int, match.groups())
    assert articles == 5 + 68 and mentions > articles and alerts >= 1
    assert 1 <= stories <= 3 and notifications <= 3 * stories
    assert "ALERT FIRING" in done.stdout and "حاتمي" in done.stdout
    assert elapsed < 120


def test_ctrl_c_stops_every_child(tmp_path: Path) -> None:
    demo = subprocess.Popen(
        [sys.executable, "-m", "raqib", "demo"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"},  # lines as they come
    )
    assert demo.stdout is not None
    tree: set[int] = set()
    for line in demo.stdout:
        tree |= descendants(demo.pid)
        if line.startswith("replayed"):
            break
    tree |= descendants(demo.pid)
    assert len(tree) >= 3  # broker, redis, worker
    demo.send_signal(signal.SIGINT)
    demo.communicate(timeout=60)
    assert demo.returncode != 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(pid_alive(p) for p in tree):
        time.sleep(0.2)
    assert not [p for p in tree if pid_alive(p)]
