"""Built-in numeric aggregate functions: COUNT, SUM, SUM_LIST, AVG, MIN, MAX, STDDEV_SAMP,
STDDEV_SAMPLE and CORRELATION.

Importing this module registers every built-in aggregate (the collection-valued ones live in
:mod:`ksql.functions.aggregates_collect`, imported at the bottom).

Conventions the planner relies on:

* ``factory(arg_types, init_args)`` gets the types of the column arguments only (the trailing literal
  arguments matched by ``init_params`` arrive as Python values in ``init_args``); callable
  ``returns`` specs get the same column argument types.
* ``COUNT`` has an overload with no parameters for ``COUNT(*)`` and ``COUNT()``.
* Null inputs are ignored except where ksqlDB counts them (COLLECT_LIST, COLLECT_SET, ATTR and the
  ``ignoreNulls = false`` forms of EARLIEST/LATEST_BY_OFFSET).
"""

from __future__ import annotations

import decimal
import math
from typing import Any

from ksql.functions.aggregate_base import (
    ANY_DECIMAL,
    CATEGORY,
    COMPARABLE_TYPES,
    DECIMAL_CONTEXT,
    BaseUdaf,
    check_decimal,
    first_arg_type,
    integral_wrapper,
    java_div,
    sort_key,
    to_float,
)
from ksql.functions.registry import (
    AggregateFunction,
    AggregateOverload,
    AnyType,
    ArrayOf,
    Udaf,
    register_aggregate,
)
from ksql.sqltypes import BIGINT, DOUBLE, INTEGER, BaseType, SqlType, struct

# --------------------------------------------------------------------------------------------
# COUNT
# --------------------------------------------------------------------------------------------


class CountUdaf(BaseUdaf):
    """COUNT(col) counts non-null values; COUNT(*) / COUNT() (``star``) counts rows."""

    intermediate_type = BIGINT

    def __init__(self, star: bool) -> None:
        self.star = star
        # ``add`` as an expression the aggregate operator's generated code inlines
        self.inline_add = "{s} + 1" if star else "({s} + 1 if {a0} is not None else {s})"

    def initial(self) -> int:
        return 0

    def add(self, state: int, *args: Any) -> int:
        return state + 1 if self.star or args[0] is not None else state

    def undo(self, state: int, *args: Any) -> int:
        return state - 1 if self.star or args[0] is not None else state

    def merge(self, left: int, right: int) -> int:
        return left + right


register_aggregate(AggregateFunction("COUNT", CATEGORY, "Counts rows, or the non-null values of a column.", [
    AggregateOverload([], BIGINT, lambda ts, init: CountUdaf(star=True),
                      description="Counts all rows."),
    AggregateOverload([AnyType()], BIGINT, lambda ts, init: CountUdaf(star=False),
                      description="Counts the rows where the argument is not null."),
]))

# --------------------------------------------------------------------------------------------
# SUM and SUM_LIST
# --------------------------------------------------------------------------------------------


class IntegralSumUdaf(BaseUdaf):
    """INT and BIGINT sums wrap around on overflow, as Java's do."""

    def __init__(self, t: SqlType) -> None:
        self.intermediate_type = t
        self.wrap = integral_wrapper(t)
        # ``add`` inlined by the aggregate operator's generated code: wrap only past the range
        bound = 2**31 if t.base is BaseType.INTEGER else 2**63
        self.inline_add = (f"({{s}} if {{a0}} is None else (_v if {-bound} <= (_v := {{s}} + {{a0}}) < {bound} "
                           "else {wrap}(_v)))")
        self.inline_ns = {"wrap": self.wrap}

    def initial(self) -> int:
        return 0

    def add(self, state: int, value: Any) -> int:
        return state if value is None else self.wrap(state + value)

    def undo(self, state: int, value: Any) -> int:
        return state if value is None else self.wrap(state - value)

    def merge(self, left: int, right: int) -> int:
        return self.wrap(left + right)


