"""Helpers shared by the Kafka tests (imported as ``kafka_testlib``: pytest puts this folder on sys.path)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from testlib import free_port

from ksql.topics.base import Record, TopicBackend
from ksql.topics.kafka import KafkaBackend

BackendFactory = Callable[[], TopicBackend]
# Test records carry event times near 1970, which Kafka's time retention would delete at its next
# check (every 5 minutes): topics made by tests keep everything.
KEEP_FOREVER = {"retention.ms": "-1"}


def unique_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}-"


def kafka_factory(bootstrap: str, guarantee: str, prefix: str | None = None) -> BackendFactory:
    """Backends on one prefix: a second backend made by the same factory sees the first one's
    topics and groups (a restarted server)."""
    prefix = prefix or unique_prefix()

    def make() -> TopicBackend:
        return KafkaBackend(bootstrap, processing_guarantee=guarantee, topic_prefix=prefix, retry_timeout_s=30,
                            topic_config=KEEP_FOREVER)

    return make


async def read_all(b: TopicBackend, topic: str, partition: int = 0, offset: int = 0) -> list[Record]:
    out: list[Record] = []
    while True:
        recs = await b.read(topic, partition, offset, 1000)
        if not recs:
            return out
        out.extend(recs)
        offset = recs[-1].offset + 1


# -- real servers on Kafka (fault tests) -------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Server:
    """A ``ksql-server`` subprocess on Kafka; ``start`` again after ``kill`` restarts it on the same
    data dir, port and service id."""

    data_dir: Path
    bootstrap: str
    service_id: str
    guarantee: str = "at_least_once"
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60) -> None:
        """Each start logs to ``<data dir>-server-<n>.log`` (level $KSQL_TEST_SERVER_LOG_LEVEL, default
        warning)."""
        env = dict(os.environ, KSQL_KSQL_SERVICE_ID=self.service_id,
                   KSQL_KSQL_STREAMS_PROCESSING_GUARANTEE=self.guarantee)
        level = os.environ.get("KSQL_TEST_SERVER_LOG_LEVEL", "warning")
        with open(self.data_dir.parent / f"{self.data_dir.name}-server-{self.starts}.log", "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "rest.server", "--data-dir", str(self.data_dir), "--listeners", self.url,
                 "--bootstrap-servers", self.bootstrap, "--pg-port", "0", "--log-level", level],
                stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env,
            )
        self.starts += 1
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}")
            try:
                if httpx.get(f"{self.url}/info", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise AssertionError("server did not become ready")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def ksql(self, sql: str, **props: Any) -> list[dict[str, Any]]:
        r = httpx.post(f"{self.url}/ksql", json={"ksql": sql, "streamsProperties": {
            "ksql.streams.auto.offset.reset": "earliest", **props}}, timeout=60)
        assert r.status_code == 200, r.text
        result: list[dict[str, Any]] = r.json()
        return result


def int_key(k: int) -> bytes:
    """A KAFKA-format INT key."""
    return struct.pack(">i", k)


async def produce_events(backend: TopicBackend, topic: str, events: list[tuple[int, int]], chunk: int = 5000,
                         pause_s: float = 0.0) -> None:
    """(K, V) events as KAFKA INT keys and JSON values, in chunks (with a pause after each), stamped
    with the current time (older timestamps would fall to the broker's time retention)."""
    now = int(time.time() * 1000)
    for i in range(0, len(events), chunk):
        await backend.produce(topic, [
            Record(int_key(k), orjson.dumps({"V": v}), now + i + j)
            for j, (k, v) in enumerate(events[i:i + chunk])
        ])
        if pause_s:
            await asyncio.sleep(pause_s)


async def latest_by_key(backend: TopicBackend, topic: str) -> dict[int, dict[str, Any]]:
    """The last value of each key of a table's topic (KAFKA INT keys, JSON values)."""
    info = await backend.describe_topic(topic)
    assert info is not None
    table: dict[int, dict[str, Any]] = {}
    for p in range(info.partitions):
        for r in await read_all(backend, topic, p):
            assert r.key is not None
            k = struct.unpack(">i", r.key)[0]
            if r.value is None:
                table.pop(k, None)
            else:
                table[k] = orjson.loads(r.value)
    return table


async def wait_caught_up(backend: TopicBackend, group: str, topic: str, partitions: int, timeout_s: float) -> None:
    """Until the group's committed offsets reach the end of ``topic``."""
    tps = [(topic, p) for p in range(partitions)]
    deadline = time.monotonic() + timeout_s
    while True:
        ends = await backend.end_offsets(tps)
        committed = await backend.committed(group)
        if all(committed.get(tp, 0) >= ends[tp] for tp in tps):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"query did not catch up: committed {committed}, ends {ends}")
        await asyncio.sleep(0.2)


class BrokerControl:
    """Stops and restarts the session's broker (started by compose/local/up) on the same ports: the
    same command line again, with the same config and data directory."""

    def __init__(self, state_dir: Path) -> None:
        self.kdir = state_dir / "kafka"
        self.pidfile = self.kdir / "kafka.pid"

    def _pid(self) -> int:
        return int(self.pidfile.read_text().strip())

    def stop(self) -> list[str]:
        pid = self._pid()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        argv = [a.decode() for a in cmdline if a]
        if os.getpgid(pid) == pid:  # the broker leads its own process group (compose/local/up)
            os.killpg(pid, signal.SIGTERM)
        else:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.1)
        return argv

    def start(self, argv: list[str], bootstrap: str, timeout_s: float = 60) -> None:
        with open(self.kdir / "kafka.out", "ab") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        self.pidfile.write_text(f"{proc.pid}\n")  # so that compose/local/down stops this one
        host, port = bootstrap.rsplit(":", 1)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection((host, int(port)), timeout=1):
                return
            time.sleep(0.2)
        raise AssertionError("the restarted broker does not accept connections")
