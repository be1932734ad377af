"""Joins end to end through the QTT runner on small hand-written cases: output naming, the result
key, stream-stream windows and grace, stream-table and table-table semantics, foreign-key joins
and ksqlDB's join validation errors."""

from __future__ import annotations

from typing import Any

from ksql.testing.qtt import run_case

L_STREAM = "CREATE STREAM L (ID INT KEY, A INT, X INT) WITH (kafka_topic='l', value_format='JSON');"
R_STREAM = "CREATE STREAM R (ID INT KEY, B INT, X INT) WITH (kafka_topic='r', value_format='JSON');"
L_TABLE = "CREATE TABLE LT (ID INT PRIMARY KEY, A INT, FK INT) WITH (kafka_topic='lt', value_format='JSON');"
R_TABLE = "CREATE TABLE RT (ID INT PRIMARY KEY, B INT) WITH (kafka_topic='rt', value_format='JSON');"


def _run(statements: list[str], inputs: list[dict[str, Any]], outputs: list[dict[str, Any]],
         **extra: Any) -> None:
    case = {"name": "t", "statements": statements, "inputs": inputs, "outputs": outputs, **extra}
    status, detail = run_case(case, None)
    assert status == "pass", detail


def _fails(statements: list[str], message: str) -> None:
    case = {"name": "t", "statements": statements,
            "expectedException": {"type": "io.confluent.ksql.util.KsqlStatementException", "message": message}}
    status, detail = run_case(case, None)
    assert status == "pass", detail


def _rec(topic: str, key: Any, value: Any, ts: int) -> dict[str, Any]:
    return {"topic": topic, "key": key, "value": value, "timestamp": ts}


def _schema(name: str, schema: str) -> dict[str, Any]:
    return {"post": {"sources": [{"name": name, "schema": schema}]}}


def test_only_clashing_columns_are_prefixed_and_star_prefixes_all() -> None:
    _run(
        [L_STREAM, R_STREAM,
         "CREATE STREAM O AS SELECT L.ID, A, B, L.X, R.* FROM L JOIN R WITHIN 1 SECOND ON L.ID = R.ID;"],
        [_rec("l", 1, {"A": 1, "X": 2}, 0), _rec("r", 1, {"B": 3, "X": 4}, 5)],
        [_rec("O", 1, {"A": 1, "B": 3, "L_X": 2, "R_ID": 1, "R_B": 3, "R_X": 4}, 5)],
        **_schema("O", "L_ID INT KEY, A INT, B INT, L_X INT, R_ID INT, R_B INT, R_X INT"),
    )


def test_key_is_the_first_join_column_the_projection_selects() -> None:
    _run(
        [L_STREAM, R_STREAM,
         "CREATE STREAM O AS SELECT R.ID AS RID, A, B FROM L JOIN R WITHIN 1 SECOND ON L.ID = R.ID;"],
        [_rec("l", 1, {"A": 1}, 0), _rec("r", 1, {"B": 3}, 5)],
        [_rec("O", 1, {"A": 1, "B": 3}, 5)],
        **_schema("O", "RID INT KEY, A INT, B INT"),
    )


def test_right_join_key_comes_from_the_record_even_when_the_column_is_null() -> None:
    _run(
        [L_STREAM, R_STREAM,
         "CREATE STREAM O AS SELECT L.ID, A, B FROM L RIGHT JOIN R WITHIN 1 SECOND ON L.ID = R.ID;"],
        [_rec("r", 7, {"B": 3}, 5)],
        [_rec("O", 7, {"A": None, "B": 3}, 5)],
    )


def test_full_outer_join_has_a_synthetic_key_first_in_star() -> None:
    _run(
        [L_STREAM, R_STREAM,
         "CREATE STREAM O AS SELECT * FROM L FULL OUTER JOIN R WITHIN 1 SECOND ON L.ID = R.ID;"],
        [_rec("r", 7, {"B": 3, "X": 0}, 5)],
        [_rec("O", 7, {"L_ID": None, "L_A": None, "L_X": None, "R_ID": 7, "R_B": 3, "R_X": 0}, 5)],
        **_schema("O", "ROWKEY INT KEY, L_ID INT, L_A INT, L_X INT, R_ID INT, R_B INT, R_X INT"),
    )


def test_expression_join_repartitions_and_uses_a_synthetic_key() -> None:
    _run(
        [L_STREAM, R_STREAM,
         "CREATE STREAM O AS SELECT ROWKEY AS K, A, B FROM L JOIN R WITHIN 1 SECOND ON L.A + 1 = R.B - 1;"],
        [_rec("l", 1, {"A": 4}, 0), _rec("r", 2, {"B": 6}, 10)],
        [_rec("O", 5, {"A": 4, "B": 6}, 10)],
        **_schema("O", "K INT KEY, A INT, B INT"),
    )


def test_missing_join_key_lists_the_viable_columns() -> None:
    _fails(
        [L_STREAM, R_STREAM, "CREATE STREAM O AS SELECT A, B FROM L JOIN R WITHIN 1 SECOND ON L.ID = R.ID;"],
        "The query used to build `O` must include the join expressions L.ID or R.ID in its projection "
        "(eg, SELECT L.ID...).",
    )


