"""Expression typing and evaluation rules: user-list coercion, comparisons, constructors, lambdas."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from ksql.dialect import parse_expression
from ksql.errors import KsqlException
from ksql.expressions.compiler import CodegenError, ExpressionCompiler, Scope
from ksql.formats import _java
from ksql.sqltypes import (
    BIGINT,
    BOOLEAN,
    DOUBLE,
    INTEGER,
    STRING,
    array,
    decimal,
    map_of,
    struct,
)

COLUMNS = {
    "I": INTEGER,
    "L": BIGINT,
    "D": DOUBLE,
    "DEC": decimal(4, 2),
    "S": STRING,
    "B": BOOLEAN,
    "AL": array(BIGINT),
    "AI": array(INTEGER),
    "ML": map_of(STRING, BIGINT),
    "SL": struct([("F0", BIGINT)]),
    "ROWTIME": BIGINT,
}


def compile_expr(text: str, clause: str | None = None) -> Any:
    return ExpressionCompiler(Scope(dict(COLUMNS))).compile(parse_expression(text), clause=clause)


def run(text: str, **row: Any) -> Any:
    return compile_expr(text).fn(row)


# -- IN -------------------------------------------------------------------------------------------
def test_in_widens_to_the_common_numeric_type() -> None:
    assert run("I IN (1, 2.0, '4.000', 5.10)", I=4) is True
    assert run("I IN (1, 2.0, '4.000', 5.10)", I=5) is False
    assert run("I IN (1, '2147483648')", I=-(2**31)) is False  # no overflow: the list is BIGINT


def test_in_converts_literals_into_a_string_list() -> None:
    assert run("S IN (true, 10, 10.30)", S="10.30") is True
    assert run("S IN (true, 10, 10.30)", S="true") is True
    assert run("S IN (true, 10, 10.30)", S="10.3") is False


def test_in_with_null_never_matches() -> None:
    assert run("I IN (1, NULL)", I=None) is False
    assert run("I NOT IN (1, 2)", I=None) is True


def test_in_structured_constructors_take_the_common_element_type() -> None:
    assert run("AL IN (ARRAY['3', NULL])", AL=[3, None]) is True
    assert run("SL IN (STRUCT(F0 := 10), STRUCT(`f0` := 20))", SL={"F0": 20}) is False
    assert run("SL IN (STRUCT(F0 := 10))", SL={"F0": 10}) is True


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("B IN (true, 10)", "operator does not exist: BOOLEAN = INTEGER (10)\nHint: You might need to add"),
        ("B IN (true, 'maybe')", 'invalid input syntax for type BOOLEAN: "maybe".'),
        ("DEC IN (10, true)", "operator does not exist: DECIMAL(12, 2) = BOOLEAN (true)"),
        ("AL IN (AL, ARRAY[B])", "operator does not exist: ARRAY<BIGINT> = ARRAY<BOOLEAN> (ARRAY[B])"),
        ("AL IN (ARRAY['10', 'x'])", 'invalid input syntax for type BIGINT: "x"'),
        ("ML IN (10)", "operator does not exist: MAP<STRING, BIGINT> = INTEGER (10)"),
    ],
)
def test_in_coercion_errors(text: str, message: str) -> None:
    with pytest.raises(CodegenError, match=None) as e:
        compile_expr(text)
    assert message in e.value.message
    with pytest.raises(KsqlException) as e2:
        compile_expr(text, clause="WHERE")
    assert e2.value.message.startswith("Invalid Predicate: ")


# -- comparisons -----------------------------------------------------------------------------------
def test_comparison_with_a_null_operand_is_false() -> None:
    assert run("I = L", I=None, L=1) is False
    assert run("NOT (I = L)", I=None, L=1) is True
    assert run("I IS DISTINCT FROM L", I=None, L=1) is True
    assert run("I IS DISTINCT FROM L", I=None, L=None) is False


def test_comparison_with_null_literal_is_rejected() -> None:
    with pytest.raises(KsqlException, match="Comparison with NULL not supported: NULL <> NULL"):
        compile_expr("NULL <> NULL")


def test_struct_ordering_is_rejected() -> None:
    with pytest.raises(KsqlException, match=r"Cannot compare SL \(STRUCT<`F0` BIGINT>\) .* with LESS_THAN"):
        compile_expr("SL < SL")


def test_decimal_compares_with_double_by_value() -> None:
    assert run("DEC = D", DEC=Decimal("1.10"), D=1.1) is True


def test_rowtime_compares_with_timestamp_strings() -> None:
    assert run("ROWTIME > '2018-01-01T00:00:00.001'", ROWTIME=1514764800002) is True
    assert run("ROWTIME >= '2018'", ROWTIME=1514764800000 - 1) is False
    assert run("ROWTIME > '2019-01-01T00:00:00+0445'", ROWTIME=1546300800000) is True


# -- constructors ---------------------------------------------------------------------------------
def test_array_of_mismatching_structs_takes_the_union_of_fields() -> None:
    c = compile_expr("ARRAY[NULL, STRUCT(X := I, Y := L), STRUCT(Y := I, Z := L)]")
    assert c.fn({"I": 30, "L": 40}) == [None, {"X": 30, "Y": 40, "Z": None}, {"X": None, "Y": 30, "Z": 40}]


def test_map_constructor_coerces_keys_and_values() -> None:
    c = compile_expr("MAP(S := B, 'k' := 'true', 10 := 'no')")
    assert c.type == map_of(STRING, BOOLEAN)
    assert c.fn({"S": "a", "B": True}) == {"a": True, "k": True, "10": False}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ARRAY[]", "Array constructor cannot be empty"),
        ("MAP()", "Map constructor cannot be empty"),
        ("MAP(NULL := I)", "Cannot construct a map with all NULL keys"),
        ("ARRAY[1, 'not a number']", 'invalid input syntax for type INTEGER: "not a number"'),
        ("STRUCT(A := 1, A := 2)", "Duplicate field names found in STRUCT"),
        ("CASE WHEN B THEN NULL ELSE NULL END", "Invalid Case expression. All case branches have NULL type"),
    ],
)
def test_constructor_errors(text: str, message: str) -> None:
    with pytest.raises(KsqlException, match=None) as e:
        compile_expr(text)
    assert message in e.value.message


def test_select_of_bare_null_is_rejected() -> None:
    with pytest.raises(KsqlException, match="Can't infer a type of null"):
        compile_expr("NULL", clause="SELECT")


def test_unsupported_cast_is_a_code_generation_error() -> None:
    with pytest.raises(KsqlException, match="Invalid Select: Cast of STRING to ARRAY<INTEGER> is not supported"):
        compile_expr("CAST(S AS ARRAY<INT>)", clause="SELECT")


# -- lambdas ----------------------------------------------------------------------------------------
def test_null_arithmetic_inside_a_lambda_nulls_the_call() -> None:
    assert run("TRANSFORM(AI, x => x + 5)", AI=[3, 6]) == [8, 11]
    assert run("TRANSFORM(AI, x => x + 5)", AI=[5, None]) is None
    assert run("I + 5", I=None) is None  # outside lambdas NULL just propagates


# -- Java text forms and map order --------------------------------------------------------------------
def test_double_text_uses_two_digits_when_one_is_ambiguous() -> None:
    assert _java.double_str(5e-324) == "4.9E-324"
    assert _java.double_str(1e-323) == "9.9E-324"
    assert _java.double_str(1e23) == "1.0E23"
    assert _java.double_str(0.3) == "0.3"


def test_maps_read_in_java_hash_map_order() -> None:
    m = {"yes, thanks": 1, "nope": 2, "sure, yeah": 3}
    assert list(_java.hash_map(m)) == ["yes, thanks", "sure, yeah", "nope"]
