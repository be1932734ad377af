"""The test-extension functions ksqlDB's functional test suite has on its class path.

ksqlDB's QTT cases call a handful of UDFs, UDAFs and UDTFs that exist only in its test tree
(``TEST_UDF``, ``BAD_UDF``, ``TEST_UDTF``, ``VAR_ARG``, ...). They are registered here, through the
ordinary registry API, by the QTT runner only: a server never sees them.

Java semantics the cases rely on are kept: a primitive (``int``, ``long``, ``boolean``) parameter
cannot take NULL (the call fails, so the expression yields NULL and the failure is logged), and
``String.valueOf``/``toString`` text forms are Java's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from ksql.errors import KsqlException
from ksql.expressions.values import to_java_string
from ksql.functions import registry as reg
from ksql.functions.aggregate_base import ANY_DECIMAL, BaseUdaf
from ksql.functions.registry import (
    AggregateFunction,
    AggregateOverload,
    AnyType,
    ArrayOf,
    MapOf,
    Overload,
    ScalarFunction,
    T,
    TableFunction,
    Udaf,
)
from ksql.sqltypes import (
    BIGINT,
    BOOLEAN,
    DOUBLE,
    INTEGER,
    STRING,
    BaseType,
    SqlType,
    array,
    decimal,
    struct,
)

CATEGORY = "TEST"

STRUCT_A = struct([("A", STRING)])
STRUCT_AB = struct([("A", INTEGER), ("B", INTEGER)])


def _primitive(*values: Any) -> None:
    """A Java primitive parameter cannot be null: unboxing fails before the method runs."""
    if any(v is None for v in values):
        raise KsqlException("java.lang.NullPointerException")


def _non_null(v: Any) -> Any:
    if v is None:
        raise KsqlException("java.lang.NullPointerException")
    return v


# --------------------------------------------------------------------------------------------
# Scalar functions
# --------------------------------------------------------------------------------------------


def _constant(name: str, primitives: int) -> Callable[..., str]:
    """An overload that answers with its Java method name; the first ``primitives`` args are primitive."""

    def impl(*args: Any) -> str:
        _primitive(*args[:primitives])
        return name

    return impl


def _long_varargs(*longs: Any) -> str:
    _primitive(*longs)
    return "doStuffLongVarargs"


def _struct_a(s: dict[str, Any] | None) -> Any:
    return _non_null(s).get("A")


def _test_udf() -> ScalarFunction:
    # Registration order matters between equally cheap matches: fixed arities before varargs.
    return ScalarFunction("TEST_UDF", CATEGORY, "test", [
        Overload([INTEGER, STRING], STRING, _constant("doStuffIntString", 1),
                 description="returns the method name"),
        Overload([BIGINT, STRING], STRING, _constant("doStuffLongString", 1),
                 description="returns the method name"),
        Overload([BIGINT, BIGINT, STRING], STRING, _constant("doStuffLongLongString", 2),
                 description="returns the method name"),
        Overload([STRUCT_A], STRING, _struct_a, description="returns the value of 'A'"),
        Overload([], STRUCT_A, lambda: {"A": "foo"}, description="returns the value of 'STRUCT<A VARCHAR>'"),
        Overload([BIGINT], STRING, _long_varargs, variadic=True, description="returns method name"),
    ])


def _blow_up(arg: Any) -> str:
    raise KsqlException("boom!")


def _might_throw(arg: Any) -> int:
    _primitive(arg)
    if arg:
        raise KsqlException("You asked me to throw...")
    return 0


def _return_null_factory(arg_types: list[SqlType], return_type: SqlType) -> Callable[[Any], Any]:
    """Null on every other call, starting with the first: state belongs to one call site."""
    calls = 0

    def impl(arg: Any) -> Any:
        nonlocal calls
        calls += 1
        return None if calls % 2 == 1 else arg

    return impl


def _bad_udf() -> ScalarFunction:
    return ScalarFunction("BAD_UDF", CATEGORY, "throws exceptions when called", [
        Overload([INTEGER], STRING, _blow_up, description="throws"),
        Overload([BOOLEAN], INTEGER, _might_throw, description="throws if arg is true"),
        Overload([STRING], STRING, factory=_return_null_factory, description="returns null every other invocation"),
    ])


def _when_condition(ret: Any, should_be_evaluated: Any) -> bool:
    _primitive(ret, should_be_evaluated)
    if not should_be_evaluated:
        raise KsqlException("When condition in case is not running lazily!")
    return bool(ret)


def _when_result(ret: Any, should_be_evaluated: Any) -> int:
    _primitive(ret, should_be_evaluated)
    if not should_be_evaluated:
        raise KsqlException("Then expression in case is not running lazily!")
    return int(ret)


def _named(fn: ScalarFunction, declared: str) -> ScalarFunction:
    """Error messages name a function as its class declared it."""
    fn.display_name = declared
    return fn


def _scalars() -> list[ScalarFunction]:
    return [
        _named(_test_udf(), "test_udf"),
        _named(_bad_udf(), "bad_udf"),
        _named(ScalarFunction("WHENCONDITION", CATEGORY, "UDF used in case-expression.json", [
            Overload([BOOLEAN, BOOLEAN], BOOLEAN, _when_condition),
        ]), "WhenCondition"),
        _named(ScalarFunction("WHENRESULT", CATEGORY, "UDF used in case-expression.json", [
            Overload([INTEGER, BOOLEAN], INTEGER, _when_result),
        ]), "WhenResult"),
        _named(ScalarFunction("TOSTRUCT", CATEGORY, "converts things to a struct", [
            Overload([STRING], STRUCT_A, lambda v: {"A": v}),
        ]), "tostruct"),
    ]


# --------------------------------------------------------------------------------------------
# Table functions
# --------------------------------------------------------------------------------------------


def _java_str(v: Any, t: SqlType) -> str:
    """``String.valueOf`` / ``toString`` of a value; BigDecimal's form may be scientific."""
    if v is None:
        return "null"
    if t.base is BaseType.DECIMAL:
        return str(v)  # Decimal.__str__ is the same to-scientific-string as BigDecimal.toString
    return to_java_string(v, t)  # type: ignore[return-value]


