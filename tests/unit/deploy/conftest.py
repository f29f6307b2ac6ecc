"""The deploy tests run Debian's ``promtool`` and ``amtool`` (packages ``prometheus`` and
``prometheus-alertmanager``; .ci/run installs them): missing, they fail in CI."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import require

Tool = Callable[..., subprocess.CompletedProcess[str]]


def _tool(name: str, package: str) -> Tool:
    path = shutil.which(name)
    require(path is not None, f"{name} (Debian package {package})")

    def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(path), *map(str, args)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=cwd,
            check=False,
        )

    return run


@pytest.fixture
def promtool() -> Tool:
    return _tool("promtool", "prometheus")


@pytest.fixture
def amtool() -> Tool:
    return _tool("amtool", "prometheus-alertmanager")
