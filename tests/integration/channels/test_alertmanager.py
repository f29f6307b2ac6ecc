"""The Alertmanager channel against a real Alertmanager (Debian ``prometheus-alertmanager``).

A story is posted firing, read back through Alertmanager's own API, re-posted as the
router re-sends it (still one alert), raised to critical (the warning alert ends), then
resolved (no longer active).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.error import URLError
from urllib.parse import quote

import pytest

from alerts.channels import render
from alerts.channels.alertmanager import AlertmanagerChannel, AlertmanagerConfig
from alerts.channels.base import Context, DeliveryError
from raqib.embedded import ChildServer, free_port
from raqib.notifications import Notification
from raqib.settings import Settings
from tests.conftest import require, running

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

BINARY = "/usr/bin/prometheus-alertmanager"

CONFIG = """\
route:
  receiver: blackhole
  group_wait: 1s
receivers:
  - name: blackhole
"""


class Alertmanager(ChildServer):
    """Alertmanager on a free port, clustering off, its state in the data directory."""

    name = "alertmanager"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        config = self.data_dir / "alertmanager.yml"
        config.write_text(CONFIG)
        return [
            shutil.which("prometheus-alertmanager") or BINARY,
            f"--config.file={config}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            f"--storage.path={self.data_dir / 'data'}",
            "--cluster.listen-address=",
        ]

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                return bool(response.status == 200)
        except (URLError, OSError):
            return False

    def alerts(self, story_id: str) -> list[dict[str, Any]]:
        """The story's active alerts, as ``GET /api/v2/alerts`` lists them."""
        query = quote(f'story_id="{story_id}"')
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts?filter={query}", timeout=5) as r:
            return list(json.load(r))


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Alertmanager]:
    require(
        shutil.which("prometheus-alertmanager") is not None or Path(BINARY).exists(),
        "prometheus-alertmanager (apt-get install prometheus-alertmanager)",
    )
    with running(Alertmanager(tmp_path_factory.mktemp("alertmanager")), "Alertmanager") as server:
        yield server


def channel(url: str, **options: Any) -> AlertmanagerChannel:
    config = AlertmanagerConfig.model_validate(
        {
            "name": "am",
            "type": "alertmanager",
            "url": url,
            "labels": {"team": "duty-desk"},
            **options,
        }  # fmt: skip
    )
    return AlertmanagerChannel(config, Context(settings=Settings()))


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_a_story_fires_is_kept_alive_rises_and_resolves(
    alertmanager: Alertmanager, notification: Callable[..., Notification], unique: str
) -> None:
    ch = channel(alertmanager.url)
    now = datetime.now(UTC)
    first = (now - timedelta(minutes=3)).replace(microsecond=0)  # Alertmanager keeps ms
    page = notification(story_id=unique, first_seen=first)
    update = notification(story_id=unique, kind="update", seq=2, severity="critical",
                          first_seen=page.first_seen)  # fmt: skip
    resolved = notification(story_id=unique, kind="resolved", seq=3, status="resolved",
                            severity="critical", first_seen=page.first_seen)  # fmt: skip

    async def run() -> None:
        try:
            ref = await ch.deliver(page, None)
            assert ref == {"severity": "warning"}
            [alert] = alertmanager.alerts(unique)
            assert alert["labels"] == {
                "alertname": "RaqibStory",
                "story_id": unique,
                "severity": "warning",
                "source": "raqib",
                "team": "duty-desk",
            }
            notes = alert["annotations"]
            assert notes["summary"] == page.headline
            assert notes["description"] == render.text(page)
            assert notes["summary_ar"] == "خبر واحد: أمير حاتمي في دمشق — 1 موضوع"
            assert notes["dashboard"] == page.dashboard_url == alert["generatorURL"]
            assert parse(alert["startsAt"]) == page.first_seen
            ends = parse(alert["endsAt"])
            assert timedelta(minutes=4) < ends - now < timedelta(minutes=6)
            assert alert["status"]["state"] in ("active", "unprocessed")

            # the router's re-send: the same alert, its end pushed on
            await asyncio.sleep(0.05)
            assert await ch.deliver(page, ref) == ref
            [again] = alertmanager.alerts(unique)
            assert again["fingerprint"] == alert["fingerprint"]
            assert again["startsAt"] == alert["startsAt"]
            assert parse(again["endsAt"]) > ends

            # the story turns critical: a new alert, and the warning one ends
            ref = await ch.deliver(update, ref)
            assert ref == {"severity": "critical"}
            [critical] = alertmanager.alerts(unique)
            assert critical["labels"]["severity"] == "critical"
            assert critical["annotations"]["summary"].startswith("[update] CRITICAL")

            await ch.deliver(resolved, ref)
            assert alertmanager.alerts(unique) == []
        finally:
            await ch.close()

    asyncio.run(run())


def test_amtool_sees_the_story(
    alertmanager: Alertmanager, notification: Callable[..., Notification], unique: str
) -> None:
    """The operator's own tool lists the story with its Arabic summary."""
    import subprocess

    amtool = shutil.which("amtool")
    require(amtool is not None, "amtool (in prometheus-alertmanager)")
    assert amtool is not None
    ch = channel(alertmanager.url)
    asyncio.run(ch.deliver(notification(story_id=unique), None))
    asyncio.run(ch.close())
    out = subprocess.run(
        [
            amtool,
            "alert",
            "query",
            f"--alertmanager.url={alertmanager.url}",
            "-o",
            "json",
            f"story_id={unique}",
        ],  # fmt: skip
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    [alert] = json.loads(out)
    assert alert["annotations"]["summary_ar"] == "خبر واحد: أمير حاتمي في دمشق — 1 موضوع"


def test_no_alertmanager_is_retried(notification: Callable[..., Notification]) -> None:
    ch = channel(f"http://127.0.0.1:{free_port()}")

    async def run() -> None:
        try:
            await ch.deliver(notification(), None)
        finally:
            await ch.close()

    with pytest.raises(DeliveryError) as caught:
        asyncio.run(run())
    assert caught.value.retryable