class DoubleSumUdaf(BaseUdaf):
    intermediate_type = DOUBLE

    def initial(self) -> float:
        return 0.0

    def add(self, state: float, value: Any) -> float:
        return state if value is None else state + to_float(value)

    def undo(self, state: float, value: Any) -> float:
        return state if value is None else state - to_float(value)

    def merge(self, left: float, right: float) -> float:
        return left + right


class DecimalSumUdaf(BaseUdaf):
    """Keeps the argument's precision and scale; a sum that no longer fits is an error."""

    def __init__(self, t: SqlType) -> None:
        self.intermediate_type = t

    def initial(self) -> decimal.Decimal:
        return check_decimal(decimal.Decimal(0), self.intermediate_type)

    def add(self, state: decimal.Decimal, value: Any) -> decimal.Decimal:
        if value is None:
            return state
        return check_decimal(DECIMAL_CONTEXT.add(state, value), self.intermediate_type)

    def undo(self, state: decimal.Decimal, value: Any) -> decimal.Decimal:
        if value is None:
            return state
        return check_decimal(DECIMAL_CONTEXT.subtract(state, value), self.intermediate_type)

    def merge(self, left: decimal.Decimal, right: decimal.Decimal) -> decimal.Decimal:
        return check_decimal(DECIMAL_CONTEXT.add(left, right), self.intermediate_type)


def _sum_factory(arg_types: list[SqlType], init: list[Any]) -> Udaf:
    t = arg_types[0]
    if t.base is BaseType.DECIMAL:
        return DecimalSumUdaf(t)
    if t.base is BaseType.DOUBLE:
        return DoubleSumUdaf()
    return IntegralSumUdaf(t)


register_aggregate(AggregateFunction("SUM", CATEGORY, "Sums the column values, ignoring nulls.", [
    AggregateOverload([INTEGER], INTEGER, _sum_factory),
    AggregateOverload([BIGINT], BIGINT, _sum_factory),
    AggregateOverload([DOUBLE], DOUBLE, _sum_factory),
    AggregateOverload([ANY_DECIMAL], first_arg_type, _sum_factory),
]))


class ListSumUdaf(BaseUdaf):
    """SUM_LIST: adds up the non-null elements of every array."""

    def __init__(self, element: SqlType) -> None:
        self.intermediate_type = element
        self.inner: Udaf = DoubleSumUdaf() if element.base is BaseType.DOUBLE else IntegralSumUdaf(element)

    def initial(self) -> Any:
        return self.inner.initial()

    def _total(self, values: list[Any]) -> Any:
        total = self.inner.initial()
        for v in values:
            total = self.inner.add(total, v)
        return total

    def add(self, state: Any, values: Any) -> Any:
        return state if values is None else self.inner.merge(state, self._total(values))

    def undo(self, state: Any, values: Any) -> Any:
        return state if values is None else self.inner.undo(state, self._total(values))

    def merge(self, left: Any, right: Any) -> Any:
        return self.inner.merge(left, right)


register_aggregate(AggregateFunction("SUM_LIST", CATEGORY, "Sums the elements of the arrays in a column.", [
    AggregateOverload([ArrayOf(t)], t, lambda ts, init: ListSumUdaf(ts[0].element))  # type: ignore[arg-type]
    for t in (INTEGER, BIGINT, DOUBLE)
]))

# --------------------------------------------------------------------------------------------
# AVG
# --------------------------------------------------------------------------------------------


class AverageUdaf(BaseUdaf):
    """State ``(sum, count)``; the average of no values is 0.0."""

    def __init__(self, t: SqlType) -> None:
        self.is_double = t.base is BaseType.DOUBLE
        self.wrap = None if self.is_double else integral_wrapper(t)
        self.intermediate_type = struct([("SUM", t), ("COUNT", BIGINT)])

    def initial(self) -> tuple[Any, int]:
        return (0.0 if self.is_double else 0, 0)

    def _plus(self, a: Any, b: Any) -> Any:
        return a + to_float(b) if self.wrap is None else self.wrap(a + b)

    def add(self, state: tuple[Any, int], value: Any) -> tuple[Any, int]:
        if value is None:
            return state
        return (self._plus(state[0], value), state[1] + 1)

    def undo(self, state: tuple[Any, int], value: Any) -> tuple[Any, int]:
        if value is None:
            return state
        return (self._plus(state[0], -value), state[1] - 1)

    def merge(self, left: tuple[Any, int], right: tuple[Any, int]) -> tuple[Any, int]:
        return (self._plus(left[0], right[0]), left[1] + right[1])

    def result(self, state: tuple[Any, int]) -> float:
        total, count = state
        return 0.0 if count == 0 else java_div(float(total), float(count))


