"""Backends under test: the embedded log and KafkaBackend on the session broker (``kafka_bootstrap``,
from tests/conftest.py). Each Kafka backend gets its own topic/group prefix, so tests sharing the
broker never see each other's topics."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from kafka_testlib import BackendFactory, kafka_factory

from ksql.topics.embedded import EmbeddedLog

BACKENDS = ["embedded", "kafka-alos", "kafka-eos"]


@pytest.fixture(params=BACKENDS)
def make_backend(request: pytest.FixtureRequest) -> BackendFactory:
    """Call inside the event loop that uses the backend (aiokafka binds to it)."""
    if request.param == "embedded":
        return lambda: EmbeddedLog(None)
    bootstrap = request.getfixturevalue("kafka_bootstrap")
    guarantee = "exactly_once_v2" if request.param == "kafka-eos" else "at_least_once"
    return kafka_factory(bootstrap, guarantee)


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
        os.killpg(pid, signal.SIGTERM) if os.getpgid(pid) == pid else os.kill(pid, signal.SIGTERM)
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


@pytest.fixture(scope="session")
def broker_control(request: pytest.FixtureRequest, kafka_bootstrap: str) -> BrokerControl:
    if os.environ.get("KSQL_TEST_BOOTSTRAP"):
        pytest.skip("the broker is external (KSQL_TEST_BOOTSTRAP): this test cannot restart it")
    stack = request.getfixturevalue("_local_stack")
    return BrokerControl(Path(stack.state_dir))