def _first_element(v: Any) -> Any:
    """``list.get(0)`` or ``map.values().iterator().next()``: fails on null or empty."""
    v = _non_null(v)
    items = list(v.values()) if isinstance(v, dict) else v
    if not items:
        raise KsqlException("java.util.NoSuchElementException")
    return items[0]


def _element(t: SqlType) -> SqlType:
    assert t.element is not None
    return t.element


def _describe_standard(arg_types: list[SqlType], return_type: SqlType) -> Callable[..., list[str]]:
    def impl(i: Any, l: Any, d: Any, b: Any, s: Any, bd: Any, st: Any) -> list[str]:  # noqa: E741
        _primitive(i, l, d, b)
        values = [i, l, d, b, _non_null(s), _non_null(bd), _non_null(st)]
        return [_java_str(v, t) for v, t in zip(values, arg_types, strict=True)]

    return impl


def _describe_containers(arg_types: list[SqlType], return_type: SqlType) -> Callable[..., list[str]]:
    def impl(*containers: Any) -> list[str]:
        firsts = [_first_element(c) for c in containers]
        # the string, decimal and struct elements are used as objects; the others go through valueOf
        for v in firsts[4:]:
            _non_null(v)
        return [_java_str(v, _element(t)) for v, t in zip(firsts, arg_types, strict=True)]

    return impl


def _singleton(v: Any) -> list[Any]:
    return [_non_null(v)]


def _decimal_singleton(v: Any) -> list[Decimal]:
    return [_non_null(v).quantize(Decimal(1).scaleb(-10))]


def _test_udtf() -> TableFunction:
    scalars: list[Any] = [INTEGER, BIGINT, DOUBLE, BOOLEAN, STRING, ANY_DECIMAL, STRUCT_A]
    return TableFunction("TEST_UDTF", CATEGORY, "test", [
        Overload(scalars, STRING, factory=_describe_standard),
        Overload([ArrayOf(t) for t in scalars], STRING, factory=_describe_containers),
        Overload([MapOf(STRING, t) for t in scalars], STRING, factory=_describe_containers),
        Overload([MapOf(BIGINT, INTEGER), *[MapOf(STRING, t) for t in scalars[1:]]], STRING,
                 factory=_describe_containers),
        Overload([INTEGER], INTEGER, _singleton),
        Overload([BIGINT], BIGINT, _singleton),
        Overload([DOUBLE], DOUBLE, _singleton),
        Overload([BOOLEAN], BOOLEAN, _singleton),
        Overload([STRING], STRING, _singleton),
        Overload([ANY_DECIMAL], decimal(30, 10), _decimal_singleton),
        Overload([STRUCT_A], STRUCT_A, _singleton),
    ])


