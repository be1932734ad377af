"""Engine behaviour on every backend: the same statements and inputs give the same sink topics on the
embedded log and on Kafka (at-least-once and exactly-once)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from kafka_testlib import BackendFactory, read_all

from ksql.engine.config import Config
from ksql.engine.engine import KsqlEngine
from ksql.testing import wire
from state.manager import StateManager

CONFIG = {"ksql.streams.auto.offset.reset": "earliest", "ksql.streams.cache.max.bytes.buffering": 0,
          "ksql.service.id": "backend_test_"}


async def sink(engine: KsqlEngine, name: str) -> list[tuple[Any, Any, int]]:
    """(key, value, timestamp) of every record of the source's topic, partition by partition."""
    src = engine.metastore.sources[name]
    info = await engine.backend.describe_topic(src.topic)
    assert info is not None
    out = []
    for p in range(info.partitions):
        for r in await read_all(engine.backend, src.topic, p):
            key, window = wire.decode_key(r.key, src)
            if window is not None:
                key = (key, window["start"], window["end"])
            out.append((key, wire.decode_value(r.value, src), r.timestamp))
    return out


def run_engine(make: BackendFactory, statements: list[str], tmp: Path | None = None) -> dict[str, list[Any]]:
    """Runs the statements (INSERTs are processed in between so a table is complete before a
    stream joins it); returns every sink's records."""

    async def main() -> dict[str, list[Any]]:
        state = StateManager("rocksdb", tmp) if tmp is not None else StateManager("memory")
        engine = KsqlEngine(make(), Config(CONFIG), state=state)
        try:
            await engine.start()
            for s in statements:
                await engine.execute(s)
                if s.lstrip().upper().startswith("INSERT INTO") and "VALUES" in s.upper():
                    await engine.run_until_idle()
            await engine.run_until_idle()
            return {
                name: await sink(engine, name)
                for name, src in engine.metastore.sources.items() if src.created_by is not None
            }
        finally:
            await engine.close()

    return asyncio.run(main())


def test_csas_filter_and_project(make_backend: BackendFactory) -> None:
    got = run_engine(make_backend, [
        "CREATE STREAM S (ID INT KEY, NAME STRING, AMOUNT DOUBLE) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', PARTITIONS=2);",
        "CREATE STREAM BIG AS SELECT ID, UCASE(NAME) AS NAME, AMOUNT * 2 AS DOUBLED FROM S WHERE AMOUNT > 10;",
        *[f"INSERT INTO S (ID, NAME, AMOUNT, ROWTIME) VALUES ({i}, 'n{i}', {i * 3.0}, {1000 + i});" for i in range(10)],
    ])
    rows = sorted(got["BIG"], key=lambda r: r[0])
    assert rows == [(i, {"NAME": f"N{i}", "DOUBLED": i * 6.0}, 1000 + i) for i in range(4, 10)]


def test_ctas_group_by_with_retraction(make_backend: BackendFactory) -> None:
    got = run_engine(make_backend, [
        "CREATE TABLE USERS (ID STRING PRIMARY KEY, REGION STRING) WITH (KAFKA_TOPIC='users', VALUE_FORMAT='JSON', PARTITIONS=1);",
        "CREATE TABLE PER_REGION AS SELECT REGION, COUNT(*) AS N FROM USERS GROUP BY REGION;",
        "INSERT INTO USERS (ID, REGION, ROWTIME) VALUES ('a', 'eu', 1);",
        "INSERT INTO USERS (ID, REGION, ROWTIME) VALUES ('b', 'eu', 2);",
        "INSERT INTO USERS (ID, REGION, ROWTIME) VALUES ('c', 'us', 3);",
        "INSERT INTO USERS (ID, REGION, ROWTIME) VALUES ('a', 'us', 4);",  # moves: eu 2->1, us 1->2
    ])
    assert [(k, v) for k, v, _ in got["PER_REGION"]] == [
        ("eu", {"N": 1}), ("eu", {"N": 2}), ("us", {"N": 1}), ("eu", {"N": 1}), ("us", {"N": 2}),
    ]


def test_windowed_aggregate(make_backend: BackendFactory) -> None:
    got = run_engine(make_backend, [
        "CREATE STREAM CLICKS (USER STRING KEY, N INT) WITH (KAFKA_TOPIC='clicks', VALUE_FORMAT='JSON', PARTITIONS=1);",
        "CREATE TABLE PER_MINUTE AS SELECT USER, COUNT(*) AS C, SUM(N) AS S FROM CLICKS "
        "WINDOW TUMBLING (SIZE 1 MINUTE) GROUP BY USER;",
        "INSERT INTO CLICKS (USER, N, ROWTIME) VALUES ('u', 1, 1000);",
        "INSERT INTO CLICKS (USER, N, ROWTIME) VALUES ('u', 2, 30000);",
        "INSERT INTO CLICKS (USER, N, ROWTIME) VALUES ('u', 5, 61000);",
        "INSERT INTO CLICKS (USER, N, ROWTIME) VALUES ('v', 7, 62000);",
    ])
    assert [(k, v) for k, v, _ in got["PER_MINUTE"]] == [
        (("u", 0, 60000), {"C": 1, "S": 1}),
        (("u", 0, 60000), {"C": 2, "S": 3}),
        (("u", 60000, 120000), {"C": 1, "S": 5}),
        (("v", 60000, 120000), {"C": 1, "S": 7}),
    ]


def test_stream_table_join(make_backend: BackendFactory) -> None:
    got = run_engine(make_backend, [
        "CREATE TABLE ITEMS (ID INT PRIMARY KEY, NAME STRING) WITH (KAFKA_TOPIC='items', VALUE_FORMAT='JSON', PARTITIONS=1);",
        "CREATE STREAM ORDERS (ITEM INT KEY, QTY INT) WITH (KAFKA_TOPIC='orders', VALUE_FORMAT='JSON', PARTITIONS=1);",
        "CREATE STREAM ENRICHED AS SELECT O.ITEM, I.NAME, O.QTY FROM ORDERS O LEFT JOIN ITEMS I ON O.ITEM = I.ID;",
        "INSERT INTO ITEMS (ID, NAME, ROWTIME) VALUES (1, 'apple', 10);",
        "INSERT INTO ITEMS (ID, NAME, ROWTIME) VALUES (2, 'pear', 11);",
        "INSERT INTO ORDERS (ITEM, QTY, ROWTIME) VALUES (1, 5, 20);",
        "INSERT INTO ORDERS (ITEM, QTY, ROWTIME) VALUES (3, 1, 21);",
        "INSERT INTO ITEMS (ID, NAME, ROWTIME) VALUES (1, 'green apple', 30);",
        "INSERT INTO ORDERS (ITEM, QTY, ROWTIME) VALUES (1, 2, 40);",
    ])
    assert got["ENRICHED"] == [
        (1, {"NAME": "apple", "QTY": 5}, 20),
        (3, {"NAME": None, "QTY": 1}, 21),
        (1, {"NAME": "green apple", "QTY": 2}, 40),
    ]
