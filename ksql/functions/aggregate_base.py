"""Shared pieces of the built-in aggregate functions.

Every built-in :class:`~ksql.functions.registry.Udaf` derives from :class:`BaseUdaf`, which adds two
things the planner may use:

* ``intermediate_type``: the SQL type ksqlDB gives the aggregate's state. A value format that cannot
  hold it (DELIMITED cannot hold ARRAY, MAP or STRUCT) must refuse the query with
  :data:`INTERMEDIATE_TYPE_ERROR`; :func:`has_complex_intermediate` answers the question.
* ``configure(props)``: receives the query's properties (``ksql.functions.collect_list.limit`` ...)
  once, after the factory built the instance and before any record is aggregated.

Java arithmetic is copied where results differ from Python's: INT and BIGINT sums wrap around, and
floating division by zero gives an infinity or NaN instead of raising.
"""

from __future__ import annotations

import decimal
import hashlib
import math
from collections.abc import Callable, Mapping
from typing import Any

from ksql.errors import KsqlException, KsqlFunctionException
from ksql.functions.registry import Udaf
from ksql.sqltypes import (
    BIGINT,
    BYTES,
    DATE,
    DOUBLE,
    INTEGER,
    STRING,
    TIME,
    TIMESTAMP,
    BaseType,
    SqlType,
)

CATEGORY = "AGGREGATE"

# A DECIMAL spec without precision matches every DECIMAL argument (see registry._bind).
ANY_DECIMAL = SqlType(BaseType.DECIMAL)

NUMERIC_TYPES: list[SqlType] = [INTEGER, BIGINT, DOUBLE, ANY_DECIMAL]
# Types whose values have a total order (MIN, MAX, TOPK, TOPKDISTINCT).
COMPARABLE_TYPES: list[SqlType] = [*NUMERIC_TYPES, STRING, BYTES, DATE, TIME, TIMESTAMP]

INTERMEDIATE_TYPE_ERROR = (
    "One of the functions used in the statement has an intermediate type that the value format can not "
    "handle. Please remove the function or change the format."
)

_COMPLEX = (BaseType.ARRAY, BaseType.MAP, BaseType.STRUCT)


class BaseUdaf(Udaf):
    intermediate_type: SqlType = BIGINT

    def configure(self, props: Mapping[str, Any]) -> None:
        """Read query properties; most aggregates have none."""


def has_complex_intermediate(udaf: Udaf) -> bool:
    t = getattr(udaf, "intermediate_type", None)
    return t is not None and t.base in _COMPLEX


def first_arg_type(arg_types: list[SqlType]) -> SqlType:
    return arg_types[0]


# --------------------------------------------------------------------------------------------
# Java-compatible arithmetic
# --------------------------------------------------------------------------------------------


def wrap32(v: int) -> int:
    return ((v + 2**31) % 2**32) - 2**31


def wrap64(v: int) -> int:
    return ((v + 2**63) % 2**64) - 2**63


def integral_wrapper(t: SqlType) -> Callable[[int], int]:
    return wrap32 if t.base is BaseType.INTEGER else wrap64


def java_div(a: float, b: float) -> float:
    """IEEE division as Java does it: x/0.0 is +-Infinity, 0.0/0.0 is NaN."""
    try:
        return a / b
    except ZeroDivisionError:
        if a == 0 or math.isnan(a):
            return math.nan
        negative = (a < 0) != (math.copysign(1.0, b) < 0)
        return -math.inf if negative else math.inf


# Wide enough that sums of DECIMAL(38, s) values never round before the overflow check.
DECIMAL_CONTEXT = decimal.Context(prec=100, rounding=decimal.ROUND_HALF_UP)


def check_decimal(value: decimal.Decimal, t: SqlType) -> decimal.Decimal:
    """Quantize ``value`` to ``t``'s scale; raise when it no longer fits ``t``'s precision."""
    if t.precision is None or t.scale is None:
        return value
    q = value.quantize(decimal.Decimal(1).scaleb(-t.scale), context=DECIMAL_CONTEXT)
    if q.adjusted() >= t.precision - t.scale and q != 0:
        raise KsqlFunctionException("Numeric field overflow")
    return q


def to_float(v: Any) -> float:
    return v if isinstance(v, float) else float(v)


# --------------------------------------------------------------------------------------------
# Ordering and equality of SQL values
# --------------------------------------------------------------------------------------------


def _signed_bytes(b: bytes) -> bytes:
    # Java compares byte buffers element by element as signed bytes.
    return bytes(x ^ 0x80 for x in b)


def _double_key(v: float) -> tuple[bool, float]:
    # Java's Double.compareTo puts NaN above every other value.
    return (v != v, 0.0 if v != v else v)


def sort_key(t: SqlType) -> Callable[[Any], Any] | None:
    """Key function giving ksqlDB's order for values of ``t`` (None: natural Python order)."""
    if t.base is BaseType.BYTES:
        return _signed_bytes
    if t.base is BaseType.DOUBLE:
        return _double_key
    return None


def freeze(v: Any) -> Any:
    """A hashable stand-in for a SQL value with Java ``equals`` semantics.

    Maps compare regardless of entry order; doubles compare by bit pattern, so NaN equals NaN.
    """
    if v is None or isinstance(v, (bool, int, str, bytes, decimal.Decimal)):
        return (type(v).__name__, v)
    if isinstance(v, float):
        return ("float", repr(v))
    if isinstance(v, dict):
        items = [(freeze(k), freeze(x)) for k, x in v.items()]
        items.sort(key=repr)
        return ("dict", tuple(items))
    if isinstance(v, (list, tuple)):
        return ("list", tuple(freeze(x) for x in v))
    raise KsqlException(f"Unsupported value in aggregate: {type(v).__name__}")


def stable_hash64(v: Any) -> int:
    """A 64-bit hash of a SQL value that is the same in every process (unlike ``hash``)."""
    digest = hashlib.blake2b(repr(freeze(v)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def literal_int(v: Any, fn: str, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise KsqlException(f"{fn}: {what} must be an INTEGER literal, got {v!r}")
    return v


def literal_bool(v: Any, fn: str, what: str) -> bool:
    if not isinstance(v, bool):
        raise KsqlException(f"{fn}: {what} must be a BOOLEAN literal, got {v!r}")
    return v


def int_property(props: Mapping[str, Any], name: str) -> int | None:
    """An integer property, accepting the string form properties often arrive in."""
    raw = props.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise KsqlException(f"Invalid value for {name}: {raw!r} (expected an integer)") from None


__all__ = [
    "ANY_DECIMAL",
    "CATEGORY",
    "COMPARABLE_TYPES",
    "DECIMAL_CONTEXT",
    "INTERMEDIATE_TYPE_ERROR",
    "NUMERIC_TYPES",
    "BaseUdaf",
    "check_decimal",
    "first_arg_type",
    "freeze",
    "has_complex_intermediate",
    "int_property",
    "integral_wrapper",
    "java_div",
    "literal_bool",
    "literal_int",
    "sort_key",
    "stable_hash64",
    "to_float",
    "wrap32",
    "wrap64",
]
