"""Built-in table functions: EXPLODE and CUBE_EXPLODE."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

import ksql.functions.table_functions  # noqa: F401  (registers the built-ins)
from ksql.errors import KsqlException
from ksql.functions.registry import TABLE_FUNCTIONS, match_overload, resolve_return
from ksql.sqltypes import INTEGER, STRING, SqlType, array, decimal, map_of, struct


def resolve(name: str, arg_types: list[SqlType]) -> tuple[Any, SqlType]:
    best = None
    for ov in TABLE_FUNCTIONS[name].overloads:
        m = match_overload(ov.params, ov.variadic, arg_types)
        if m is not None and (best is None or m[0] < best[0]):
            best = (m[0], ov, m[1])
    if best is None:
        raise KsqlException(f"no overload of {name} for {arg_types}")
    _, ov, env = best
    rt = resolve_return(ov.returns, env, arg_types)
    return ov.make_impl(arg_types, rt), rt


def test_registered_as_table_functions() -> None:
    assert {"EXPLODE", "CUBE_EXPLODE"} <= set(TABLE_FUNCTIONS)
    assert TABLE_FUNCTIONS["EXPLODE"].category == "TABLE"


@pytest.mark.parametrize(
    ("arg", "element"),
    [
        (array(INTEGER), INTEGER),
        (array(decimal(6, 3)), decimal(6, 3)),
        (array(struct([("F1", INTEGER)])), struct([("F1", INTEGER)])),
        (array(array(STRING)), array(STRING)),
    ],
)
def test_explode_returns_element_type(arg: SqlType, element: SqlType) -> None:
    _, rt = resolve("EXPLODE", [arg])
    assert rt == element


def test_explode_rejects_maps() -> None:
    with pytest.raises(KsqlException):
        resolve("EXPLODE", [map_of(STRING, INTEGER)])
    assert [o.description for o in TABLE_FUNCTIONS["EXPLODE"].overloads] == [
        "explode(ARRAY<DECIMAL> input)", "explode(ARRAY<T> list)"]


def test_explode_values() -> None:
    impl, _ = resolve("EXPLODE", [array(INTEGER)])
    assert impl([1, 2]) == [1, 2]
    assert impl([]) == []
    assert impl(None) == []
    assert impl([1, None]) == [1, None]
    dec, _ = resolve("EXPLODE", [array(decimal(6, 3))])
    assert dec([Decimal("123.456")]) == [Decimal("123.456")]


def test_cube_explode_two_columns() -> None:
    impl, rt = resolve("CUBE_EXPLODE", [array(INTEGER)])
    assert rt == array(INTEGER)
    assert impl([1, 2]) == [[None, None], [None, 2], [1, None], [1, 2]]
    # A null element makes combinations coincide: each distinct one is emitted once.
    assert impl([1, None]) == [[None, None], [1, None]]
    assert impl(None) == []


def test_cube_explode_three_columns() -> None:
    impl, _ = resolve("CUBE_EXPLODE", [array(STRING)])
    assert impl(["one", "two", "three"]) == [
        [None, None, None], [None, None, "three"], [None, "two", None], [None, "two", "three"],
        ["one", None, None], ["one", None, "three"], ["one", "two", None], ["one", "two", "three"],
    ]
