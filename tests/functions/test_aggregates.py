"""Built-in aggregate functions: resolution, add/undo/merge/result, expected values from ksqlDB's QTT."""

from __future__ import annotations

import math
import pickle
from decimal import Decimal
from typing import Any

import pytest

import ksql.functions.aggregates  # noqa: F401  (registers the built-ins)
from ksql.errors import KsqlException, KsqlFunctionException
from ksql.functions.aggregate_base import freeze, has_complex_intermediate, java_div, stable_hash64
from ksql.functions.registry import AGGREGATE_FUNCTIONS, Udaf, match_overload, resolve_return
from ksql.sqltypes import (
    BIGINT,
    BOOLEAN,
    BYTES,
    DATE,
    DOUBLE,
    INTEGER,
    STRING,
    TIME,
    TIMESTAMP,
    SqlType,
    array,
    decimal,
    map_of,
    struct,
)

# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def make(name: str, arg_types: list[SqlType], init: list[Any] | None = None) -> tuple[Udaf, SqlType]:
    """Resolve like the planner: init params must match the literals' types; cheapest column match."""
    init = init or []
    init_types = [BOOLEAN if isinstance(v, bool) else INTEGER for v in init]
    best = None
    for ov in AGGREGATE_FUNCTIONS[name].overloads:
        if ov.init_params != init_types:
            continue
        m = match_overload(ov.params, ov.variadic, arg_types)
        if m is not None and (best is None or m[0] < best[0]):
            best = (m[0], ov, m[1])
    if best is None:
        raise KsqlException(f"no overload of {name} for {arg_types}")
    _, ov, env = best
    return ov.factory(arg_types, init), resolve_return(ov.returns, env, arg_types)


def stream(udaf: Udaf, rows: list[tuple[Any, ...]]) -> list[Any]:
    """Aggregate ``(group, *args)`` rows; the result after each row, like a stream aggregation."""
    states: dict[Any, Any] = {}
    out = []
    for group, *args in rows:
        state = states[group] if group in states else udaf.initial()
        state = udaf.add(state, *args)
        # The state goes through a store: make sure it survives pickling.
        states[group] = pickle.loads(pickle.dumps(state))
        out.append(udaf.result(states[group]))
    return out


def values(udaf: Udaf, rows: list[Any]) -> list[Any]:
    return stream(udaf, [(0, v) for v in rows])


def fold(udaf: Udaf, rows: list[Any]) -> Any:
    state = udaf.initial()
    for v in rows:
        state = udaf.add(state, v)
    return state


def table_update(udaf: Udaf, state: Any, old: Any, new: Any) -> Any:
    """A table row changing from ``old`` to ``new`` within the same group: undo then add."""
    return udaf.add(udaf.undo(state, old), new)


# --------------------------------------------------------------------------------------------
# registry coverage
# --------------------------------------------------------------------------------------------


EXPECTED_FUNCTIONS = {
    "ATTR", "AVG", "COLLECT_LIST", "COLLECT_SET", "CORRELATION", "COUNT", "COUNT_DISTINCT",
    "EARLIEST_BY_OFFSET", "HISTOGRAM", "LATEST_BY_OFFSET", "MAX", "MIN", "STDDEV_SAMP",
    "STDDEV_SAMPLE", "SUM", "SUM_LIST", "TOPK", "TOPKDISTINCT",
}


def test_all_builtins_registered() -> None:
    assert EXPECTED_FUNCTIONS <= set(AGGREGATE_FUNCTIONS)
    for name in EXPECTED_FUNCTIONS:
        assert AGGREGATE_FUNCTIONS[name].category == "AGGREGATE"


