"""Arithmetic with an untyped NULL is a type error, as in ksqlDB; timestamps at hour 24 are
midnight of the next day; out-of-range datetimes are ksqlDB errors, never Python's."""

from __future__ import annotations

from typing import Any

import pytest

from ksql.dialect import parse_expression
from ksql.errors import KsqlException, KsqlFunctionException
from ksql.expressions import values as V
from ksql.expressions.compiler import ExpressionCompiler, Scope
from ksql.sqltypes import INTEGER, STRING


def compile_expr(text: str) -> Any:
    return ExpressionCompiler(Scope({"I": INTEGER, "S": STRING})).compile(parse_expression(text))


@pytest.mark.parametrize("text, message", [
    ("1 + NULL", "Error processing expression: (1 + null). Arithmetic on types INTEGER and null are not supported."),
    ("NULL * NULL", "Error processing expression: (null * null). Arithmetic on types null and null are not supported."),
    ("5.0 / NULL", "Error processing expression: (5.0 / null). Arithmetic on types DECIMAL(2, 1) and null are not "
                   "supported."),
    ("NULL - I", "Error processing expression: (null - I). Arithmetic on types null and INTEGER are not supported."),
    ("S + NULL", "Error processing expression: (S + null). Arithmetic on types STRING and null are not supported."),
    ("ARRAY[1, 2] + NULL", "Arithmetic on types ARRAY<INTEGER> and null are not supported."),
])
def test_arithmetic_with_an_untyped_null_is_refused(text: str, message: str) -> None:
    with pytest.raises(KsqlException) as e:
        compile_expr(text)
    assert message in e.value.message


def test_arithmetic_with_a_typed_null_is_null() -> None:
    assert compile_expr("1 + CAST(NULL AS INTEGER)").fn({}) is None
    assert compile_expr("I + 1").fn({"I": None}) is None
    assert compile_expr("S + 'x'").fn({"S": "a"}) == "ax"


def test_hour_24_is_midnight_of_the_next_day() -> None:
    next_day = V.parse_timestamp("2020-01-02T00:00:00")
    assert V.parse_timestamp("2020-01-01T24:00:00") == next_day
    assert V.parse_timestamp("2020-01-01T24:00") == next_day
    assert V.parse_timestamp("2020-01-01T24:00:00.000") == next_day
    assert V.parse_timestamp("2020-12-31T24:00:00") == V.parse_timestamp("2021-01-01T00:00:00")


@pytest.mark.parametrize("text", ["2020-01-01T24:30:00", "2020-01-01T24:00:01", "2020-01-01T25:00",
                                  "2020-13-01", "2020-02-30T00:00", "2020-01-01T10:61"])
def test_out_of_range_timestamps_are_ksql_errors(text: str) -> None:
    with pytest.raises(KsqlFunctionException, match="Failed to parse timestamp"):
        V.parse_timestamp(text)


@pytest.mark.parametrize("text", ["24:00", "25:00", "10:60", "10:00:60"])
def test_out_of_range_times_are_ksql_errors(text: str) -> None:
    with pytest.raises(KsqlFunctionException, match="Failed to parse time"):
        V.parse_time(text)
