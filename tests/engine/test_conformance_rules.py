"""Engine behaviours found by the conformance work: parse positions count across the whole
script, a record processing cannot finish stops the query with a StreamsException, and a null
multi-column key stays null through a pass-through query."""

from __future__ import annotations

import asyncio

import pytest

from ksql.engine.config import Config
from ksql.engine.engine import KsqlEngine
from ksql.errors import ParseFailedException, StreamsException
from ksql.topics.base import Record
from ksql.topics.embedded import EmbeddedLog

CONFIG = {"ksql.streams.auto.offset.reset": "earliest", "ksql.streams.cache.max.bytes.buffering": 0}


def _engine() -> KsqlEngine:
    return KsqlEngine(EmbeddedLog(None), Config(CONFIG), persist_commands=False)


def test_parse_error_positions_count_from_the_start_of_the_script() -> None:
    async def scenario() -> None:
        engine = _engine()
        with pytest.raises(ParseFailedException) as info:
            await engine.execute(
                "CREATE STREAM S (ID INT KEY, V INT) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', PARTITIONS=1);\n"
                "CREATE STREAM T AS SELECT ID, CAST(V AS NULL) FROM S;"
            )
        assert info.value.unlogged_message.startswith("line 2:41: Syntax Error\nSyntax error at or near 'NULL'")
        assert info.value.message == "line 2:41: Syntax Error\n"  # details stay out of responses

    asyncio.run(scenario())


def test_an_aggregate_overflow_stops_the_query() -> None:
    async def scenario() -> None:
        engine = _engine()
        await engine.execute(
            "CREATE STREAM S (ID INT KEY, V DECIMAL(2, 1)) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', PARTITIONS=1);"
            "CREATE TABLE T AS SELECT ID, SUM(V) AS TOTAL FROM S GROUP BY ID;"
        )
        await engine.backend.produce("s", [Record(b"\x00\x00\x00\x01", b'{"V": 9.5}', 1),
                                           Record(b"\x00\x00\x00\x01", b'{"V": 9.5}', 2)])
        with pytest.raises(StreamsException, match="Exception caught in process") as info:
            await engine.run_until_idle()
        assert "Numeric field overflow" in str(info.value.__cause__)

    asyncio.run(scenario())


def test_a_null_multi_column_key_stays_null() -> None:
    async def scenario() -> None:
        engine = _engine()
        await engine.execute(
            "CREATE STREAM S (K1 INT KEY, K2 INT KEY, V INT) WITH (KAFKA_TOPIC='s', FORMAT='JSON', PARTITIONS=1);"
            "CREATE STREAM T AS SELECT * FROM S;"
        )
        await engine.backend.produce("s", [Record(None, b'{"V": 1}', 1),
                                           Record(b'{"K1": null, "K2": null}', b'{"V": 2}', 2)])
        await engine.run_until_idle()
        out = await engine.backend.read("T", 0, 0)
        assert [r.key for r in out] == [None, b'{"K1":null,"K2":null}']

    asyncio.run(scenario())