@pytest.mark.parametrize(
    ("name", "args", "init", "returns"),
    [
        ("COUNT", [], [], BIGINT),
        ("COUNT", [STRING], [], BIGINT),
        ("SUM", [INTEGER], [], INTEGER),
        ("SUM", [BIGINT], [], BIGINT),
        ("SUM", [DOUBLE], [], DOUBLE),
        ("SUM", [decimal(4, 1)], [], decimal(4, 1)),
        ("SUM_LIST", [array(INTEGER)], [], INTEGER),
        ("SUM_LIST", [array(DOUBLE)], [], DOUBLE),
        ("AVG", [INTEGER], [], DOUBLE),
        ("MAX", [decimal(4, 2)], [], decimal(4, 2)),
        ("MIN", [TIME], [], TIME),
        ("MIN", [BYTES], [], BYTES),
        ("MAX", [TIMESTAMP], [], TIMESTAMP),
        ("COLLECT_LIST", [map_of(STRING, INTEGER)], [], array(map_of(STRING, INTEGER))),
        ("COLLECT_SET", [STRING], [], array(STRING)),
        ("COUNT_DISTINCT", [STRING], [], BIGINT),
        ("HISTOGRAM", [STRING], [], map_of(STRING, BIGINT)),
        ("TOPK", [INTEGER], [3], array(INTEGER)),
        ("TOPK", [BIGINT, STRING], [3],
         array(struct([("sort_col", BIGINT), ("col0", STRING)]))),
        ("TOPKDISTINCT", [decimal(2, 1)], [3], array(decimal(2, 1))),
        ("EARLIEST_BY_OFFSET", [INTEGER], [], INTEGER),
        ("EARLIEST_BY_OFFSET", [INTEGER], [True], INTEGER),
        ("EARLIEST_BY_OFFSET", [INTEGER], [2], array(INTEGER)),
        ("LATEST_BY_OFFSET", [decimal(3, 2)], [2, False], array(decimal(3, 2))),
        ("STDDEV_SAMP", [INTEGER], [], DOUBLE),
        ("STDDEV_SAMPLE", [DOUBLE], [], DOUBLE),
        ("CORRELATION", [BIGINT, DOUBLE], [], DOUBLE),
        ("ATTR", [array(INTEGER)], [], array(INTEGER)),
    ],
)
def test_resolution_and_return_types(name: str, args: list[SqlType], init: list[Any], returns: SqlType) -> None:
    _, rt = make(name, args, init)
    assert rt == returns


@pytest.mark.parametrize(("name", "args"), [("MAX", [BOOLEAN]), ("SUM", [STRING]), ("HISTOGRAM", [INTEGER]),
                                            ("AVG", [STRING]), ("TOPK", [array(INTEGER)])])
def test_unsupported_argument_types(name: str, args: list[SqlType]) -> None:
    init = [3] if name == "TOPK" else []
    with pytest.raises(KsqlException):
        make(name, args, init)


@pytest.mark.parametrize(
    ("name", "args", "init", "undo"),
    [
        ("COUNT", [], [], True), ("SUM", [INTEGER], [], True), ("SUM_LIST", [array(BIGINT)], [], True),
        ("AVG", [INTEGER], [], True), ("MAX", [INTEGER], [], False), ("MIN", [STRING], [], False),
        ("COLLECT_LIST", [INTEGER], [], True), ("COLLECT_SET", [INTEGER], [], False),
        ("COUNT_DISTINCT", [INTEGER], [], False), ("HISTOGRAM", [STRING], [], True),
        ("TOPK", [INTEGER], [2], False), ("TOPKDISTINCT", [INTEGER], [2], False),
        ("EARLIEST_BY_OFFSET", [INTEGER], [], False), ("LATEST_BY_OFFSET", [INTEGER], [2], False),
        ("STDDEV_SAMP", [DOUBLE], [], True), ("CORRELATION", [DOUBLE, DOUBLE], [], True),
        ("ATTR", [STRING], [], True),
    ],
)
def test_supports_undo_matches_ksqldb(name: str, args: list[SqlType], init: list[Any], undo: bool) -> None:
    udaf, _ = make(name, args, init)
    assert udaf.supports_undo is undo


@pytest.mark.parametrize(
    ("name", "args", "init", "complex_"),
    [
        ("AVG", [INTEGER], [], True), ("TOPK", [INTEGER], [3], True), ("TOPK", [INTEGER, STRING], [3], True),
        ("STDDEV_SAMPLE", [INTEGER], [], True), ("STDDEV_SAMP", [INTEGER], [], True),
        ("CORRELATION", [DOUBLE, DOUBLE], [], True), ("COUNT", [], [], False), ("SUM", [INTEGER], [], False),
        ("MAX", [INTEGER], [], False), ("MIN", [DOUBLE], [], False),
    ],
)
def test_intermediate_types_for_delimited_check(
    name: str, args: list[SqlType], init: list[Any], complex_: bool
) -> None:
    udaf, _ = make(name, args, init)
    assert has_complex_intermediate(udaf) is complex_


# --------------------------------------------------------------------------------------------
# COUNT
# --------------------------------------------------------------------------------------------


def test_count_star_counts_rows_and_count_col_skips_nulls() -> None:
    star, _ = make("COUNT", [])
    assert stream(star, [(0,), (0,), (100,)]) == [1, 2, 1]
    col, _ = make("COUNT", [STRING])
    assert values(col, ["a", None, "b"]) == [1, 1, 2]