def _throw_if_true(should_throw: Any) -> list[bool]:
    _primitive(should_throw)
    if should_throw:
        raise KsqlException("You asked me to throw...")
    return [should_throw]


def _tables() -> list[TableFunction]:
    return [
        _test_udtf(),
        TableFunction("THROWING_UDTF", CATEGORY, "test UDTF that throws if param is true", [
            Overload([BOOLEAN], BOOLEAN, _throw_if_true),
        ]),
    ]


# --------------------------------------------------------------------------------------------
# Aggregate functions
# --------------------------------------------------------------------------------------------


class _Sum(BaseUdaf):
    """TEST_UDAF over numbers. Null inputs are left out (Java would fail on unboxing them)."""

    def __init__(self, zero: Any, undoable: bool, intermediate: SqlType) -> None:
        self.zero = zero
        self.supports_undo = undoable
        self.intermediate_type = intermediate

    def initial(self) -> Any:
        return self.zero

    def add(self, state: Any, value: Any) -> Any:
        return state if value is None else state + value

    def undo(self, state: Any, value: Any) -> Any:
        return state if value is None else state - value

    def merge(self, left: Any, right: Any) -> Any:
        return left + right


class _SumLength(BaseUdaf):
    supports_undo = False

    def __init__(self, initial_string: str | None) -> None:
        self.start = len(_non_null(initial_string))

    def initial(self) -> int:
        return self.start

    def add(self, state: int, value: Any) -> int:
        return state if value is None else state + len(value)

    def merge(self, left: int, right: int) -> int:
        return left + right


class _SumStruct(BaseUdaf):
    """``{SUM(in->A), SUM(in->B)}``."""

    supports_undo = False
    intermediate_type = STRUCT_AB

    def initial(self) -> dict[str, int]:
        return {"A": 0, "B": 0}

    def add(self, state: dict[str, int], value: Any) -> dict[str, int]:
        if value is None:
            return state
        return {f: state[f] + (value.get(f) or 0) for f in ("A", "B")}

    def merge(self, left: dict[str, int], right: dict[str, int]) -> dict[str, int]:
        return self.add(left, right)


def _test_udaf() -> AggregateFunction:
    return AggregateFunction("TEST_UDAF", CATEGORY, "test_udaf", [
        AggregateOverload([BIGINT], BIGINT, lambda t, init: _Sum(0, True, BIGINT), description="sums longs"),
        AggregateOverload([INTEGER], BIGINT, lambda t, init: _Sum(0, True, BIGINT), description="sums int"),
        AggregateOverload([DOUBLE], DOUBLE, lambda t, init: _Sum(0.0, False, DOUBLE), description="sums double"),
        AggregateOverload([STRING], BIGINT, lambda t, init: _SumLength(init[0]), init_params=[STRING],
                          description="sums the length of strings"),
        AggregateOverload([STRUCT_AB], STRUCT_AB, lambda t, init: _SumStruct(),
                          description="returns a struct with {SUM(in->A), SUM(in->B)}"),
    ])


def _length(v: Any) -> int:
    return 0 if v is None else len(v)


class _LongsAndLengths(BaseUdaf):
    """Sums its BIGINT and INT arguments and the lengths of its STRING ones; nulls count as 0.

    ``start`` is the initial value, ``bonus`` is added to the result only (MID_VAR_ARG's constant).
    """

    supports_undo = False

    def __init__(self, arg_types: list[SqlType], start: int = 0, bonus: int = 0) -> None:
        self.is_string = [t.base is BaseType.STRING for t in arg_types]
        self.start = start
        self.bonus = bonus

    def initial(self) -> int:
        return self.start

    def add(self, state: int, *args: Any) -> int:
        total = state
        for v, is_string in zip(args, self.is_string, strict=True):
            if v is not None:
                total += len(v) if is_string else v
        return total

    def merge(self, left: int, right: int) -> int:
        return left + right

    def result(self, state: int) -> int:
        return state + self.bonus


def _multi_arg_factory(arg_types: list[SqlType], init: list[Any]) -> Udaf:
    """Init args ``(int, String...)``: the start value is the int plus the strings' lengths."""
    first = _non_null(init[0])
    return _LongsAndLengths(arg_types, start=first + sum(len(_non_null(s)) for s in init[1:]))


