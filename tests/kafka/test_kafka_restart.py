"""Restart on Kafka: a new engine on the same cluster replays the command topic, restores table state
from the changelog topics and resumes from the committed offsets without re-emitting anything."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka_testlib import kafka_factory, read_all

from ksql.engine.config import Config
from ksql.engine.engine import KsqlEngine
from ksql.topics.base import TopicBackend
from ksql.topics.kafka import KafkaBackend
from state.manager import StateManager

CONFIG = {"ksql.streams.auto.offset.reset": "earliest", "ksql.streams.cache.max.bytes.buffering": 0,
          "ksql.service.id": "restart_"}


async def totals(backend: TopicBackend) -> list[tuple[str, int]]:
    return [(r.key.decode(), orjson.loads(r.value)["N"]) for r in await read_all(backend, "TOTALS") if r.key and r.value]


async def open_engine(make: Any, state: StateManager) -> KsqlEngine:
    engine = KsqlEngine(make(), Config(CONFIG), state=state)
    await engine.start()
    return engine


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once_v2"])
@pytest.mark.parametrize("local_state", ["rocksdb", "none"])
def test_restart_restores_catalog_state_and_offsets(
    kafka_bootstrap: str, tmp_path: Path, guarantee: str, local_state: str
) -> None:
    """``none``: the new engine has no local state and restores the store from the changelog alone."""
    make = kafka_factory(kafka_bootstrap, guarantee)

    def state() -> StateManager:
        return StateManager("rocksdb", tmp_path) if local_state == "rocksdb" else StateManager("memory")

    async def scenario() -> None:
        engine = await open_engine(make, state())
        await engine.execute(
            "CREATE STREAM PLAYS (PLAYER STRING KEY, SCORE INT) WITH (KAFKA_TOPIC='plays', VALUE_FORMAT='JSON', PARTITIONS=2);"
            "CREATE TABLE TOTALS AS SELECT PLAYER, COUNT(*) AS N FROM PLAYS GROUP BY PLAYER;"
        )
        (qid,) = engine.queries
        for i in range(30):
            await engine.execute(f"INSERT INTO PLAYS (PLAYER, SCORE) VALUES ('p{i % 3}', {i});")
        await engine.run_until_idle()
        await engine.close()

        engine = await open_engine(make, state())
        assert set(engine.metastore.sources) == {"PLAYS", "TOTALS"}
        assert list(engine.queries) == [qid]
        for i in range(3):
            await engine.execute(f"INSERT INTO PLAYS (PLAYER, SCORE) VALUES ('p{i}', 1);")
        await engine.run_until_idle()
        out = await totals(engine.backend)
        # one update per input, counting on from the restored state
        assert len(out) == 33
        assert {k: n for k, n in out} == {"p0": 11, "p1": 11, "p2": 11}
        await engine.close()

    asyncio.run(scenario())


def test_exactly_once_crash_mid_transaction_leaves_no_trace(kafka_bootstrap: str) -> None:
    """A server killed with a transaction open: its records never become visible, and the next
    engine processes the same input again exactly once."""
    make = kafka_factory(kafka_bootstrap, "exactly_once_v2")

    async def crash() -> None:
        engine = await open_engine(make, StateManager("memory"))
        await engine.execute(
            "CREATE STREAM PLAYS (PLAYER STRING KEY, SCORE INT) WITH (KAFKA_TOPIC='plays', VALUE_FORMAT='JSON', PARTITIONS=1);"
            "CREATE TABLE TOTALS AS SELECT PLAYER, COUNT(*) AS N FROM PLAYS GROUP BY PLAYER;"
        )
        for i in range(10):
            await engine.execute(f"INSERT INTO PLAYS (PLAYER, SCORE) VALUES ('p{i % 2}', {i});")
        await engine.run_until_idle()
        for i in range(4):
            await engine.execute(f"INSERT INTO PLAYS (PLAYER, SCORE) VALUES ('p{i % 2}', {i});")
        # what a commit does, stopped before the end: a transaction holding output and offsets
        (task,) = [q.task for q in engine.queries.values()]
        task.process_batch(await task.poll())
        backend = engine.backend
        assert isinstance(backend, KafkaBackend)
        producer = await backend._txn_producer(task.group)
        await producer.begin_transaction()
        await producer.send_and_wait(backend._phys("TOTALS"), b'{"N":999}', key=b"p0")
        # the process dies here: nothing is closed

    asyncio.run(crash())

    async def recover() -> None:
        engine = await open_engine(make, StateManager("memory"))
        await engine.run_until_idle()
        out = await totals(engine.backend)
        assert ("p0", 999) not in out
        assert len(out) == 14
        assert {k: n for k, n in out} == {"p0": 7, "p1": 7}
        await engine.close()

    asyncio.run(recover())


def test_changelog_topics_are_compacted_and_named_like_ksqldb(kafka_bootstrap: str) -> None:
    make = kafka_factory(kafka_bootstrap, "at_least_once")

    async def scenario() -> None:
        engine = await open_engine(make, StateManager("memory"))
        await engine.execute(
            "CREATE STREAM PLAYS (PLAYER STRING KEY, SCORE INT) WITH (KAFKA_TOPIC='plays', VALUE_FORMAT='JSON', PARTITIONS=1);"
            "CREATE TABLE TOTALS AS SELECT PLAYER, COUNT(*) AS N FROM PLAYS GROUP BY PLAYER;"
        )
        topics = {t.name: t for t in await engine.backend.list_topics()}
        command = topics["_confluent-ksql-restart__command_topic"]
        assert command.config.get("cleanup.policy", "delete") == "delete"
        assert command.config.get("retention.ms") == "-1"
        (qid,) = engine.queries
        group = f"_confluent-ksql-restart_query_{qid}"
        changelogs = [t for n, t in topics.items() if n.endswith("-changelog")]
        assert changelogs and all(t.name.startswith(group + "-") for t in changelogs)
        assert all(t.config.get("cleanup.policy") == "compact" for t in changelogs)
        await engine.execute("INSERT INTO PLAYS (PLAYER, SCORE) VALUES ('a', 1);")
        await engine.run_until_idle()
        committed = await engine.backend.committed(group)
        assert committed == {("plays", 0): 1}
        await engine.close()

    asyncio.run(scenario())