def test_count_back_to_zero_over_table() -> None:
    udaf, _ = make("COUNT", [])
    state = udaf.add(udaf.add(udaf.initial()))
    assert udaf.result(state) == 2
    state = udaf.undo(udaf.undo(state))
    assert udaf.result(state) == 0
    col, _ = make("COUNT", [INTEGER])
    assert col.undo(col.add(col.initial(), 1), None) == 1
    assert col.merge(3, 4) == 7


# --------------------------------------------------------------------------------------------
# SUM, SUM_LIST, AVG
# --------------------------------------------------------------------------------------------


def test_sum_integral_and_double() -> None:
    udaf, _ = make("SUM", [INTEGER])
    assert stream(udaf, [(0, 0), (0, 100), (100, 500), (100, 100)]) == [0, 100, 500, 600]
    udaf, _ = make("SUM", [BIGINT])
    assert values(udaf, [2147483648, 100, None]) == [2147483648, 2147483748, 2147483748]
    udaf, _ = make("SUM", [DOUBLE])
    assert values(udaf, [10.0] * 3) == [10.0, 20.0, 30.0]


def test_sum_int_wraps_like_java() -> None:
    udaf, _ = make("SUM", [INTEGER])
    assert values(udaf, [2**31 - 1, 1]) == [2**31 - 1, -(2**31)]


def test_sum_undo_and_merge() -> None:
    udaf, _ = make("SUM", [INTEGER])
    state = fold(udaf, [5, 20])
    state = table_update(udaf, state, 20, None)
    assert udaf.result(state) == 5
    assert udaf.merge(fold(udaf, [1, 2]), fold(udaf, [3])) == 6


def test_sum_decimal_keeps_type_and_overflows() -> None:
    t = decimal(4, 1)
    udaf, _ = make("SUM", [t])
    assert udaf.result(udaf.initial()) == Decimal("0.0")
    got = values(udaf, [Decimal("5.4"), Decimal("100.1")])
    assert got == [Decimal("5.4"), Decimal("105.5")]
    assert str(got[1]) == "105.5"
    state = fold(udaf, [Decimal("500.9"), Decimal("300.8")])
    assert state == Decimal("801.7")
    with pytest.raises(KsqlFunctionException, match="Numeric field overflow"):
        udaf.add(state, Decimal("400.8"))
    wider, _ = make("SUM", [decimal(6, 2)])
    assert str(fold(wider, [Decimal("500.90"), Decimal("300.80"), Decimal("400.80")])) == "1202.50"
    assert udaf.undo(state, Decimal("300.8")) == Decimal("500.9")


def test_sum_list() -> None:
    udaf, _ = make("SUM_LIST", [array(INTEGER)])
    assert values(udaf, [[1, 1], [2, 2], [100, 100], [100, 100, None], None]) == [2, 6, 206, 406, 406]
    dbl, _ = make("SUM_LIST", [array(DOUBLE)])
    assert values(dbl, [[1.0, 1.0], [2.0, 2.0], [922337203685.0, 1.0]]) == [2.0, 6.0, 922337203692.0]
    assert udaf.undo(406, [100, None]) == 306
    assert udaf.merge(1, 2) == 3


def test_avg_matches_ksqldb() -> None:
    udaf, _ = make("AVG", [INTEGER])
    rows = [("alice", 1), ("bob", 2), ("alice", 2), ("alice", 2), ("bob", 2), ("bob", 0), ("alice", None)]
    assert stream(udaf, rows) == [1.0, 2.0, 1.5, 1.6666666666666667, 2.0, 1.3333333333333333,
                                  1.6666666666666667]
    udaf, _ = make("AVG", [BIGINT])
    rows = [("alice", -1), ("bob", 2), ("alice", 9223372036854775807), ("alice", 1), ("bob", -2),
            ("bob", 0), ("alice", None)]
    assert stream(udaf, rows) == [-1.0, 2.0, 4.611686018427388e18, 3.0744573456182584e18, 0.0, 0.0,
                                  3.0744573456182584e18]
    udaf, _ = make("AVG", [DOUBLE])
    rows = [("alice", -1.8), ("bob", 2.3), ("alice", 9223372036854.775), ("alice", 100.2),
            ("bob", -200000.6), ("bob", 0.0), ("alice", None)]
    assert stream(udaf, rows) == [-1.8, 2.3, 4611686018426.487, 3074457345651.058, -99999.15000000001,
                                  -66666.1, 3074457345651.058]