register_aggregate(AggregateFunction("AVG", CATEGORY, "Returns the average of the column's values.", [
    AggregateOverload([t], DOUBLE, lambda ts, init: AverageUdaf(ts[0])) for t in (INTEGER, BIGINT, DOUBLE)
]))

# --------------------------------------------------------------------------------------------
# MIN and MAX
# --------------------------------------------------------------------------------------------


class ExtremumUdaf(BaseUdaf):
    """MIN or MAX of the non-null values; null until the first one arrives. Stream-only."""

    supports_undo = False

    def __init__(self, t: SqlType, want_max: bool) -> None:
        self.intermediate_type = t
        self.key = sort_key(t) or (lambda v: v)
        self.want_max = want_max

    def initial(self) -> Any:
        return None

    def add(self, state: Any, value: Any) -> Any:
        if value is None:
            return state
        if state is None:
            return value
        a, b = self.key(value), self.key(state)
        better = a > b if self.want_max else a < b
        return value if better else state

    def merge(self, left: Any, right: Any) -> Any:
        return self.add(left, right)


for _name, _max in (("MAX", True), ("MIN", False)):
    register_aggregate(AggregateFunction(
        _name, CATEGORY,
        f"Returns the {'largest' if _max else 'smallest'} non-null value of the column.",
        [
            AggregateOverload([t], first_arg_type,
                              lambda ts, init, _max=_max: ExtremumUdaf(ts[0], _max))  # type: ignore[misc]
            for t in COMPARABLE_TYPES
        ],
    ))

# --------------------------------------------------------------------------------------------
# STDDEV_SAMP, STDDEV_SAMPLE
# --------------------------------------------------------------------------------------------


class StdDevUdaf(BaseUdaf):
    """Sample standard deviation by the Youngs-Cramer update; state ``(count, sum, m2)``.

    STDDEV_SAMP (``squared``) returns the sample variance: ksqlDB shipped it that way and kept it,
    adding STDDEV_SAMPLE for the real standard deviation.
    """

    def __init__(self, t: SqlType, squared: bool) -> None:
        self.is_double = t.base is BaseType.DOUBLE
        self.wrap = None if self.is_double else integral_wrapper(t)
        self.squared = squared
        self.intermediate_type = struct([("SUM", t), ("COUNT", INTEGER), ("M2", DOUBLE)])

    def initial(self) -> tuple[int, Any, float]:
        return (0, 0.0 if self.is_double else 0, 0.0)

    def _delta(self, count: int, total: Any, x: Any) -> float:
        # x * (count + 1) - (total + x), in the argument's own arithmetic.
        if self.wrap is None:
            return x * (count + 1) - (total + x)
        return float(self.wrap(self.wrap(x * (count + 1)) - self.wrap(total + x)))

    def _plus(self, a: Any, b: Any) -> Any:
        return a + b if self.wrap is None else self.wrap(a + b)

    def add(self, state: tuple[int, Any, float], x: Any) -> tuple[int, Any, float]:
        if x is None:
            return state
        if self.is_double:
            x = to_float(x)
        count, total, m2 = state
        if count > 0:
            d = self._delta(count, total, x)
            m2 = d * d / ((count + 1) * count) + m2
        return (count + 1, self._plus(total, x), m2)

    def undo(self, state: tuple[int, Any, float], x: Any) -> tuple[int, Any, float]:
        if x is None:
            return state
        if self.is_double:
            x = to_float(x)
        count, total, m2 = state
        if count - 1 > 0:
            d = self._delta(count, total, x)
            m2 = m2 - d * d / ((count - 1) * count)
        else:
            m2 = 0.0
        return (count - 1, self._plus(total, -x), m2)

    def merge(self, left: tuple[int, Any, float], right: tuple[int, Any, float]) -> tuple[int, Any, float]:
        n1, s1, m1 = left
        n2, s2, m2 = right
        n = n1 + n2
        if n1 == 0 or n2 == 0:
            m = m1 + m2
        else:
            diff = s1 / n1 - s2 / n2
            m = m1 + m2 + n1 * n2 * diff * diff / n
        return (n, self._plus(s1, s2), m)

    def result(self, state: tuple[int, Any, float]) -> float:
        count, _, m2 = state
        if count < 2:
            return 0.0
        variance = m2 / (count - 1)
        return variance if self.squared else math.sqrt(variance)


