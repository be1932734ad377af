"""Faults on Kafka with real server processes: SIGKILLed servers, a broker that goes away.

Events are written straight to the input topic by the test (KAFKA INT keys, JSON values) while a
``GROUP BY K`` COUNT/SUM runs in a ``ksql-server`` on the broker; the table is then read from its sink
topic (read_committed, last value per key) and compared with the ground truth.

The observer backend is always at-least-once: an exactly-once backend takes over a group's
transactional id when it reads the group's offsets, which would fence the server.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

import pytest
from kafka_testlib import BrokerControl, Server, latest_by_key, produce_events, wait_caught_up

from ksql.topics.kafka import KafkaBackend

EVENTS = 100_000
KEYS = 97
PARTITIONS = 2


def events() -> list[tuple[int, int]]:
    return [(i % KEYS, (i * 7) % 100) for i in range(EVENTS)]


def truth(evs: list[tuple[int, int]]) -> dict[int, dict[str, int]]:
    t: dict[int, dict[str, int]] = defaultdict(lambda: {"N": 0, "S": 0})
    for k, v in evs:
        t[k]["N"] += 1
        t[k]["S"] += v
    return dict(t)


class Scenario:
    """A server with EVENTS → TOTALS (COUNT, SUM per key), and a thread writing the events."""

    def __init__(self, bootstrap: str, tmp: Path, guarantee: str) -> None:
        self.bootstrap = bootstrap
        svc = f"f{uuid.uuid4().hex[:8]}_"
        self.server = Server(tmp / "data", bootstrap, svc, guarantee)
        self.topic, self.sink = f"events_{svc}", f"totals_{svc}"
        self.events = events()
        self.server.start()
        # every update emitted and committed batch by batch: many commits for a kill to land in
        r = self.server.ksql(
            f"CREATE STREAM EVENTS (K INT KEY, V INT) WITH (KAFKA_TOPIC='{self.topic}', VALUE_FORMAT='JSON', "
            f"PARTITIONS={PARTITIONS});"
            f"CREATE TABLE TOTALS WITH (KAFKA_TOPIC='{self.sink}') AS "
            "SELECT K, COUNT(*) AS N, SUM(V) AS S FROM EVENTS GROUP BY K;",
            **{"ksql.streams.cache.max.bytes.buffering": 0})
        self.group = f"_confluent-ksql-{svc}query_{r[1]['commandStatus']['queryId']}"
        self.writer: threading.Thread | None = None
        self.error: BaseException | None = None

    def write(self, chunk: int, pause_s: float) -> None:
        def run() -> None:
            async def go() -> None:
                backend = KafkaBackend(self.bootstrap, retry_timeout_s=120)
                try:
                    await produce_events(backend, self.topic, self.events, chunk, pause_s)
                finally:
                    await backend.close()

            try:
                asyncio.run(go())
            except BaseException as e:  # reported by result()
                self.error = e

        self.writer = threading.Thread(target=run, daemon=True)
        self.writer.start()

    def writing(self) -> bool:
        return self.writer is not None and self.writer.is_alive()

    def result(self, timeout_s: float = 120) -> dict[int, dict[str, int]]:
        assert self.writer is not None
        self.writer.join(timeout_s)
        assert self.error is None, f"writing the events failed: {self.error!r}"

        async def go() -> dict[int, dict[str, int]]:
            backend = KafkaBackend(self.bootstrap)
            try:
                await wait_caught_up(backend, self.group, self.topic, PARTITIONS, timeout_s)
                table = await latest_by_key(backend, self.sink)
                return {k: {"N": v["N"], "S": v["S"]} for k, v in table.items()}
            finally:
                await backend.close()

        return asyncio.run(go())


def kill_while_writing(s: Scenario, kills: int) -> int:
    """SIGKILLs and restarts the server ``kills`` times at random moments while events arrive."""
    done = 0
    rng = random.Random()
    while done < kills:
        time.sleep(rng.uniform(0.2, 1.0))
        s.server.kill()
        done += 1
        s.server.start()
    return done


@pytest.mark.slow
def test_exactly_once_survives_sigkills(kafka_bootstrap: str, tmp_path: Path) -> None:
    s = Scenario(kafka_bootstrap, tmp_path, "exactly_once_v2")
    try:
        s.write(chunk=5000, pause_s=0.05)
        kills = kill_while_writing(s, 3)
        table = s.result()
    finally:
        s.server.kill()
    assert kills >= 3
    assert table == truth(s.events)


@pytest.mark.slow
def test_at_least_once_loses_nothing_across_sigkills(kafka_bootstrap: str, tmp_path: Path) -> None:
    s = Scenario(kafka_bootstrap, tmp_path, "at_least_once")
    try:
        s.write(chunk=5000, pause_s=0.05)
        kill_while_writing(s, 3)
        table = s.result()
    finally:
        s.server.kill()
    expected = truth(s.events)
    assert set(table) == set(expected)
    short = {k: (table[k], expected[k]) for k in expected if table[k]["N"] < expected[k]["N"]}
    assert not short, f"counts below the truth (lost events): {short}"
    excess = sum(v["N"] for v in table.values()) - EVENTS
    print(f"\nat_least_once after 3 SIGKILLs: {excess} events counted twice ({excess / EVENTS:.2%})")


@pytest.mark.slow
def test_query_resumes_after_broker_restart(kafka_bootstrap: str, tmp_path: Path,
                                            broker_control: BrokerControl) -> None:
    s = Scenario(kafka_bootstrap, tmp_path, "at_least_once")
    try:
        s.write(chunk=2000, pause_s=0.08)
        time.sleep(1.5)
        argv = broker_control.stop()
        time.sleep(3)
        broker_control.start(argv, kafka_bootstrap)
        table = s.result(timeout_s=180)
        assert s.server.proc is not None and s.server.proc.poll() is None, "the server died with the broker"
        status = s.server.ksql("SHOW QUERIES;")[0]["queries"]
        assert [q["state"] for q in status] == ["RUNNING"]
    finally:
        s.server.kill()
    expected = truth(s.events)
    assert set(table) == set(expected)
    assert all(table[k]["N"] >= expected[k]["N"] for k in expected), "events were lost"
    excess = sum(v["N"] for v in table.values()) - EVENTS
    print(f"\nbroker restart: {excess} events counted twice")