def test_avg_over_table_and_empty() -> None:
    udaf, _ = make("AVG", [INTEGER])
    assert udaf.result(udaf.initial()) == 0.0
    state = fold(udaf, [1, 2])
    assert udaf.result(state) == 1.5
    state = table_update(udaf, state, 1, None)  # alice: 1 -> null
    assert udaf.result(state) == 2.0
    state = table_update(udaf, state, None, 4)  # alice: null -> 4
    assert udaf.result(state) == 3.0
    assert udaf.result(udaf.merge(fold(udaf, [1]), fold(udaf, [2, 3]))) == 2.0


# --------------------------------------------------------------------------------------------
# MIN, MAX
# --------------------------------------------------------------------------------------------


def test_max_ignores_nulls_and_is_null_until_a_value() -> None:
    udaf, _ = make("MAX", [INTEGER])
    assert values(udaf, [None, -2147483647, 5, None, 2000, 100]) == [None, -2147483647, 5, 5, 2000, 2000]
    udaf, _ = make("MAX", [STRING])
    assert values(udaf, [None, "B", "A", None]) == [None, "B", "B", "B"]
    udaf, _ = make("MAX", [decimal(4, 2)])
    got = values(udaf, [Decimal("-10.12"), Decimal("0.00"), Decimal("5.10")])
    assert got == [Decimal("-10.12"), Decimal("0.00"), Decimal("5.10")]


def test_min_various_types() -> None:
    udaf, _ = make("MIN", [DOUBLE])
    assert values(udaf, [None, 1.7976931348623157e308, 5.1, None, -1.7976931348623157e308]) == [
        None, 1.7976931348623157e308, 5.1, 5.1, -1.7976931348623157e308]
    udaf, _ = make("MIN", [BYTES])
    assert values(udaf, [b"B", b"A", None, b"F"]) == [b"B", b"A", b"A", b"A"]
    udaf, _ = make("MIN", [DATE])
    assert values(udaf, [5, 2647, 1]) == [5, 5, 1]


def test_bytes_compare_as_signed_like_java() -> None:
    udaf, _ = make("MAX", [BYTES])
    assert values(udaf, [b"\x7f", b"\x80"]) == [b"\x7f", b"\x7f"]


def test_min_max_merge() -> None:
    mx, _ = make("MAX", [BIGINT])
    mn, _ = make("MIN", [BIGINT])
    assert mx.merge(None, 3) == 3 and mx.merge(5, 3) == 5 and mx.merge(None, None) is None
    assert mn.merge(5, 3) == 3 and mn.merge(4, None) == 4


# --------------------------------------------------------------------------------------------
# STDDEV_SAMP, STDDEV_SAMPLE, CORRELATION
# --------------------------------------------------------------------------------------------


def test_stddev_sample() -> None:
    udaf, _ = make("STDDEV_SAMPLE", [INTEGER])
    rows = [(0, 0), (0, 10), (100, 50), (100, 10), (0, 7), (100, 3), (100, None), (0, 6)]
    assert stream(udaf, rows) == [0.0, 7.0710678118654755, 0.0, 28.284271247461902, 5.131601439446884,
                                  25.357444666211933, 25.357444666211933, 4.193248541803041]
    udaf, _ = make("STDDEV_SAMPLE", [BIGINT])
    rows = [(0, 2147483648), (0, 100), (100, 500), (100, 100), (0, -2), (100, 0), (100, -6), (0, None)]
    assert stream(udaf, rows) == [0.0, 1518500179.2773468, 0.0, 282.842712474619, 1239850233.9629574,
                                  264.5751311064591, 239.32335169528832, 1239850233.9629574]


def test_stddev_samp_returns_the_variance() -> None:
    udaf, _ = make("STDDEV_SAMP", [DOUBLE])
    rows = [(0, -1.8), (0, 2.3), (100, 9223372036854.775), (100, 300.8), (0, 100.2), (100, -200000.6),
            (100, 0.0), (0, None)]
    assert stream(udaf, rows) == [0.0, 8.405, 0.0, 4.253529586234292e25, 3334.2033333333347,
                                  2.835686452404674e25, 2.1267648239542927e25, 3334.2033333333347]
    udaf, _ = make("STDDEV_SAMP", [DOUBLE])
    assert values(udaf, [10.0, 12.0, 13.0, 14.0, 16.0]) == [0.0, 2.0, 2.333333333333333,
                                                            2.9166666666666665, 5.0]