def _mid_var_arg_factory(arg_types: list[SqlType], init: list[Any]) -> Udaf:
    return _LongsAndLengths(arg_types, bonus=_non_null(init[0]) + _non_null(init[1]))


class _FirstWhenAllPresent(BaseUdaf):
    """Collects the first argument of every row whose arguments are all non-null."""

    supports_undo = False

    def __init__(self, first: SqlType) -> None:
        self.intermediate_type = array(first)

    def initial(self) -> list[Any]:
        return []

    def add(self, state: list[Any], *args: Any) -> list[Any]:
        if any(a is None for a in args):
            return state
        return [*state, args[0]]

    def merge(self, left: list[Any], right: list[Any]) -> list[Any]:
        return [*left, *right]


def _aggregates() -> list[AggregateFunction]:
    multi_arg_init = dict(init_params=[INTEGER, STRING], init_variadic=True, factory=_multi_arg_factory)
    return [
        _test_udaf(),
        AggregateFunction("VAR_ARG", CATEGORY, "Returns the sum of the provided longs and lengths of strings.", [
            AggregateOverload([BIGINT, STRING], BIGINT, lambda t, init: _LongsAndLengths(t), variadic=True),
        ]),
        AggregateFunction(
            "MID_VAR_ARG", CATEGORY,
            "Returns the sum of the provided longs, lengths of strings, and initial arguments.",
            [AggregateOverload([BIGINT, STRING], BIGINT, _mid_var_arg_factory, variadic=True,
                               init_params=[INTEGER, INTEGER])],
        ),
        AggregateFunction("MULTI_ARG", CATEGORY, "Returns the sum of the provided longs and lengths of strings.", [
            AggregateOverload([BIGINT, STRING], BIGINT, **multi_arg_init),  # type: ignore[arg-type]
        ]),
        AggregateFunction(
            "FOUR_ARG", CATEGORY, "Returns the sum of the provided longs and lengths of strings.",
            [AggregateOverload([BIGINT, STRING, STRING, STRING], BIGINT, **multi_arg_init)],  # type: ignore[arg-type]
        ),
        AggregateFunction(
            "FIVE_ARG", CATEGORY, "Returns the sum of the provided longs, lengths of strings, and integers.",
            [AggregateOverload([BIGINT, STRING, STRING, STRING, INTEGER], BIGINT,
                               **multi_arg_init)],  # type: ignore[arg-type]
        ),
        AggregateFunction(
            "GENERIC_VAR_ARG", CATEGORY, "Returns an array of rows where all the given columns are non-null.",
            [AggregateOverload([T("A"), T("B"), T("C")], ArrayOf(T("A")),
                               lambda t, init: _FirstWhenAllPresent(t[0]), variadic=True)],
        ),
        AggregateFunction(
            "OBJ_COL_ARG", CATEGORY, "Returns an array of rows where all the given columns are non-null.",
            [AggregateOverload([INTEGER, AnyType()], array(INTEGER),
                               lambda t, init: _FirstWhenAllPresent(INTEGER), variadic=True)],
        ),
    ]


# --------------------------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------------------------

_TABLES: tuple[tuple[dict[str, Any], Callable[[Any], Any], Callable[[], list[Any]]], ...] = (
    (reg.SCALAR_FUNCTIONS, reg.register_scalar, _scalars),
    (reg.AGGREGATE_FUNCTIONS, reg.register_aggregate, _aggregates),
    (reg.TABLE_FUNCTIONS, reg.register_table, _tables),
)

_added: list[tuple[dict[str, Any], str]] | None = None


def register_test_functions() -> None:
    """Add the test functions to the registries (once; later calls do nothing)."""
    global _added
    if _added is not None:
        return
    added: list[tuple[dict[str, Any], str]] = []
    for table, register, build in _TABLES:
        for fn in build():
            if fn.name.upper() not in table:
                added.append((table, fn.name.upper()))
            register(fn)
    _added = added


def unregister_test_functions() -> None:
    """Remove what :func:`register_test_functions` added."""
    global _added
    for table, name in _added or []:
        table.pop(name, None)
    _added = None


@contextlib.contextmanager
def test_functions() -> Iterator[None]:
    """The test functions are registered inside the block, and removed after it if it added them."""
    owner = _added is None
    register_test_functions()
    try:
        yield
    finally:
        if owner:
            unregister_test_functions()


__all__ = ["register_test_functions", "test_functions", "unregister_test_functions"]
