"""A worker asked to stop exits within its deadline, whatever hangs in Faust's shutdown.

CI once saw a worker whose broker came back without its topics decide to stop (status 70)
and then wait on Faust's consumer thread, which had died in its own shutdown, for longer
than its orchestrator's patience. Here a service of the real worker app hangs in its stop;
the worker must still exit, with the status that says why it stopped."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from raqib.embedded import free_port
from raqib.settings import Settings

pytestmark = pytest.mark.integration

DEADLINE_S = 2.0

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys

    from mode import Service

    from processors.app import create_app
    from processors.health import Health
    from processors.worker import Worker
    from raqib.settings import Settings

    settings = Settings.model_validate_json(sys.argv[1])
    health = Health()
    app = create_app(settings, health=health)


    @app.service
    class Stuck(Service):
        async def on_stop(self) -> None:  # what aiokafka's fetcher did in CI, for ever
            await asyncio.Event().wait()


    @app.timer(interval=0.2)
    async def fail_once_assigned() -> None:
        if health.assigned and not health.dead:
            health.failed("test", "the broker lost the worker's topics (simulated)")


    Worker(
        app, health=health, stop_deadline_s=float(sys.argv[2]), loglevel="info", quiet=True
    ).execute_from_commandline()
    """
)


def test_a_stop_that_hangs_ends_at_the_deadline_with_the_failure_status(
    kafka_broker: Any, redis_server: Any, tmp_path: Path, report: Any
) -> None:
    tag = uuid.uuid4().hex[:8]
    settings = Settings(
        kafka=kafka_broker.bootstrap,
        redis=redis_server.url,
        app_id=f"raqib-stop-{tag}",
        topic_prefix=f"stop-{tag}.",
        redis_prefix=f"stop-{tag}",
        partitions=1,
        web_port=free_port(),
        alerts_file=tmp_path / "alerts.jsonl",
        data_dir=tmp_path / "worker",
        tag_process=False,
    )
    script = tmp_path / "stuck_worker.py"
    script.write_text(SCRIPT, encoding="utf-8")
    started = time.monotonic()
    done = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(script), settings.model_dump_json(), str(DEADLINE_S)],
        capture_output=True,
        text=True,
        timeout=90,  # without the deadline it never ends
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    took = time.monotonic() - started
    log = done.stdout + done.stderr
    assert done.returncode == 70, log[-3000:]
    assert "stopping the worker" in log
    assert f"did not stop within {DEADLINE_S:.0f} s" in log, log[-3000:]
    stop_asked = log.index("stopping the worker")
    assert log.index("exiting now with status 70") > stop_asked
    report(f"a stop hung in a service: exited with status 70 {took:.1f} s after start")