@pytest.mark.parametrize("t", [INTEGER, BIGINT, DOUBLE])
def test_stddev_undo_and_merge_agree_with_recomputation(t: SqlType) -> None:
    udaf, _ = make("STDDEV_SAMP", [t])
    xs = [3, 8, 1, 12, 7] if t != DOUBLE else [3.5, 8.25, 1.0, 12.5, 7.0]
    full = fold(udaf, xs)
    undone = udaf.undo(full, xs[-1])
    assert udaf.result(undone) == pytest.approx(udaf.result(fold(udaf, xs[:-1])))
    assert undone[0] == 4
    single = udaf.undo(fold(udaf, xs[:1]), xs[0])
    assert single == (0, 0.0 if t == DOUBLE else 0, 0.0)
    merged = udaf.merge(fold(udaf, xs[:2]), fold(udaf, xs[2:]))
    assert udaf.result(merged) == pytest.approx(udaf.result(full))
    assert udaf.merge(udaf.initial(), full) == full


def test_correlation() -> None:
    udaf, _ = make("CORRELATION", [DOUBLE, DOUBLE])
    rows = [("alice", 1.5, 8.0), ("bob", -3.5, -2.0), ("alice", -1.0, -2.0), ("alice", -4.5, -1.0),
            ("bob", 13.1, None), ("bob", 3.0, 11.0), ("alice", None, -6.0)]
    got = stream(udaf, rows)
    assert math.isnan(got[0]) and math.isnan(got[1]) and math.isnan(got[4])
    assert got[2] == 1.0 and got[3] == 0.7580764521133173 and got[5] == 1.0 and got[6] == 0.7580764521133173
    udaf, _ = make("CORRELATION", [BIGINT, BIGINT])
    rows = [("alice", 1, 8), ("alice", -1, -2), ("alice", -4, -1)]
    assert stream(udaf, rows)[-1] == 0.7455284088780169


def test_correlation_undo_and_merge() -> None:
    udaf, _ = make("CORRELATION", [DOUBLE, DOUBLE])
    pts = [(1.0, 2.0), (2.0, 4.5), (3.0, 5.0), (4.0, 9.0)]
    state = udaf.initial()
    for x, y in pts:
        state = udaf.add(state, x, y)
    removed = udaf.undo(state, 4.0, 9.0)
    partial = udaf.initial()
    for x, y in pts[:3]:
        partial = udaf.add(partial, x, y)
    assert udaf.result(removed) == pytest.approx(udaf.result(partial))
    assert udaf.undo(state, None, 1.0) == state
    other = udaf.add(udaf.initial(), 4.0, 9.0)
    assert udaf.result(udaf.merge(partial, other)) == pytest.approx(udaf.result(state))


def test_java_div() -> None:
    assert math.isnan(java_div(0.0, 0.0))
    assert java_div(1.0, 0.0) == math.inf and java_div(-1.0, 0.0) == -math.inf
    assert java_div(1.0, -0.0) == -math.inf


# --------------------------------------------------------------------------------------------
# COUNT_DISTINCT
# --------------------------------------------------------------------------------------------


def test_count_distinct_small_groups_are_exact() -> None:
    udaf, _ = make("COUNT_DISTINCT", [STRING])
    rows = [("foo", "one"), ("foo", "two"), ("foo", "one"), ("foo", "two"), ("bar", "one"), ("foo", None)]
    assert stream(udaf, rows) == [1, 2, 2, 2, 1, 2]


def test_count_distinct_large_groups_are_approximate_and_mergeable() -> None:
    udaf, _ = make("COUNT_DISTINCT", [BIGINT])
    left = fold(udaf, range(0, 30_000))
    right = fold(udaf, range(20_000, 50_000))
    assert isinstance(left, bytearray) and len(pickle.dumps(left)) < 5000
    assert udaf.result(left) == pytest.approx(30_000, rel=0.05)
    assert udaf.result(udaf.merge(left, right)) == pytest.approx(50_000, rel=0.05)
    small = fold(udaf, [1, 2, 3])
    assert udaf.result(udaf.merge(small, fold(udaf, [3, 4]))) == 4
    assert udaf.result(udaf.merge(small, right)) == pytest.approx(30_003, rel=0.05)


def test_stable_hash_is_deterministic_and_order_insensitive_for_maps() -> None:
    assert stable_hash64("abc") == stable_hash64("abc")
    assert stable_hash64({"a": 1, "b": 2}) == stable_hash64({"b": 2, "a": 1})
    assert stable_hash64(1) != stable_hash64("1")
    assert freeze(float("nan")) == freeze(float("nan"))


# --------------------------------------------------------------------------------------------
# COLLECT_LIST, COLLECT_SET, HISTOGRAM
# --------------------------------------------------------------------------------------------


