"""The floor under any Faust stage: an agent that reads ``TOPIC`` and does nothing else
with each message but, with ``SENDS`` > 0, send that many small messages onward (as the tag
stage sends an article's mention batches and tagged form). Run by ``bench_pipeline.py``
as ``python tests/bench/faust_floor.py BOOTSTRAP TOPIC SENDS DONE_FILE``: it writes how
many messages it has read to DONE_FILE after every batch, with the same Faust settings as
``raqib worker`` (see ``processors/app.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import cast

import faust
from faust.streams import Stream


def main() -> None:
    bootstrap, topic_name, sends, done_file = sys.argv[1:5]
    app = faust.App(
        f"floor-{topic_name}-{sends}",
        broker=f"kafka://{bootstrap}",
        value_serializer="raw",
        key_serializer="raw",
        broker_session_timeout=6,
        broker_heartbeat_interval=1,
        broker_rebalance_timeout=6,
        stream_wait_empty=False,
        store="memory://",
        web_enabled=False,
    )
    source = app.topic(topic_name, key_type=bytes, value_type=bytes)
    sink = app.topic(f"{topic_name}.floor", key_type=bytes, value_type=bytes, partitions=4)
    payload = b"x" * 2000
    per_message = int(sends)
    read = 0

    @app.agent(source)
    async def floor(stream: faust.StreamT[bytes]) -> None:
        nonlocal read
        async for events in cast(Stream, stream).take_events(500, within=0.05):
            for event in events:
                for i in range(per_message):
                    sink.send_soon(key=str(i).encode(), value=payload)
                del event
            read += len(events)
            Path(done_file).write_text(str(read))

    worker = faust.Worker(app, loglevel="WARNING", quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