def test_stream_stream_window_bounds_are_asymmetric() -> None:
    _run(
        [L_STREAM, R_STREAM,
         "CREATE STREAM O AS SELECT L.ID, A, B FROM L JOIN R WITHIN (1 SECOND, 5 SECONDS) ON L.ID = R.ID;"],
        [_rec("l", 1, {"A": 1}, 10000), _rec("r", 1, {"B": 1}, 8000), _rec("r", 1, {"B": 2}, 9500),
         _rec("r", 1, {"B": 3}, 15000), _rec("r", 1, {"B": 4}, 15001)],
        [_rec("O", 1, {"A": 1, "B": 2}, 10000), _rec("O", 1, {"A": 1, "B": 3}, 15000)],
    )


def test_left_join_without_grace_emits_unmatched_rows_at_once() -> None:
    _run(
        [L_STREAM, R_STREAM,
         "CREATE STREAM O AS SELECT L.ID, A, B FROM L LEFT JOIN R WITHIN 10 SECONDS ON L.ID = R.ID;"],
        [_rec("l", 1, {"A": 1}, 0), _rec("r", 1, {"B": 2}, 5000)],
        [_rec("O", 1, {"A": 1, "B": None}, 0), _rec("O", 1, {"A": 1, "B": 2}, 5000)],
    )


def test_left_join_with_grace_holds_unmatched_rows_until_the_window_closes() -> None:
    _run(
        [L_STREAM, R_STREAM,
         "CREATE STREAM O AS SELECT L.ID, A, B FROM L LEFT JOIN R WITHIN 10 SECONDS GRACE PERIOD 0 SECONDS "
         "ON L.ID = R.ID;"],
        [_rec("l", 1, {"A": 1}, 0), _rec("l", 2, {"A": 2}, 1000), _rec("r", 2, {"B": 5}, 2000),
         _rec("r", 9, {"B": 9}, 5000), _rec("l", 3, {"A": 3}, 20000)],
        [_rec("O", 2, {"A": 2, "B": 5}, 2000), _rec("O", 1, {"A": 1, "B": None}, 0)],
    )


def test_stream_table_join_is_triggered_by_the_stream_only() -> None:
    _run(
        ["CREATE STREAM S (ID INT KEY, FK INT) WITH (kafka_topic='s', value_format='JSON');", R_TABLE,
         "CREATE STREAM O AS SELECT S.FK, B FROM S LEFT JOIN RT ON S.FK = RT.ID;"],
        [_rec("s", 1, {"FK": 10}, 0), _rec("rt", 10, {"B": 1}, 5), _rec("s", 2, {"FK": 10}, 7),
         _rec("rt", 10, None, 8), _rec("s", 3, {"FK": 10}, 9)],
        [_rec("O", 10, {"B": None}, 0), _rec("O", 10, {"B": 1}, 7), _rec("O", 10, {"B": None}, 9)],
        **_schema("O", "FK INT KEY, B INT"),
    )


def test_table_table_left_join_and_where() -> None:
    _run(
        [L_TABLE, R_TABLE,
         "CREATE TABLE O AS SELECT LT.ID, A, B FROM LT LEFT JOIN RT ON LT.ID = RT.ID WHERE A > 0;"],
        [_rec("lt", 1, {"A": 0}, 0), _rec("rt", 1, {"B": 2}, 5), _rec("lt", 1, {"A": 3}, 6),
         _rec("lt", 1, {"A": -1}, 7), _rec("rt", 1, None, 8)],
        [_rec("O", 1, {"A": 3, "B": 2}, 6), _rec("O", 1, None, 7)],
    )


def test_table_table_full_outer_join_with_deletes() -> None:
    _run(
        [L_TABLE, R_TABLE,
         "CREATE TABLE O AS SELECT ROWKEY AS K, A, B FROM LT FULL OUTER JOIN RT ON LT.ID = RT.ID;"],
        [_rec("rt", 1, {"B": 2}, 5), _rec("lt", 1, {"A": 3}, 6), _rec("rt", 1, None, 8), _rec("lt", 1, None, 9)],
        [_rec("O", 1, {"A": None, "B": 2}, 5), _rec("O", 1, {"A": 3, "B": 2}, 6),
         _rec("O", 1, {"A": 3, "B": None}, 8), _rec("O", 1, None, 9)],
    )


def test_foreign_key_join_follows_the_right_table() -> None:
    _run(
        [L_TABLE, R_TABLE, "CREATE TABLE O AS SELECT LT.ID, A, B FROM LT JOIN RT ON FK = RT.ID;"],
        [_rec("rt", 10, {"B": 1}, 0), _rec("lt", 1, {"A": 1, "FK": 10}, 5), _rec("lt", 2, {"A": 2, "FK": 10}, 6),
         _rec("rt", 10, {"B": 2}, 7), _rec("lt", 1, {"A": 1, "FK": 11}, 8)],
        [_rec("O", 1, {"A": 1, "B": 1}, 5), _rec("O", 2, {"A": 2, "B": 1}, 6),
         _rec("O", 1, {"A": 1, "B": 2}, 7), _rec("O", 2, {"A": 2, "B": 2}, 7), _rec("O", 1, None, 8)],
        **_schema("O", "LT_ID INT KEY, A INT, B INT"),
    )