for _name, _squared, _desc in (
    ("STDDEV_SAMP", True, "Returns the sample variance of the column (ksqlDB's STDDEV_SAMP)."),
    ("STDDEV_SAMPLE", False, "Returns the sample standard deviation of the column."),
):
    register_aggregate(AggregateFunction(_name, CATEGORY, _desc, [
        AggregateOverload([t], DOUBLE,
                          lambda ts, init, _sq=_squared: StdDevUdaf(ts[0], _sq))  # type: ignore[misc]
        for t in (INTEGER, BIGINT, DOUBLE)
    ]))

# --------------------------------------------------------------------------------------------
# CORRELATION
# --------------------------------------------------------------------------------------------

_CORRELATION_STATE = struct([
    ("X_SUM", DOUBLE), ("Y_SUM", DOUBLE), ("X_SQUARED_SUM", DOUBLE), ("Y_SQUARED_SUM", DOUBLE),
    ("XY_SUM", DOUBLE), ("COUNT", BIGINT),
])

_CorrState = tuple[float, float, float, float, float, int]


class CorrelationUdaf(BaseUdaf):
    """Pearson correlation by the single-pass sums formula; NaN with fewer than two points."""

    intermediate_type = _CORRELATION_STATE

    def initial(self) -> _CorrState:
        return (0.0, 0.0, 0.0, 0.0, 0.0, 0)

    def _step(self, s: _CorrState, x: Any, y: Any, sign: int) -> _CorrState:
        if x is None or y is None:
            return s
        x, y = to_float(x), to_float(y)
        if sign > 0:
            return (s[0] + x, s[1] + y, s[2] + x * x, s[3] + y * y, s[4] + x * y, s[5] + 1)
        return (s[0] - x, s[1] - y, s[2] - x * x, s[3] - y * y, s[4] - x * y, s[5] - 1)

    def add(self, state: _CorrState, x: Any, y: Any) -> _CorrState:
        return self._step(state, x, y, 1)

    def undo(self, state: _CorrState, x: Any, y: Any) -> _CorrState:
        return self._step(state, x, y, -1)

    def merge(self, left: _CorrState, right: _CorrState) -> _CorrState:
        return tuple(a + b for a, b in zip(left, right, strict=True))  # type: ignore[return-value]

    def result(self, state: _CorrState) -> float:
        sx, sy, sxx, syy, sxy, n = state
        numerator = n * sxy - sx * sy
        var_x = n * sxx - sx * sx
        var_y = n * syy - sy * sy
        product = var_x * var_y
        denominator = math.sqrt(product) if product >= 0 else math.nan
        return java_div(numerator, denominator)


register_aggregate(AggregateFunction(
    "CORRELATION", CATEGORY, "Computes the Pearson correlation coefficient between two columns.",
    [AggregateOverload([DOUBLE, DOUBLE], DOUBLE, lambda ts, init: CorrelationUdaf())],
))

# The collection-valued aggregates register themselves on import.
from ksql.functions import aggregates_collect as _aggregates_collect  # noqa: E402,F401

__all__ = [
    "AverageUdaf",
    "CorrelationUdaf",
    "CountUdaf",
    "DecimalSumUdaf",
    "DoubleSumUdaf",
    "ExtremumUdaf",
    "IntegralSumUdaf",
    "ListSumUdaf",
    "StdDevUdaf",
]
