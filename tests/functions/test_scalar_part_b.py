"""Date/time, collection and lambda scalar functions: resolution and values from ksqlDB's QTT files."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

import ksql.functions.scalar_collections  # noqa: F401  (registers the functions)
import ksql.functions.scalar_datetime  # noqa: F401
from ksql.errors import KsqlException, KsqlFunctionException
from ksql.functions import javatime
from ksql.functions.javazone import zone_of
from ksql.functions.registry import SCALAR_FUNCTIONS, LambdaArg, match_overload, resolve_return
from ksql.functions.scalar_collections import java_double_str
from ksql.sqltypes import (
    BIGINT,
    BOOLEAN,
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

ArgKind = SqlType | LambdaArg


def resolve(name: str, args: list[ArgKind]) -> tuple[Callable[..., Any], SqlType]:
    """Pick the cheapest matching overload like the compiler: (impl, return type)."""
    best = None
    for ov in SCALAR_FUNCTIONS[name].overloads:
        m = match_overload(ov.params, ov.variadic, args)
        if m is not None and (best is None or m[0] < best[0]):
            best = (m[0], ov, m[1], m[2])
    if best is None:
        raise KsqlException(f"Function '{name}' does not accept parameters {args}")
    _, ov, env, param_types = best
    ret = resolve_return(ov.returns, env, param_types)
    return ov.make_impl(param_types, ret), ret


def call(name: str, arg_types: list[ArgKind], *values: Any) -> Any:
    return resolve(name, arg_types)[0](*values)


def lam(arity: int, result: SqlType) -> LambdaArg:
    return LambdaArg(arity, lambda _params: result)


# --------------------------------------------------------------------------------------------
# Date and time
# --------------------------------------------------------------------------------------------


def test_format_timestamp_with_zones() -> None:
    ts = 1526075913000
    assert call("FORMAT_TIMESTAMP", [TIMESTAMP, STRING], ts, "yyyy-MM-dd HH:mm:ss") == "2018-05-11 21:58:33"
    fmt = "yyyy-MM-dd HH:mm:ss zzz"
    assert call("FORMAT_TIMESTAMP", [TIMESTAMP, STRING, STRING], ts, fmt, "America/Los_Angeles") == (
        "2018-05-11 14:58:33 PDT"
    )
    assert call("TIMESTAMPTOSTRING", [BIGINT, STRING, STRING], ts, fmt, "Europe/London") == (
        "2018-05-11 22:58:33 BST"
    )
    assert call("FORMAT_TIMESTAMP", [TIMESTAMP, STRING], None, fmt) is None


@pytest.mark.parametrize(
    ("text", "pattern", "expected"),
    [
        ("2018-05-11T21:58:33Z", "yyyy-MM-dd'T'HH:mm:ssX", 1526075913000),
        ("2020-05-11T21:58:33z", "yyyy-MM-dd'T'HH:mm:ssX", 1589234313000),
        ("2019-05-11T21:58:33", "yyyy-MM-dd'T'HH:mm:ss", 1557611913000),
        ("2018-05-11T21:58:33 PST", "yyyy-MM-dd'T'HH:mm:ss zzz", 1526101113000),
        ("2019-08-27T13:31:09.2+0000", "yyyy-MM-dd'T'HH:mm:ss.SX", 1566912669200),
        ("2019-01-01T00:00:00+04:45", "yyyy-MM-dd'T'HH:mm:ssXXX", 1546283700000),
    ],
)
def test_string_to_timestamp(text: str, pattern: str, expected: int) -> None:
    assert call("STRINGTOTIMESTAMP", [STRING, STRING], text, pattern) == expected
    assert call("PARSE_TIMESTAMP", [STRING, STRING], text, pattern) == expected


def test_parse_timestamp_time_zone_argument_and_smart_day_clamp() -> None:
    parse = resolve("PARSE_TIMESTAMP", [STRING, STRING, STRING])[0]
    assert parse("2018-05-11 14:58:33", "yyyy-MM-dd HH:mm:ss", "America/Los_Angeles") == 1526075913000
    assert parse("2018-05-11 23:58:33", "yyyy-MM-dd HH:mm:ss", "+0200") == 1526075913000
    # June 31 resolves to June 30, as Java's SMART resolver does.
    ms = javatime.parse_timestamp("2021-06-31 12:18:39.446", "yyyy-MM-dd HH:mm:ss.SSS")
    assert javatime.format_timestamp(ms, "yyyy-MM-dd'T'HH:mm:ss.SSS") == "2021-06-30T12:18:39.446"


def test_parse_failures_raise_function_errors() -> None:
    with pytest.raises(KsqlFunctionException):
        call("STRINGTODATE", [STRING, STRING], "foo", "yyyyMMdd")
    with pytest.raises(KsqlFunctionException):
        javatime.parse_timestamp("2018-13-01", "yyyy-MM-dd")
    with pytest.raises(KsqlFunctionException):
        javatime.parse_date("2018-01-01 10", "yyyy-MM-dd HH")
    with pytest.raises(KsqlFunctionException):
        javatime.format_date(0, "HH:mm")
    with pytest.raises(KsqlFunctionException):
        zone_of("Not/AZone")


@pytest.mark.parametrize(
    ("days", "pattern", "text"),
    [
        (17662, "yyyy-MM-dd", "2018-05-11"),
        (18027, "dd/MM/yyyy", "11/05/2019"),
        (18993, "dd-MMM-yyyy", "01-Jan-2022"),
        (0, "dd-MM-yyyy", "01-01-1970"),
        (-1, "dd-MM-yyyy'Sophia'", "31-12-1969Sophia"),
    ],
)
def test_format_date(days: int, pattern: str, text: str) -> None:
    assert call("FORMAT_DATE", [DATE, STRING], days, pattern) == text
    assert call("DATETOSTRING", [INTEGER, STRING], days, pattern) == text


@pytest.mark.parametrize(
    ("text", "pattern", "days"),
    [
        ("2018-05-11Lit", "yyyy-MM-dd'Lit'", 17662),
        ("11/05/2019", "dd/MM/yyyy", 18027),
        ("01-Jan-2022", "dd-MMM-yyyy", 18993),
        ("01-JAN-2022", "dd-MMM-yyyy", 18993),
        ("JAN-2022", "MMM-yyyy", 18993),
        ("01-01-1970", "dd-MM-yyyy", 0),
        ("20210101", "yyyyMMdd", 18628),
    ],
)
def test_parse_date(text: str, pattern: str, days: int) -> None:
    assert call("PARSE_DATE", [STRING, STRING], text, pattern) == days
    assert call("STRINGTODATE", [STRING, STRING], text, pattern) == days


def test_format_and_parse_time() -> None:
    fmt = resolve("FORMAT_TIME", [TIME, STRING])[0]
    assert fmt(65000, "HH_mm_ss_SSS") == "00_01_05_000"
    assert fmt(1234567, "HHmmss'AAAAA'") == "002034AAAAA"
    assert fmt(0, "HH:mm:ss") == "00:00:00"
    assert fmt(None, "HH:mm:ss") is None
    parse = resolve("PARSE_TIME", [STRING, STRING])[0]
    assert parse("00:01:05Lit", "HH:mm:ss'Lit'") == 65000
    assert parse("11/05/19", "HH/mm/ss") == 39919000
    assert parse("01:00:00 PM", "hh:mm:ss a") == 46800000
    assert parse("01:00:00 Pm", "hh:mm:ss a") == 46800000
    assert parse("12:00:00 AM", "hh:mm:ss a") == 0


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("EEE, d MMM yyyy", "Fri, 11 May 2018"),
        ("EEEE MMMM dd yy", "Friday May 11 18"),
        ("h:mm a", "2:58 PM"),
        ("HH:mm:ss.SSSXXX", "14:58:33.000-07:00"),
        ("X|XX|x|Z|ZZZZ|O|VV", "-07|-0700|-07|-0700|GMT-07:00|GMT-7|America/Los_Angeles"),
        ("D Q QQQ [HH][ 'opt']", "131 2 Q2 14 opt"),
        ("zzzz", "Pacific Daylight Time"),
        ("G u", "AD 2018"),
    ],
)
def test_pattern_letters(pattern: str, expected: str) -> None:
    assert javatime.format_timestamp(1526075913000, pattern, "America/Los_Angeles") == expected


def test_utc_offsets_and_quotes() -> None:
    assert javatime.format_timestamp(0, "yyyy-MM-dd'T'HH:mm:ssX") == "1970-01-01T00:00:00Z"
    assert javatime.format_timestamp(0, "xx ''") == "+0000 '"
    assert javatime.format_timestamp(0, "XXX", "+05:30") == "+05:30"
    assert javatime.format_timestamp(0, "z", "+0530") == "+05:30"
    with pytest.raises(KsqlFunctionException):
        javatime.compile_pattern("yyyy'T")
    with pytest.raises(KsqlFunctionException):
        javatime.compile_pattern("bb")


def test_convert_tz() -> None:
    convert = resolve("CONVERT_TZ", [TIMESTAMP, STRING, STRING])[0]
    assert convert(100, "+0200", "+0500") == 10800100
    assert convert(1589234313000, "+0200", "+0500") == 1589245113000
    assert convert(100, "America/Los_Angeles", "America/New_York") == 10800100
    assert convert(1589234313000, "America/Los_Angeles", "America/New_York") == 1589245113000
    assert convert(None, "UTC", "UTC") is None


def test_epoch_conversions() -> None:
    assert call("UNIX_TIMESTAMP", []) > 100
    assert call("UNIX_DATE", []) > 100
    assert call("UNIX_TIMESTAMP", [TIMESTAMP], 1589234313000) == 1589234313000
    assert call("UNIX_DATE", [DATE], 10) == 10
    assert call("FROM_UNIXTIME", [BIGINT], 100) == 100
    assert call("FROM_DAYS", [INTEGER], -10) == -10
    assert resolve("FROM_UNIXTIME", [BIGINT])[1] == TIMESTAMP
    assert resolve("FROM_DAYS", [INTEGER])[1] == DATE


def test_interval_arithmetic() -> None:
    assert call("DATEADD", [STRING, INTEGER, DATE], "DAYS", 10, 10) == 20
    assert call("DATEADD", [STRING, INTEGER, DATE], "DAYS", -5, 2) == -3
    assert call("DATEADD", [STRING, INTEGER, DATE], "MILLISECONDS", None, 5) is None
    assert call("DATESUB", [STRING, INTEGER, DATE], "DAYS", 10, 5) == -5
    assert call("TIMEADD", [STRING, INTEGER, TIME], "MILLISECONDS", 10, 86399995) == 5
    assert call("TIMEADD", [STRING, INTEGER, TIME], "MILLISECONDS", -5, 2) == 86399997
    assert call("TIMESUB", [STRING, INTEGER, TIME], "MILLISECONDS", 10, 5) == 86399995
    assert call("TIMESUB", [STRING, INTEGER, TIME], "MILLISECONDS", -5, 86399997) == 2
    assert call("TIMESTAMPADD", [STRING, INTEGER, TIMESTAMP], "milliseconds", 5, 3) == 8
    assert call("TIMESTAMPADD", [STRING, INTEGER, TIMESTAMP], "HOURS", 1, 0) == 3_600_000
    assert call("TIMESTAMPSUB", [STRING, INTEGER, TIMESTAMP], "MILLISECONDS", -5, -100) == -95
    with pytest.raises(KsqlFunctionException):
        call("TIMESTAMPADD", [STRING, INTEGER, TIMESTAMP], "FORTNIGHTS", 1, 0)


@pytest.mark.parametrize("name", ["DATEADD", "DATESUB", "TIMEADD", "TIMESUB", "TIMESTAMPADD", "TIMESTAMPSUB"])
def test_interval_functions_reject_non_unit_first_argument(name: str) -> None:
    value_type = {"DATE": DATE, "TIME": TIME}.get(name[:4], TIMESTAMP)
    with pytest.raises(KsqlException):
        resolve(name, [value_type, INTEGER, value_type])


# --------------------------------------------------------------------------------------------
# Arrays
# --------------------------------------------------------------------------------------------


def test_array_min_max_sort() -> None:
    ints = array(INTEGER)
    assert call("ARRAY_MAX", [ints], [0, None, 1, 0, -1]) == 1
    assert call("ARRAY_MIN", [ints], [0, None, 1, 0, -1]) == -1
    assert call("ARRAY_MAX", [ints], []) is None
    assert resolve("ARRAY_MAX", [array(DOUBLE)])[1] == DOUBLE
    strings = ["foo", "fo", "Food", None, "F", "food"]
    assert call("ARRAY_MAX", [array(STRING)], strings) == "food"
    assert call("ARRAY_MIN", [array(STRING)], strings) == "F"
    assert call("ARRAY_SORT", [array(STRING)], strings) == ["F", "Food", "fo", "foo", "food", None]
    desc = call("ARRAY_SORT", [array(STRING), STRING], strings, "desc")
    assert desc == ["food", "foo", "fo", "Food", "F", None]
    assert call("ARRAY_SORT", [array(BOOLEAN), STRING], [None, False, True], "DESC") == [True, False, None]
    assert call("ARRAY_SORT", [ints, STRING], [1], "sideways") is None
    assert call("ARRAY_SORT", [ints], None) is None
    with pytest.raises(KsqlException):
        resolve("ARRAY_MAX", [array(array(INTEGER))])


def test_array_set_functions() -> None:
    ints = array(INTEGER)
    decimals = [Decimal("1.0"), Decimal("1.1"), Decimal("1.1"), Decimal("-0.2"), None, Decimal("1.0")]
    assert call("ARRAY_DISTINCT", [array(decimal(2, 1))], decimals) == [
        Decimal("1.0"), Decimal("1.1"), Decimal("-0.2"), None
    ]
    assert call("ARRAY_DISTINCT", [ints], None) is None
    assert call("ARRAY_EXCEPT", [ints, ints], [0, 0, 1, 0, -1], [1, -2]) == [0, -1]
    assert call("ARRAY_EXCEPT", [ints, ints], [0, 0, 1, 0, -1], []) == [0, 1, -1]
    assert call("ARRAY_EXCEPT", [ints, ints], [0], None) is None
    assert call("ARRAY_INTERSECT", [ints, ints], [0, 0, 1, 0, -1], [1, -2, 0]) == [0, 1]
    assert call("ARRAY_UNION", [ints, ints], [0, 0, 1, 0, -1], [3, 4]) == [0, 1, -1, 3, 4]
    assert call("ARRAY_UNION", [ints, ints], None, [1]) is None
    assert call("ARRAY_CONCAT", [ints, ints], None, [1, -2]) == [1, -2]
    assert call("ARRAY_CONCAT", [ints, ints], [0, 3, 2], None) == [0, 3, 2]
    assert call("ARRAY_CONCAT", [ints, ints], None, None) is None
    nested = [["foo", "bar"], ["foo", "bar"], ["foo"]]
    assert call("ARRAY_DISTINCT", [array(array(STRING))], nested) == [["foo", "bar"], ["foo"]]


def test_array_remove_and_contains() -> None:
    assert call("ARRAY_REMOVE", [array(STRING), STRING], ["foo", "bar", "foo"], "foo") == ["bar"]
    assert call("ARRAY_REMOVE", [array(INTEGER), INTEGER], [0, None, 1, 0, -1], None) == [0, 1, 0, -1]
    maps = [{"apple": 1, "banana": 2}, {"apple": 3, "banana": 4}, None]
    remove_map = resolve("ARRAY_REMOVE", [array(map_of(STRING, INTEGER)), map_of(STRING, INTEGER)])[0]
    assert remove_map(maps, {"banana": 2, "apple": 1}) == [{"apple": 3, "banana": 4}, None]
    contains = resolve("ARRAY_CONTAINS", [array(STRING), STRING])[0]
    assert contains(["Pink", None], "Pink") is True
    assert contains(["Red", "Green"], "Pink") is False
    assert contains(None, "Pink") is False


def test_array_length_slice_series() -> None:
    assert call("ARRAY_LENGTH", [array(array(BOOLEAN))], [[]]) == 1
    assert call("ARRAY_LENGTH", [array(INTEGER)], None) is None
    assert call("SLICE", [array(STRING), INTEGER, INTEGER], ["a", "b", "c", "d"], 2, 3) == ["b", "c"]
    assert call("SLICE", [array(STRING), INTEGER, INTEGER], ["a", "b"], None, None) == ["a", "b"]
    assert call("SLICE", [array(STRING), INTEGER, INTEGER], ["a", "b"], 2, 5) is None
    series, ret = resolve("GENERATE_SERIES", [INTEGER, INTEGER])
    assert ret == array(INTEGER)
    assert [series(0, 3), series(-2, 1), series(4, 3), series(4, 0)] == [
        [0, 1, 2, 3], [-2, -1, 0, 1], [4, 3], [4, 3, 2, 1, 0]
    ]
    assert resolve("GENERATE_SERIES", [BIGINT, BIGINT, INTEGER])[1] == array(BIGINT)
    assert call("GENERATE_SERIES", [INTEGER, INTEGER, INTEGER], 0, 9, 3) == [0, 3, 6, 9]
    with pytest.raises(KsqlFunctionException):
        call("GENERATE_SERIES", [INTEGER, INTEGER, INTEGER], 0, 9, -1)
    with pytest.raises(KsqlFunctionException):
        call("GENERATE_SERIES", [INTEGER, INTEGER, INTEGER], 0, 9, 0)


def test_array_join() -> None:
    join = resolve("ARRAY_JOIN", [array(BOOLEAN)])[0]
    assert join([True, None, False]) == "true,null,false"
    join_doubles = resolve("ARRAY_JOIN", [array(DOUBLE), STRING])[0]
    assert join_doubles([1.23, -23.42, 0.0], " ") == "1.23 -23.42 0.0"
    assert join_doubles([1.23, -23.42, 0.0], None) == "1.23-23.420.0"
    join_dec = resolve("ARRAY_JOIN", [array(decimal(5, 2)), STRING])[0]
    assert join_dec([Decimal("123.45"), Decimal("987.65")], "#") == "123.45#987.65"
    assert call("ARRAY_JOIN", [array(BIGINT), STRING], [-4294967297, 8589934592], ";") == (
        "-4294967297;8589934592"
    )
    join_nested = resolve("ARRAY_JOIN", [array(array(INTEGER))])[0]
    assert join_nested([None]) == "null"
    with pytest.raises(KsqlFunctionException):
        join_nested([[1]])


def test_java_double_str() -> None:
    assert [java_double_str(x) for x in (1.0, 0.001, 1e7, 1.5e-4, -2.5e10, 123456.789)] == [
        "1.0", "0.001", "1.0E7", "1.5E-4", "-2.5E10", "123456.789"
    ]


# --------------------------------------------------------------------------------------------
# Maps and AS_VALUE
# --------------------------------------------------------------------------------------------


def test_map_functions() -> None:
    m = map_of(STRING, INTEGER)
    entries, ret = resolve("ENTRIES", [m, BOOLEAN])
    assert ret == array(struct([("K", STRING), ("V", INTEGER)]))
    assert entries({"K2": 2, "K1": 1}, True) == [{"K": "K1", "V": 1}, {"K": "K2", "V": 2}]
    assert entries(None, True) is None
    keys, ret = resolve("MAP_KEYS", [m])
    assert ret == array(STRING)
    assert keys({"foo": 10, "bar": None}) == ["foo", "bar"]
    values, ret = resolve("MAP_VALUES", [map_of(STRING, array(INTEGER))])
    assert ret == array(array(INTEGER))
    assert values({"foo": None, "bar": None}) == [None, None]
    assert values(None) is None
    union = resolve("MAP_UNION", [m, m])[0]
    assert union({"apple": 10, "banana": 20}, {"apple": 50}) == {"apple": 50, "banana": 20}
    assert union(None, {"a": 1}) == {"a": 1}
    assert union(None, None) is None
    as_map, ret = resolve("AS_MAP", [array(STRING), array(INTEGER)])
    assert ret == m
    assert as_map(["a", "b"], [1, 2, 3]) == {"a": 1, "b": 2}
    assert as_map(["a", "b", "c"], [1, 2]) == {"a": 1, "b": 2, "c": None}


def test_as_value_is_identity_with_the_argument_type() -> None:
    s = struct([("F1", STRING)])
    impl, ret = resolve("AS_VALUE", [s])
    assert ret == s
    assert impl({"F1": "foo"}) == {"F1": "foo"}


# --------------------------------------------------------------------------------------------
# Lambdas
# --------------------------------------------------------------------------------------------


def _plus5(x: int) -> int:
    return x + 5  # raises on None, as ksqlDB's generated code does


def test_transform_array() -> None:
    impl, ret = resolve("TRANSFORM", [array(INTEGER), lam(1, INTEGER)])
    assert ret == array(INTEGER)
    assert impl([3, 6], _plus5) == [8, 11]
    assert impl(None, _plus5) is None
    with pytest.raises(TypeError):
        impl([5, None], _plus5)
    assert resolve("TRANSFORM", [array(DOUBLE), lam(1, STRING)])[1] == array(STRING)


def test_transform_map() -> None:
    args: list[ArgKind] = [map_of(STRING, array(INTEGER)), lam(2, STRING), lam(2, INTEGER)]
    impl, ret = resolve("TRANSFORM", args)
    assert ret == map_of(STRING, INTEGER)
    out = impl({"a": [2, 4, 5], "b": [-1, -2]}, lambda k, v: k + "_test", lambda k, v: min(v) + 1)
    assert out == {"a_test": 3, "b_test": -1}
    with pytest.raises(KsqlFunctionException):  # duplicate keys
        impl({"5": [0, 2], "4": [2]}, lambda k, v: str(max(v)), lambda k, v: v)
    with pytest.raises(KsqlFunctionException):  # NULL values
        impl({"q": []}, lambda k, v: k, lambda k, v: None)


def test_filter() -> None:
    impl, ret = resolve("FILTER", [array(INTEGER), lam(1, BOOLEAN)])
    assert ret == array(INTEGER)
    gt5 = lambda x: None if x is None else x > 5  # noqa: E731
    assert impl([3, 6, 2, 10], gt5) == [6, 10]
    assert impl([5, None], gt5) == []
    assert impl(None, gt5) is None
    m = map_of(STRING, INTEGER)
    impl, ret = resolve("FILTER", [m, lam(2, BOOLEAN)])
    assert ret == m
    assert impl({"ab": 6, "abcd": 15}, lambda k, v: len(k) * 5 > 15 and v % 5 == 0) == {"abcd": 15}


def test_reduce() -> None:
    impl, ret = resolve("REDUCE", [array(INTEGER), INTEGER, lam(2, INTEGER)])
    assert ret == INTEGER
    assert impl([3, 6], 2, lambda s, x: s + x) == 11
    assert impl(None, 2, lambda s, x: s + x) == 2
    assert impl([1, 2], None, lambda s, x: s + x) is None
    # A BIGINT result widens the state type.
    assert resolve("REDUCE", [array(INTEGER), INTEGER, lam(2, BIGINT)])[1] == BIGINT
    impl, ret = resolve("REDUCE", [map_of(STRING, INTEGER), INTEGER, lam(3, INTEGER)])
    assert ret == INTEGER
    fold = lambda s, k, v: s + v if len(k) > 3 else s - v  # noqa: E731
    assert impl({"123": 3, "12": 7, "1234": 2}, 0, fold) == -8
    assert impl(None, 0, fold) == 0


def test_lambda_arity_selects_the_overload() -> None:
    with pytest.raises(KsqlException):
        resolve("FILTER", [array(INTEGER), lam(2, BOOLEAN)])
    with pytest.raises(KsqlException):
        resolve("TRANSFORM", [map_of(STRING, INTEGER), lam(2, STRING)])
