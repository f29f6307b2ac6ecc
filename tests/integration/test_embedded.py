"""The embedded servers start, answer, and always stop: no orphan, no port left bound."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from redis import Redis

from raqib.embedded import EmbeddedRedis, embedded_stack, pid_alive

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_until(predicate: Any, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_broker_keeps_keys_values_and_headers(kafka_broker: Any, unique: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=[kafka_broker.bootstrap])
    admin.create_topics([NewTopic(unique, num_partitions=4, replication_factor=1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=[kafka_broker.bootstrap], acks="all")
    sent = [(b"k%d" % i, bytes([0, 255, i]), [("raqib-reason", "نص".encode())]) for i in range(3)]
    for key, value, headers in sent:
        producer.send(unique, key=key, value=value, headers=headers, partition=0)
    producer.flush()
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=[kafka_broker.bootstrap])
    assert consumer.partitions_for_topic(unique) == {0, 1, 2, 3}
    tp = TopicPartition(unique, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    got: list[Any] = []
    deadline = time.monotonic() + 10
    while len(got) < 3 and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            got.extend(records)
    consumer.close()
    assert [(r.key, r.value, list(r.headers)) for r in got] == sent


def test_redis_answers(redis_server: Any, unique: str) -> None:
    client = Redis.from_url(redis_server.url)
    client.set(unique, "حلب")
    assert client.get(unique).decode() == "حلب"
    client.close()


def test_stop_leaves_no_process_and_frees_the_port(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path).start()
    pid, port = server.pid, server.port
    assert pid is not None and pid_alive(pid)
    server.stop()
    server.stop()  # idempotent
    assert not pid_alive(pid)
    assert port_is_free(port)


def test_stack_stops_both_servers_when_the_body_raises(tmp_path: Path) -> None:
    pids: list[int] = []
    with pytest.raises(RuntimeError), embedded_stack(tmp_path) as (broker, redis):
        pids.extend([broker.pid, redis.pid])
        raise RuntimeError("boom")
    assert len(pids) == 2 and not any(pid_alive(p) for p in pids)


CHILD = """
import sys, time
from pathlib import Path
from raqib.embedded import EmbeddedRedis
server = EmbeddedRedis(Path(sys.argv[1])).start()
print(server.pid, flush=True)
time.sleep(60)
"""


def test_a_killed_parent_takes_its_server_with_it(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    redis_pid = int(parent.stdout.readline())
    assert pid_alive(redis_pid)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    assert wait_until(lambda: not pid_alive(redis_pid)), "redis outlived its killed parent"
