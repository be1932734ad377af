"""GROUP BY, windows, HAVING, PARTITION BY, table functions and projection naming, run end to end
through the QTT runner on small hand-written cases."""

from __future__ import annotations

from typing import Any

import pytest

from ksql.testing.qtt import run_case

STREAM = "CREATE STREAM S (K STRING KEY, V INT, N STRING) WITH (kafka_topic='s', value_format='JSON');"


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


def _rec(key: Any, value: Any, ts: int, topic: str = "s", **kw: Any) -> dict[str, Any]:
    return {"topic": topic, "key": key, "value": value, "timestamp": ts, **kw}


def test_having_emits_a_tombstone_only_when_a_group_leaves_the_result() -> None:
    _run(
        [STREAM, "CREATE TABLE T AS SELECT N, SUM(V) AS TOTAL FROM S GROUP BY N HAVING SUM(V) > 10;"],
        [_rec("a", {"V": 5, "N": "x"}, 1), _rec("a", {"V": 7, "N": "x"}, 2),
         _rec("a", {"V": -9, "N": "x"}, 3), _rec("a", {"V": -1, "N": "x"}, 4)],
        [_rec("x", {"TOTAL": 12}, 2, topic="T"), _rec("x", None, 3, topic="T")],
    )


def test_aggregate_timestamp_is_the_largest_record_timestamp() -> None:
    _run(
        [STREAM, "CREATE TABLE T AS SELECT N, COUNT(*) AS C FROM S GROUP BY N;"],
        [_rec("a", {"V": 1, "N": "x"}, 50), _rec("a", {"V": 1, "N": "x"}, 20)],
        [_rec("x", {"C": 1}, 50, topic="T"), _rec("x", {"C": 2}, 50, topic="T")],
    )


def test_emit_final_emits_each_tumbling_window_once_after_its_grace() -> None:
    window = {"start": 0, "end": 10, "type": "time"}
    _run(
        [STREAM, "CREATE TABLE T AS SELECT K, COUNT(*) AS C FROM S "
                 "WINDOW TUMBLING (SIZE 10 MILLISECONDS, GRACE PERIOD 5 MILLISECONDS) GROUP BY K EMIT FINAL;"],
        [_rec("a", {"V": 1}, 1), _rec("a", {"V": 1}, 12), _rec("a", {"V": 1}, 3),
         _rec("a", {"V": 1}, 15), _rec("a", {"V": 1}, 4)],
        [_rec("a", {"C": 2}, 3, topic="T", window=window)],
    )


def test_session_windows_merge_and_expired_sessions_are_not_merged() -> None:
    def w(s: int, e: int) -> dict[str, Any]:
        return {"start": s, "end": e, "type": "session"}

    _run(
        [STREAM, "CREATE TABLE T AS SELECT K, COUNT(*) AS C FROM S "
                 "WINDOW SESSION (10 MILLISECONDS, GRACE PERIOD 0 MILLISECONDS) GROUP BY K;"],
        [_rec("a", {"V": 1}, 0), _rec("a", {"V": 1}, 5), _rec("a", {"V": 1}, 100), _rec("a", {"V": 1}, 14)],
        [_rec("a", {"C": 1}, 0, topic="T", window=w(0, 0)),
         _rec("a", None, 0, topic="T", window=w(0, 0)),
         _rec("a", {"C": 2}, 5, topic="T", window=w(0, 5)),
         _rec("a", {"C": 1}, 100, topic="T", window=w(100, 100))],
    )


def test_table_aggregation_undoes_the_previous_row() -> None:
    table = "CREATE TABLE TB (K STRING PRIMARY KEY, V INT, N STRING) WITH (kafka_topic='tb', value_format='JSON');"
    _run(
        [table, "CREATE TABLE T AS SELECT N, SUM(V) AS TOTAL FROM TB GROUP BY N;"],
        [_rec("a", {"V": 3, "N": "x"}, 1, topic="tb"), _rec("b", {"V": 4, "N": "x"}, 2, topic="tb"),
         _rec("a", {"V": 10, "N": "y"}, 3, topic="tb")],
        [_rec("x", {"TOTAL": 3}, 1, topic="T"), _rec("x", {"TOTAL": 7}, 2, topic="T"),
         _rec("x", {"TOTAL": 4}, 3, topic="T"), _rec("y", {"TOTAL": 10}, 3, topic="T")],
    )


def test_literal_group_by_and_init_args() -> None:
    _run(
        [STREAM, "CREATE TABLE T AS SELECT 7 AS G, LATEST_BY_OFFSET(V, 2) AS LAST2, TOPK(V, 1) AS TOP "
                 "FROM S GROUP BY 7;"],
        [_rec("a", {"V": 1}, 1), _rec("b", {"V": 9}, 2), _rec("c", {"V": 4}, 3)],
        [_rec(7, {"LAST2": [1], "TOP": [1]}, 1, topic="T"), _rec(7, {"LAST2": [1, 9], "TOP": [9]}, 2, topic="T"),
         _rec(7, {"LAST2": [9, 4], "TOP": [9]}, 3, topic="T")],
    )


