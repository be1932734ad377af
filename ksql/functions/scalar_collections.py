"""Array, map and lambda (invocation) scalar functions.

Arrays are lists, maps are dicts and structs are dicts keyed by field name (``ksql.sqltypes``).
Lambdas arrive compiled: a one-argument callable for ``x => ...``, two for ``(k, v) => ...``, and
so on. An exception raised by a lambda propagates, so the whole call evaluates to NULL (ksqlDB
does the same when, say, ``x + 5`` meets a NULL element).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from ksql.errors import KsqlException, KsqlFunctionException
from ksql.expressions.values import java_double_str
from ksql.functions.registry import (
    AnyType,
    ArrayOf,
    LambdaOf,
    MapOf,
    Overload,
    ScalarFunction,
    T,
    register_scalar,
)
from ksql.sqltypes import (
    BIGINT,
    BOOLEAN,
    INTEGER,
    STRING,
    BaseType,
    SqlType,
    array,
    struct,
)

ARRAYS = "ARRAY"
MAPS = "MAP"
LAMBDAS = "LAMBDA"

_A = ArrayOf(T("T"))
_M = MapOf(T("K"), T("V"))
_STRUCTURED = (BaseType.ARRAY, BaseType.MAP, BaseType.STRUCT)


def _register(name: str, category: str, description: str, overloads: list[Overload]) -> None:
    register_scalar(ScalarFunction(name, category, description, overloads))


# --------------------------------------------------------------------------------------------
# Equality and ordering helpers
# --------------------------------------------------------------------------------------------


def _key(value: Any) -> Hashable:
    """A hashable stand-in with the equality ksqlDB uses for set operations on elements."""
    if isinstance(value, list):
        return ("list", tuple(_key(v) for v in value))
    if isinstance(value, dict):
        return ("map", frozenset((_key(k), _key(v)) for k, v in value.items()))
    if isinstance(value, float) and math.isnan(value):
        return ("nan",)
    key: Hashable = value
    return key


def _distinct(values: Iterable[Any], exclude: set[Hashable] | None = None) -> list[Any]:
    seen: set[Hashable] = set(exclude or ())
    out = []
    for v in values:
        k = _key(v)
        if k not in seen:
            seen.add(k)
            out.append(v)
    return out


def _checked(fn_name: str, impl: Callable[..., Any]) -> Callable[[list[SqlType], SqlType], Any]:
    """A factory that refuses arrays of ARRAY/MAP/STRUCT when the query is compiled."""

    def factory(arg_types: list[SqlType], _ret: SqlType) -> Callable[..., Any]:
        element = arg_types[0].element
        if element is not None and element.base in _STRUCTURED:
            raise KsqlException(
                f"Function '{fn_name}' only supports arrays of primitive types, not {arg_types[0]}"
            )
        return impl

    return factory


# --------------------------------------------------------------------------------------------
# Java-compatible string rendering of primitive elements (ARRAY_JOIN)
# --------------------------------------------------------------------------------------------


def _element_renderer(t: SqlType | None) -> Callable[[Any], str]:
    base = t.base if t is not None else BaseType.STRING
    if base is BaseType.BOOLEAN:
        return lambda v: "true" if v else "false"
    if base is BaseType.DOUBLE:
        return lambda v: java_double_str(float(v))
    if base in (BaseType.INTEGER, BaseType.BIGINT, BaseType.DECIMAL, BaseType.STRING):
        return str

    def unsupported(_v: Any) -> str:
        # Only non-NULL elements of other types fail, at run time, as in ksqlDB.
        raise KsqlFunctionException(f"error: hit element of type {t} which is currently not supported")

    return unsupported


def _array_join_factory(arg_types: list[SqlType], _ret: SqlType) -> Callable[..., Any]:
    render = _element_renderer(arg_types[0].element)

    def impl(values: list[Any] | None, delimiter: str | None = ",") -> str | None:
        if values is None:
            return None
        sep = "" if delimiter is None else delimiter
        return sep.join("null" if v is None else render(v) for v in values)

    return impl


# --------------------------------------------------------------------------------------------
# Array functions
# --------------------------------------------------------------------------------------------


def _array_contains(values: list[Any] | None, needle: Any) -> bool:
    if values is None:
        return False
    key = _key(needle)
    return any(_key(v) == key for v in values)


def _array_distinct(values: list[Any] | None) -> list[Any] | None:
    return None if values is None else _distinct(values)


def _array_except(left: list[Any] | None, right: list[Any] | None) -> list[Any] | None:
    if left is None or right is None:
        return None
    return _distinct(left, {_key(v) for v in right})


def _array_intersect(left: list[Any] | None, right: list[Any] | None) -> list[Any] | None:
    if left is None or right is None:
        return None
    keep = {_key(v) for v in right}
    return _distinct(v for v in left if _key(v) in keep)


def _array_union(left: list[Any] | None, right: list[Any] | None) -> list[Any] | None:
    if left is None or right is None:
        return None
    return _distinct([*left, *right])


def _array_concat(left: list[Any] | None, right: list[Any] | None) -> list[Any] | None:
    if left is None and right is None:
        return None
    return [*(left or ()), *(right or ())]


def _array_remove(values: list[Any] | None, victim: Any) -> list[Any] | None:
    if values is None:
        return None
    key = _key(victim)
    return [v for v in values if _key(v) != key]


def _array_length(values: list[Any] | None) -> int | None:
    return None if values is None else len(values)


def _array_max(values: list[Any] | None) -> Any:
    present = [v for v in values or () if v is not None]
    return max(present) if present else None


def _array_min(values: list[Any] | None) -> Any:
    present = [v for v in values or () if v is not None]
    return min(present) if present else None


def _array_sort(values: list[Any] | None, direction: str | None = "ASC") -> list[Any] | None:
    if values is None or direction is None:
        return None
    order = direction.upper()
    if order not in ("ASC", "ASCENDING", "DESC", "DESCENDING"):
        return None
    present = sorted((v for v in values if v is not None), reverse=order.startswith("DESC"))
    return present + [None] * (len(values) - len(present))  # NULLs last either way


def _slice(values: list[Any] | None, start: int | None, end: int | None) -> list[Any] | None:
    if values is None:
        return None
    lo = 0 if start is None else start - 1
    hi = len(values) if end is None else end
    if lo < 0 or hi > len(values) or lo > hi:
        return None  # Java's subList would throw; ksqlDB answers NULL
    return values[lo:hi]


def _generate_series(start: int | None, end: int | None, step: int | None = None) -> list[int] | None:
    if start is None or end is None:
        return None
    if step is None:
        step = 1 if end >= start else -1
    if step == 0:
        raise KsqlFunctionException("GENERATE_SERIES step cannot be zero")
    if (step > 0 and start > end) or (step < 0 and start < end):
        raise KsqlFunctionException("GENERATE_SERIES step has wrong sign")
    return list(range(start, end + (1 if step > 0 else -1), step))


_register("ARRAY_CONTAINS", ARRAYS, "Whether an array contains a value.", [
    Overload([_A, T("T")], BOOLEAN, _array_contains),
])
_register("ARRAY_DISTINCT", ARRAYS, "The distinct elements of an array, in first-seen order.", [
    Overload([_A], _A, _array_distinct),
])
_register("ARRAY_EXCEPT", ARRAYS, "Distinct elements of the first array not in the second.", [
    Overload([_A, _A], _A, _array_except),
])
_register("ARRAY_INTERSECT", ARRAYS, "Distinct elements present in both arrays.", [
    Overload([_A, _A], _A, _array_intersect),
])
_register("ARRAY_UNION", ARRAYS, "Distinct elements of both arrays, in encounter order.", [
    Overload([_A, _A], _A, _array_union),
])
_register("ARRAY_CONCAT", ARRAYS, "Concatenation of two arrays; a NULL side is skipped.", [
    Overload([_A, _A], _A, _array_concat),
])
_register("ARRAY_REMOVE", ARRAYS, "The array without the elements equal to a value.", [
    Overload([_A, T("T")], _A, _array_remove),
])
_register("ARRAY_LENGTH", ARRAYS, "Number of elements in an array.", [
    Overload([_A], INTEGER, _array_length),
])
_register("ARRAY_MAX", ARRAYS, "Largest non-NULL element of an array of primitives.", [
    Overload([_A], T("T"), factory=_checked("ARRAY_MAX", _array_max)),
])
_register("ARRAY_MIN", ARRAYS, "Smallest non-NULL element of an array of primitives.", [
    Overload([_A], T("T"), factory=_checked("ARRAY_MIN", _array_min)),
])
_register("ARRAY_SORT", ARRAYS, "Sorts an array of primitives ('ASC' or 'DESC'), NULLs last.", [
    Overload([_A], _A, factory=_checked("ARRAY_SORT", _array_sort)),
    Overload([_A, STRING], _A, factory=_checked("ARRAY_SORT", _array_sort)),
])
_register("ARRAY_JOIN", ARRAYS, "Joins the elements of an array of primitives into a string.", [
    Overload([_A], STRING, factory=_array_join_factory),
    Overload([_A, STRING], STRING, factory=_array_join_factory),
])
_register("SLICE", ARRAYS, "Elements from one 1-based index to another, both inclusive.", [
    Overload([_A, INTEGER, INTEGER], _A, _slice),
])
_register("GENERATE_SERIES", ARRAYS, "Array of numbers from start to end inclusive, by step.", [
    Overload([INTEGER, INTEGER], array(INTEGER), _generate_series),
    Overload([INTEGER, INTEGER, INTEGER], array(INTEGER), _generate_series),
    Overload([BIGINT, BIGINT], array(BIGINT), _generate_series),
    Overload([BIGINT, BIGINT, INTEGER], array(BIGINT), _generate_series),
])


# --------------------------------------------------------------------------------------------
# Map functions
# --------------------------------------------------------------------------------------------


def _entries_type(arg_types: list[SqlType]) -> SqlType:
    value = arg_types[0].element or STRING
    return array(struct([("K", STRING), ("V", value)]))


def _entries(values: dict[str, Any] | None, sort: bool | None) -> list[dict[str, Any]] | None:
    if values is None:
        return None
    items = sorted(values.items()) if sort else list(values.items())
    return [{"K": k, "V": v} for k, v in items]


def _map_keys(values: dict[Any, Any] | None) -> list[Any] | None:
    return None if values is None else list(values)


def _map_values(values: dict[Any, Any] | None) -> list[Any] | None:
    return None if values is None else list(values.values())


def _map_union(left: dict[Any, Any] | None, right: dict[Any, Any] | None) -> dict[Any, Any] | None:
    if left is None and right is None:
        return None
    return {**(left or {}), **(right or {})}


def _as_map(keys: list[str] | None, values: list[Any] | None) -> dict[str, Any] | None:
    if keys is None or values is None:
        return None
    # Keys drive the result; missing values are NULL and extra values are dropped.
    return {k: (values[i] if i < len(values) else None) for i, k in enumerate(keys)}


_register("ENTRIES", MAPS, "Array of STRUCT<K, V> entries of a map, optionally sorted by key.", [
    Overload([MapOf(STRING, T("V")), BOOLEAN], _entries_type, _entries),
])
_register("MAP_KEYS", MAPS, "Array of a map's keys.", [
    Overload([_M], ArrayOf(T("K")), _map_keys),
])
_register("MAP_VALUES", MAPS, "Array of a map's values.", [
    Overload([_M], ArrayOf(T("V")), _map_values),
])
_register("MAP_UNION", MAPS, "Union of two maps; the second map wins on duplicate keys.", [
    Overload([_M, _M], _M, _map_union),
])
_register("AS_MAP", MAPS, "Builds a map from an array of keys and an array of values.", [
    Overload([ArrayOf(STRING), ArrayOf(T("V"))], MapOf(STRING, T("V")), _as_map),
])
_register("AS_VALUE", "OTHER", "Copies a key column into the value (identity).", [
    Overload([AnyType()], lambda arg_types: arg_types[0], lambda v: v),
])


# --------------------------------------------------------------------------------------------
# Lambda (invocation) functions
# --------------------------------------------------------------------------------------------


def _filter_array(values: list[Any] | None, keep: Callable[[Any], Any]) -> list[Any] | None:
    return None if values is None else [v for v in values if keep(v) is True]


def _filter_map(values: dict[Any, Any] | None, keep: Callable[[Any, Any], Any]) -> dict[Any, Any] | None:
    return None if values is None else {k: v for k, v in values.items() if keep(k, v) is True}


def _transform_array(values: list[Any] | None, fn: Callable[[Any], Any]) -> list[Any] | None:
    return None if values is None else [fn(v) for v in values]


def _transform_map(
    values: dict[Any, Any] | None,
    key_fn: Callable[[Any, Any], Any],
    value_fn: Callable[[Any, Any], Any],
) -> dict[Any, Any] | None:
    if values is None:
        return None
    out: dict[Any, Any] = {}
    for k, v in values.items():
        new_key, new_value = key_fn(k, v), value_fn(k, v)
        if new_key in out:
            raise KsqlFunctionException(f"Duplicate key {new_key!r} in TRANSFORM result")
        if new_value is None:  # ksqlDB's map collector rejects NULL values
            raise KsqlFunctionException(f"TRANSFORM produced a NULL value for key {new_key!r}")
        out[new_key] = new_value
    return out


def _reduce_array(values: list[Any] | None, state: Any, fn: Callable[[Any, Any], Any]) -> Any:
    if state is None:
        return None
    for v in values or ():
        state = fn(state, v)
    return state


def _reduce_map(values: dict[Any, Any] | None, state: Any, fn: Callable[[Any, Any, Any], Any]) -> Any:
    if state is None:
        return None
    for k, v in (values or {}).items():
        state = fn(state, k, v)
    return state


_register("FILTER", LAMBDAS, "Keeps the array elements or map entries the lambda accepts.", [
    Overload([_A, LambdaOf([T("T")], BOOLEAN)], _A, _filter_array),
    Overload([_M, LambdaOf([T("K"), T("V")], BOOLEAN)], _M, _filter_map),
])
_register("TRANSFORM", LAMBDAS, "Applies lambdas to every array element or map key and value.", [
    Overload([_A, LambdaOf([T("T")], T("U"))], ArrayOf(T("U")), _transform_array),
    Overload(
        [_M, LambdaOf([T("K"), T("V")], T("K2")), LambdaOf([T("K"), T("V")], T("V2"))],
        MapOf(T("K2"), T("V2")),
        _transform_map,
    ),
])
_register("REDUCE", LAMBDAS, "Folds an array or map into a state with a lambda.", [
    Overload([_A, T("S"), LambdaOf([T("S"), T("T")], T("S"))], T("S"), _reduce_array),
    Overload([_M, T("S"), LambdaOf([T("S"), T("K"), T("V")], T("S"))], T("S"), _reduce_map),
])