def test_foreign_key_join_needs_the_left_key_in_the_projection() -> None:
    _fails(
        [L_TABLE, R_TABLE, "CREATE TABLE O AS SELECT A, B FROM LT JOIN RT ON FK = RT.ID;"],
        "Primary key column missing in projection. For foreign-key table-table joins, the projection must "
        "include all primary key columns from the left input table (`LT`). Missing column: `ID`.",
    )


def test_n_way_join_rekeys_an_earlier_result_on_another_column() -> None:
    _run(
        [L_STREAM, R_STREAM, R_TABLE,
         "CREATE STREAM O AS SELECT L.X, A, R.B, RT.B AS TB FROM L JOIN R WITHIN 1 SECOND ON L.ID = R.ID "
         "JOIN RT ON L.X = RT.ID;"],
        [_rec("rt", 9, {"B": 100}, 0), _rec("l", 1, {"A": 1, "X": 9}, 1), _rec("r", 1, {"B": 2, "X": 0}, 2)],
        [_rec("O", 9, {"A": 1, "R_B": 2, "TB": 100}, 2)],
        **_schema("O", "L_X INT KEY, A INT, R_B INT, TB INT"),
    )


def test_join_validation_messages() -> None:
    _fails([L_TABLE, "CREATE STREAM S (ID INT KEY, V INT) WITH (kafka_topic='s', value_format='JSON');",
            "CREATE TABLE O AS SELECT * FROM LT JOIN S ON LT.ID = S.ID;"],
           "Invalid join order: table-stream joins are not supported; only stream-table joins. "
           "Got LT [INNER] JOIN S.")
    _fails([L_TABLE, R_TABLE, "CREATE TABLE O AS SELECT * FROM LT JOIN RT ON RT.B = LT.ID;"],
           "Invalid join condition: table-table joins require to join on the primary key of the right input "
           "table. Got RT.B = LT.ID.")
    _fails([L_STREAM, R_STREAM, "CREATE STREAM O AS SELECT * FROM L JOIN R ON L.ID = R.ID;"],
           "Stream-Stream joins must have a WITHIN clause specified.")
    _fails([L_STREAM, R_STREAM, "CREATE STREAM O AS SELECT * FROM L JOIN R WITHIN 1 SECOND ON L.ID > R.ID;"],
           "Only equality join criteria is supported.")
    _fails([L_STREAM, "CREATE STREAM O AS SELECT * FROM L A JOIN L B WITHIN 1 SECOND ON A.ID = B.ID;"],
           "Can not join 'L' to 'L': self joins are not yet supported.")


def test_where_over_a_foreign_key_join_retracts_rows_that_stop_matching() -> None:
    _run(
        [L_TABLE, R_TABLE, "CREATE TABLE O AS SELECT LT.ID, A, B FROM LT JOIN RT ON FK = RT.ID WHERE B > 1;"],
        [_rec("rt", 10, {"B": 1}, 0), _rec("lt", 1, {"A": 1, "FK": 10}, 5), _rec("rt", 10, {"B": 2}, 6),
         _rec("rt", 10, {"B": 0}, 7)],
        [_rec("O", 1, {"A": 1, "B": 2}, 6), _rec("O", 1, None, 7)],
    )


def test_join_state_survives_a_restart(tmp_path: Any) -> None:
    import asyncio

    import orjson

    from ksql.engine.config import Config
    from ksql.engine.engine import KsqlEngine
    from ksql.topics.embedded import EmbeddedLog
    from state.manager import StateManager

    config = Config({"ksql.streams.auto.offset.reset": "earliest", "ksql.streams.cache.max.bytes.buffering": 0})

    async def open_engine() -> KsqlEngine:
        engine = KsqlEngine(EmbeddedLog(tmp_path / "log"), config, state=StateManager("memory", None))
        await engine.start()
        return engine

    async def scenario() -> None:
        engine = await open_engine()
        await engine.execute(
            "CREATE STREAM L (ID INT KEY, A INT) WITH (KAFKA_TOPIC='l', VALUE_FORMAT='JSON', PARTITIONS=1);"
            "CREATE STREAM R (ID INT KEY, B INT) WITH (KAFKA_TOPIC='r', VALUE_FORMAT='JSON', PARTITIONS=1);"
            "CREATE STREAM O AS SELECT L.ID, A, B FROM L JOIN R WITHIN 1 HOUR ON L.ID = R.ID;"
            "INSERT INTO L (ID, A) VALUES (1, 10);"
        )
        await engine.run_until_idle()
        await engine.close()
        engine = await open_engine()
        await engine.execute("INSERT INTO R (ID, B) VALUES (1, 20);")
        await engine.run_until_idle()
        out = await engine.backend.read("O", 0, 0, 100)
        assert [orjson.loads(r.value) for r in out] == [{"A": 10, "B": 20}]
        await engine.close()

    asyncio.run(scenario())
