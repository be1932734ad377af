"""DEBEZIUM format: Debezium change events become rows, deletes retract, streams see the envelope."""

from __future__ import annotations

import asyncio
import base64
from decimal import Decimal
from typing import Any

import orjson
import pytest

from ksql.engine.config import Config
from ksql.engine.engine import KsqlEngine
from ksql.errors import SerializationError
from ksql.formats import get_format
from ksql.sqltypes import BaseType, SqlType, decimal
from ksql.topics.base import Record
from ksql.topics.embedded import EmbeddedLog


def _event(op: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> bytes:
    return orjson.dumps({
        "before": before, "after": after, "op": op, "ts_ms": 1,
        "source": {"connector": "postgresql", "schema": "public", "table": "player_scores"},
    })


@pytest.fixture
def value_serde() -> Any:
    cols = [("ID", SqlType(BaseType.INTEGER)), ("SCORE", decimal(10, 2)),
            ("PLAYER_ID", SqlType(BaseType.INTEGER))]
    return get_format("DEBEZIUM").serde(cols, is_key=False, topic="pg.public.player_scores")


def test_envelope_ops_map_to_rows_and_deletes(value_serde: Any) -> None:
    row = {"id": 1, "score": 12.5, "player_id": 7}
    assert value_serde.deserialize(_event("c", None, row)) == [1, Decimal("12.50"), 7]
    assert value_serde.deserialize(_event("r", None, row)) == [1, Decimal("12.50"), 7]
    assert value_serde.deserialize(_event("u", None, {**row, "score": 3})) == [1, Decimal("3.00"), 7]
    assert value_serde.deserialize(_event("d", row, None)) is None
    assert value_serde.deserialize(None) is None


def test_flattened_records_and_rewrite_deletes(value_serde: Any) -> None:
    assert value_serde.deserialize(b'{"id":1,"score":"4.25","player_id":2,"__deleted":"false"}') == [
        1, Decimal("4.25"), 2]
    assert value_serde.deserialize(b'{"id":1,"score":null,"player_id":null,"__deleted":"true"}') is None


def test_schema_payload_wrapping_and_precise_decimals(value_serde: Any) -> None:
    unscaled = (1250).to_bytes(2, "big", signed=True)
    payload = {"before": None, "after": {"id": 1, "score": base64.b64encode(unscaled).decode(), "player_id": 3},
               "op": "c"}
    schema = {"type": "struct", "fields": [
        {"field": "after", "type": "struct", "fields": [
            {"field": "id", "type": "int32"},
            {"field": "score", "type": "bytes", "name": "org.apache.kafka.connect.data.Decimal",
             "parameters": {"scale": "2"}},
            {"field": "player_id", "type": "int32"}]}]}
    data = orjson.dumps({"schema": schema, "payload": payload})
    assert value_serde.deserialize(data) == [1, Decimal("12.50"), 3]
    # without a schema, base64 bytes are scaled by the declared scale
    assert value_serde.deserialize(_event("c", None, {"id": 1, "score": "BOI=", "player_id": 3})) == [
        1, Decimal("12.50"), 3]


def test_keys_are_objects_of_the_primary_key_columns() -> None:
    key = get_format("DEBEZIUM").serde([("ID", SqlType(BaseType.INTEGER))], is_key=True, topic="t")
    assert key.deserialize(b'{"id":42}') == [42]
    assert key.deserialize(b'{"schema":{"type":"struct"},"payload":{"id":42}}') == [42]
    assert key.deserialize(b"42") == [42]
    with pytest.raises(SerializationError, match="Failed to deserialize key from topic: t"):
        key.deserialize(b'{"id":"x"}')


def _run(statements: list[str], records: list[tuple[dict[str, Any] | None, bytes | None]],
         sink: str) -> list[tuple[bytes | None, Any]]:
    """Run statements over records in topic 'pg.public.player_scores'; the sink's records in order."""

    async def scenario() -> list[tuple[bytes | None, Any]]:
        engine = KsqlEngine(EmbeddedLog(None), Config({"ksql.streams.auto.offset.reset": "earliest",
                                                       "ksql.streams.cache.max.bytes.buffering": 0}))
        await engine.start()
        await engine.backend.create_topic("pg.public.player_scores", 1)
        for stmt in statements:
            await engine.execute(stmt)
        await engine.backend.produce("pg.public.player_scores", [
            Record(None if k is None else orjson.dumps(k), v, 1000 + i) for i, (k, v) in enumerate(records)])
        await engine.run_until_idle()
        out = [(r.key, None if r.value is None else orjson.loads(r.value))
               for r in await engine.backend.read(sink, 0, 0, 100_000)]
        await engine.close()
        return out

    return asyncio.run(scenario())


def test_table_over_debezium_topic_retracts_updates_and_deletes() -> None:
    rows = [
        ({"id": 1}, _event("r", None, {"id": 1, "score": 10, "player_id": 1})),
        ({"id": 2}, _event("c", None, {"id": 2, "score": 5, "player_id": 1})),
        ({"id": 3}, _event("c", None, {"id": 3, "score": 7, "player_id": 2})),
        ({"id": 1}, _event("u", {"id": 1}, {"id": 1, "score": 4, "player_id": 1})),  # 10 -> 4
        ({"id": 2}, _event("d", {"id": 2}, None)),  # delete 5
        ({"id": 2}, None),  # Debezium's tombstone after the delete
        ({"id": 3}, _event("d", {"id": 3}, None)),
    ]
    latest = dict(_run([
        "CREATE TABLE SCORES (ID INT PRIMARY KEY, SCORE DECIMAL(10,2), PLAYER_ID INT) "
        "WITH (KAFKA_TOPIC='pg.public.player_scores', VALUE_FORMAT='DEBEZIUM');",
        "CREATE TABLE TOTALS AS SELECT PLAYER_ID, SUM(SCORE) AS TOTAL, COUNT(*) AS N FROM SCORES "
        "GROUP BY PLAYER_ID EMIT CHANGES;",
    ], rows, "TOTALS"))
    assert latest[b"1"] == {"TOTAL": 4.0, "N": 1}
    assert latest[b"2"] == {"TOTAL": 0.0, "N": 0}


def test_stream_over_debezium_topic_sees_before_and_after() -> None:
    rows = [
        ({"id": 1}, _event("c", None, {"id": 1, "score": 10, "player_id": 1})),
        ({"id": 1}, _event("u", {"id": 1, "score": 10, "player_id": 1}, {"id": 1, "score": 4, "player_id": 1})),
        ({"id": 1}, _event("d", {"id": 1, "score": 4, "player_id": 1}, None)),
        ({"id": 1}, None),
    ]
    out = _run([
        "CREATE STREAM CHANGES (ID INT KEY, BEFORE STRUCT<SCORE DOUBLE>, AFTER STRUCT<SCORE DOUBLE>, OP STRING) "
        "WITH (KAFKA_TOPIC='pg.public.player_scores', VALUE_FORMAT='DEBEZIUM');",
        "CREATE STREAM DELTAS AS SELECT ID, OP, COALESCE(AFTER->SCORE, 0.0) - COALESCE(BEFORE->SCORE, 0.0) AS D "
        "FROM CHANGES EMIT CHANGES;",
    ], rows, "DELTAS")
    # one row per change event; the tombstone passes a projection as a null value, as in ksqlDB
    assert out == [(b"1", {"OP": "c", "D": 10.0}), (b"1", {"OP": "u", "D": -6.0}),
                   (b"1", {"OP": "d", "D": -4.0}), (b"1", None)]


def test_writes_connect_json_that_it_reads_back() -> None:
    cols = [("NAME", SqlType(BaseType.STRING)), ("TOTAL", decimal(12, 2)), ("AT", SqlType(BaseType.TIMESTAMP))]
    serde = get_format("DEBEZIUM").serde(cols, is_key=False, topic="t")
    data = serde.serialize(["ann", Decimal("10.50"), 1000])
    doc = orjson.loads(data)
    assert doc["payload"] == {"NAME": "ann", "TOTAL": 10.5, "AT": 1000}
    assert [f["field"] for f in doc["schema"]["fields"]] == ["NAME", "TOTAL", "AT"]
    assert doc["schema"]["fields"][1]["name"] == "org.apache.kafka.connect.data.Decimal"
    assert serde.deserialize(data) == ["ann", Decimal("10.50"), 1000]
    assert serde.serialize(None) is None
    key = get_format("DEBEZIUM").serde([("ID", SqlType(BaseType.INTEGER))], is_key=True, topic="t")
    kdata = key.serialize([7])
    assert orjson.loads(kdata)["payload"] == {"ID": 7}
    assert key.deserialize(kdata) == [7]