def test_collect_list_keeps_nulls_and_order() -> None:
    udaf, _ = make("COLLECT_LIST", [STRING])
    rows = [(0, "foo"), (100, "baz"), (0, "bar"), (100, "baz"), (100, "foo"), (100, None)]
    assert stream(udaf, rows) == [["foo"], ["baz"], ["foo", "bar"], ["baz", "baz"], ["baz", "baz", "foo"],
                                  ["baz", "baz", "foo", None]]


def test_collect_list_over_table_replaces_value() -> None:
    udaf, _ = make("COLLECT_LIST", [INTEGER])
    state = fold(udaf, [0])
    state = table_update(udaf, state, 0, 100)
    assert udaf.result(state) == [100]
    state = fold(udaf, [1, 2, 1, 3])
    assert udaf.result(udaf.undo(state, 1)) == [1, 2, 3]
    assert udaf.result(udaf.undo(state, 42)) == [1, 2, 3]


def test_collect_list_result_is_a_snapshot() -> None:
    udaf, _ = make("COLLECT_LIST", [INTEGER])
    state = fold(udaf, [1])
    emitted = udaf.result(state)
    udaf.add(state, 2)
    assert emitted == [1]


def test_collect_list_limit_and_merge() -> None:
    udaf, _ = make("COLLECT_LIST", [INTEGER])
    udaf.configure({"ksql.functions.collect_list.limit": "2"})  # type: ignore[attr-defined]
    assert values(udaf, [1, 2, 3]) == [[1], [1, 2], [1, 2]]
    assert udaf.merge([1], [2, 3]) == [1, 2]
    with pytest.raises(KsqlException):
        udaf.configure({"ksql.functions.collect_list.limit": "many"})  # type: ignore[attr-defined]


def test_collect_set_distinct_by_value() -> None:
    udaf, _ = make("COLLECT_SET", [map_of(STRING, INTEGER)])
    got = values(udaf, [{"Record0": 100, "Record2": 2}, {"Record2": 2, "Record0": 100}])
    assert got[-1] == [{"Record0": 100, "Record2": 2}]
    udaf, _ = make("COLLECT_SET", [decimal(4, 1)])
    got = values(udaf, [Decimal("500.9"), Decimal("300.8"), None, Decimal("300.8"), None])
    assert got[-1] == [Decimal("500.9"), Decimal("300.8"), None]


def test_collect_set_limit_and_merge() -> None:
    udaf, _ = make("COLLECT_SET", [INTEGER])
    udaf.configure({"ksql.functions.collect_set.limit": 1})  # type: ignore[attr-defined]
    assert values(udaf, [0, 100]) == [[0], [0]]
    udaf, _ = make("COLLECT_SET", [INTEGER])
    assert udaf.result(udaf.merge(fold(udaf, [1, 2]), fold(udaf, [2, 3]))) == [1, 2, 3]


def test_histogram_stream_and_table() -> None:
    udaf, _ = make("HISTOGRAM", [STRING])
    rows = [(0, "foo"), (100, "baz"), (0, "bar"), (100, "baz"), (100, "foo")]
    assert stream(udaf, rows) == [{"foo": 1}, {"baz": 1}, {"foo": 1, "bar": 1}, {"baz": 2},
                                  {"baz": 2, "foo": 1}]
    east = fold(udaf, ["alice", "bob"])
    east = udaf.undo(east, "bob")
    assert udaf.result(east) == {"alice": 1}
    assert udaf.result(udaf.merge({"a": 1}, {"a": 2, "b": 1})) == {"a": 3, "b": 1}
    assert udaf.undo({"a": 2}, None) == {"a": 2}


def test_histogram_limits_distinct_values() -> None:
    udaf, _ = make("HISTOGRAM", [STRING])
    state = fold(udaf, [str(i) for i in range(1005)])
    assert len(state) == 1000
    state = udaf.add(state, "0")
    assert state["0"] == 2


# --------------------------------------------------------------------------------------------
# TOPK, TOPKDISTINCT
# --------------------------------------------------------------------------------------------


def test_topk_single_column() -> None:
    udaf, _ = make("TOPK", [INTEGER], [3])
    assert values(udaf, [0, 100, 99, 7, 100]) == [[0], [100, 0], [100, 99, 0], [100, 99, 7], [100, 100, 99]]
    udaf, _ = make("TOPK", [STRING], [3])
    assert values(udaf, ["a", "b", "c", "b", "d"])[-1] == ["d", "c", "b"]
    assert values(udaf, [None]) == [[]]