def test_table_functions_are_named_in_select_order_and_zipped() -> None:
    arrays = ("CREATE STREAM A (K STRING KEY, X ARRAY<INT>, Y ARRAY<STRING>) "
              "WITH (kafka_topic='a', value_format='JSON');")
    _run(
        [arrays, "CREATE STREAM O AS SELECT K, ABS(1), EXPLODE(X), EXPLODE(Y) FROM A;"],
        [_rec("k", {"X": [1, 2], "Y": ["p"]}, 1, topic="a")],
        [_rec("k", {"KSQL_COL_0": 1, "KSQL_COL_1": 1, "KSQL_COL_2": "p"}, 1, topic="O"),
         _rec("k", {"KSQL_COL_0": 1, "KSQL_COL_1": 2, "KSQL_COL_2": None}, 1, topic="O")],
    )


def test_partition_by_select_star_puts_the_new_key_first_and_the_old_key_last() -> None:
    _run(
        [STREAM, "CREATE STREAM O AS SELECT * FROM S PARTITION BY N;"],
        [_rec("a", {"V": 1, "N": "x"}, 1)],
        [_rec("x", {"V": 1, "K": "a"}, 1, topic="O")],
        post={"sources": [{"name": "O", "type": "stream", "schema": "N STRING KEY, V INT, K STRING"}]},
    )


def test_struct_field_names_avoid_clashes() -> None:
    structs = "CREATE STREAM ST (K STRING KEY, A STRUCT<V INT>, V INT) WITH (kafka_topic='st', value_format='JSON');"
    _run(
        [structs, "CREATE STREAM O AS SELECT K, A->V, A->* FROM ST;"],
        [_rec("k", {"A": {"V": 3}, "V": 4}, 1, topic="st")],
        [_rec("k", {"V_1": 3, "V": 3}, 1, topic="O")],
    )


@pytest.mark.parametrize("sql, message", [
    ("CREATE TABLE T AS SELECT N, V + 1, COUNT(*) FROM S GROUP BY N;",
     "Non-aggregate SELECT expression(s) not part of GROUP BY: (V + 1)"),
    ("CREATE TABLE T AS SELECT N, MISSING FROM S GROUP BY N;", "SELECT column 'MISSING' cannot be resolved."),
    ("CREATE STREAM T AS SELECT * FROM S WHERE NOPE > 1;", "WHERE column 'NOPE' cannot be resolved."),
    ("CREATE TABLE T AS SELECT N, COUNT(*) FROM S GROUP BY N HAVING MISSING_FN(N) = 1;",
     "Can't find any functions with the name 'MISSING_FN'"),
    ("CREATE TABLE T AS SELECT N, COUNT(*) FROM S WINDOW TUMBLING (SIZE 1 SECOND) GROUP BY N, WINDOWEND;",
     "Window bounds column WINDOWEND can only be used in the SELECT clause of windowed aggregations"),
    ("CREATE TABLE T AS SELECT N, TOPK(V, V) FROM S GROUP BY N;",
     "Parameter 2 passed to function TOPK must be a literal constant, but was expression: 'V'"),
    ("CREATE TABLE T AS SELECT N, SUM(V) FROM S GROUP BY N HAVING SUM(V) > 'x';",
     "Error in HAVING expression: Cannot compare SUM(V) (INTEGER) to 'x' (STRING)"),
    ("CREATE TABLE T AS SELECT COUNT(*) FROM S;",
     "CREATE TABLE AS SELECT statement does not support aggregate function [COUNT(ROWTIME)] without a GROUP BY"),
    ("CREATE TABLE T AS SELECT N, EXPLODE(ARRAY[V]), COUNT(*) FROM S GROUP BY N;",
     "Table functions cannot be used with aggregations."),
    ("CREATE STREAM T AS SELECT K, ROWOFFSET FROM S;",
     "Reserved column name in select: `ROWOFFSET`. Please remove or alias the column."),
])
def test_validation_errors(sql: str, message: str) -> None:
    _fails([STREAM, sql], message)


def test_complex_intermediate_state_is_refused_under_delimited() -> None:
    _fails(
        ["CREATE STREAM D (K STRING KEY, V INT) WITH (kafka_topic='d', value_format='DELIMITED');",
         "CREATE TABLE T AS SELECT K, COLLECT_LIST(V) AS L FROM D GROUP BY K;"],
        "One of the functions used in the statement has an intermediate type that the value format can not handle.",
    )