def test_topk_with_other_columns_ranks_later_ties_after_earlier() -> None:
    udaf, _ = make("TOPK", [BIGINT, STRING], [3])
    state = udaf.initial()
    for v, name in [(2147483648, "zero"), (100, "one"), (99, "two"), (None, "three"), (100, None)]:
        state = udaf.add(state, v, name)
    assert udaf.result(state) == [
        {"sort_col": 2147483648, "col0": "zero"},
        {"sort_col": 100, "col0": "one"},
        {"sort_col": 100, "col0": None},
    ]


def test_topk_merge_and_validation() -> None:
    udaf, _ = make("TOPK", [INTEGER], [2])
    assert udaf.result(udaf.merge(fold(udaf, [5, 1]), fold(udaf, [3, 9]))) == [9, 5]
    with pytest.raises(KsqlException):
        make("TOPK", [INTEGER], [0])


def test_topkdistinct() -> None:
    udaf, _ = make("TOPKDISTINCT", [BIGINT], [3])
    assert values(udaf, [2147483648, 100, 99, 7, 100])[-1] == [2147483648, 100, 99]
    udaf, _ = make("TOPKDISTINCT", [decimal(2, 1)], [3])
    got = values(udaf, [Decimal("9.8"), Decimal("8.9"), None, Decimal("7.8"), Decimal("6.5"), Decimal("9.9")])
    assert got == [[Decimal("9.8")], [Decimal("9.8"), Decimal("8.9")], [Decimal("9.8"), Decimal("8.9")],
                   [Decimal("9.8"), Decimal("8.9"), Decimal("7.8")],
                   [Decimal("9.8"), Decimal("8.9"), Decimal("7.8")],
                   [Decimal("9.9"), Decimal("9.8"), Decimal("8.9")]]
    udaf, _ = make("TOPKDISTINCT", [BYTES], [3])
    assert values(udaf, [b"B", b"F", b"G", None, b"A", b"F"])[-1] == [b"G", b"F", b"B"]
    assert udaf.result(udaf.merge([b"G", b"B"], [b"G", b"F"])) == [b"G", b"F", b"B"]


# --------------------------------------------------------------------------------------------
# EARLIEST_BY_OFFSET, LATEST_BY_OFFSET
# --------------------------------------------------------------------------------------------


def test_earliest_by_offset_single() -> None:
    udaf, _ = make("EARLIEST_BY_OFFSET", [STRUCT_AB])
    assert values(udaf, [{"A": "Early0", "B": 1}, {"A": "Later0", "B": 3}]) == [{"A": "Early0", "B": 1}] * 2
    ignoring, _ = make("EARLIEST_BY_OFFSET", [INTEGER], [True])
    assert values(ignoring, [None, 13]) == [None, 13]
    keeping, _ = make("EARLIEST_BY_OFFSET", [INTEGER], [False])
    assert values(keeping, [None, 13]) == [None, None]


STRUCT_AB = struct([("A", STRING), ("B", INTEGER)])


def test_earliest_by_offset_n() -> None:
    udaf, _ = make("EARLIEST_BY_OFFSET", [INTEGER], [2])
    assert values(udaf, [12, 21, 31]) == [[12], [12, 21], [12, 21]]
    assert values(udaf, [12, None]) == [[12], [12]]
    keeping, _ = make("EARLIEST_BY_OFFSET", [INTEGER], [2, False])
    assert values(keeping, [12, None, 13]) == [[12], [12, None], [12, None]]


def test_latest_by_offset() -> None:
    udaf, _ = make("LATEST_BY_OFFSET", [INTEGER], [True])
    assert values(udaf, [12, None, 13]) == [12, 12, 13]
    keeping, _ = make("LATEST_BY_OFFSET", [INTEGER], [False])
    assert values(keeping, [12, None, 13]) == [12, None, 13]
    n, _ = make("LATEST_BY_OFFSET", [INTEGER], [2, True])
    assert values(n, [12, None, 13]) == [[12], [12], [12, 13]]
    n_keep, _ = make("LATEST_BY_OFFSET", [INTEGER], [2, False])
    assert values(n_keep, [12, None, 13]) == [[12], [12, None], [None, 13]]
    default_n, _ = make("LATEST_BY_OFFSET", [INTEGER], [2])
    assert values(default_n, [None, None]) == [[], []]


def _session_merge(udaf: Udaf, first: list[Any], second: list[Any], late: Any) -> Any:
    """Two sessions, then a late record bridging them: merge into initial in time order, then add."""
    s1, s2 = fold(udaf, first), fold(udaf, second)
    merged = udaf.merge(udaf.merge(udaf.initial(), s1), s2)
    return udaf.result(udaf.add(merged, late))


def test_by_offset_session_merges() -> None:
    latest, _ = make("LATEST_BY_OFFSET", [INTEGER])
    assert _session_merge(latest, [1], [3], 2) == 2
    assert _session_merge(latest, [1], [None], 2) == 2
    earliest, _ = make("EARLIEST_BY_OFFSET", [INTEGER])
    assert _session_merge(earliest, [1], [3], 2) == 1
    earliest_ign, _ = make("EARLIEST_BY_OFFSET", [INTEGER], [True])
    assert _session_merge(earliest_ign, [None], [1], None) == 1
    latest_n, _ = make("LATEST_BY_OFFSET", [INTEGER], [2, True])
    assert _session_merge(latest_n, [1], [None], 2) == [1, 2]
    latest_n_keep, _ = make("LATEST_BY_OFFSET", [INTEGER], [2, False])
    assert _session_merge(latest_n_keep, [1], [None], 2) == [None, 2]
    assert _session_merge(latest_n_keep, [None], [None], None) == [None, None]
    earliest_n_keep, _ = make("EARLIEST_BY_OFFSET", [INTEGER], [2, False])
    assert _session_merge(earliest_n_keep, [None], [None], None) == [None, None]
    earliest_n_ign, _ = make("EARLIEST_BY_OFFSET", [INTEGER], [2, True])
    assert _session_merge(earliest_n_ign, [None], [1], None) == [1]


def test_by_offset_rejects_bad_n() -> None:
    with pytest.raises(KsqlException):
        make("LATEST_BY_OFFSET", [INTEGER], [0])


# --------------------------------------------------------------------------------------------
# ATTR
# --------------------------------------------------------------------------------------------


def test_attr_stream() -> None:
    udaf, _ = make("ATTR", [STRING])
    assert values(udaf, ["s", "s", "s"]) == ["s", "s", "s"]
    assert values(udaf, [None, None]) == [None, None]
    assert values(udaf, ["1", "2", "3"]) == ["1", None, None]
    assert values(udaf, ["1", None, "1"]) == ["1", None, None]
    lists, _ = make("ATTR", [array(INTEGER)])
    assert values(lists, [[1, 2, 3], [1, 2, 3]]) == [[1, 2, 3], [1, 2, 3]]


def test_attr_table_with_tombstones() -> None:
    udaf, _ = make("ATTR", [STRING])
    state = udaf.initial()
    out = []
    for op, v in [("+", "1"), ("+", "1"), ("-", "1"), ("-", "1"), ("+", "2"), ("+", "3"), ("-", "3")]:
        state = udaf.add(state, v) if op == "+" else udaf.undo(state, v)
        out.append(udaf.result(state))
    assert out == ["1", "1", "1", None, "2", None, "2"]


def test_attr_merge() -> None:
    udaf, _ = make("ATTR", [INTEGER])
    assert udaf.result(udaf.merge(fold(udaf, [1]), fold(udaf, [1, 1]))) == 1
    assert udaf.result(udaf.merge(fold(udaf, [1]), fold(udaf, [2]))) is None


# --------------------------------------------------------------------------------------------
# every aggregate: state survives pickling and initial() is fresh each time
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "args", "init", "sample"),
    [
        ("COUNT", [STRING], [], "x"), ("SUM", [DOUBLE], [], 1.5), ("AVG", [BIGINT], [], 3),
        ("COLLECT_LIST", [STRING], [], "x"), ("COLLECT_SET", [STRING], [], "x"),
        ("COUNT_DISTINCT", [STRING], [], "x"), ("HISTOGRAM", [STRING], [], "x"),
        ("TOPK", [INTEGER], [2], 4), ("TOPKDISTINCT", [INTEGER], [2], 4),
        ("EARLIEST_BY_OFFSET", [STRING], [], "x"), ("LATEST_BY_OFFSET", [STRING], [3], "x"),
        ("ATTR", [STRING], [], "x"), ("STDDEV_SAMPLE", [INTEGER], [], 2), ("MAX", [INTEGER], [], 1),
    ],
)
def test_state_is_picklable_and_initial_is_fresh(name: str, args: list[SqlType], init: list[Any],
                                                  sample: Any) -> None:
    udaf, _ = make(name, args, init)
    a = udaf.add(udaf.initial(), sample)
    b = udaf.initial()
    assert b != a
    restored = pickle.loads(pickle.dumps(a))
    assert udaf.result(restored) == udaf.result(a)
