"""Function registries: tables from an upper-cased name to its implementations.

Adding a function is adding a row::

    register_scalar(ScalarFunction("LEN", "STRING", "Length of a string.", [
        Overload([STRING], INTEGER, lambda s: None if s is None else len(s)),
        Overload([BYTES], INTEGER, lambda b: None if b is None else len(b)),
    ]))

Parameter specs are concrete :class:`SqlType` values or the generic specs below (``T("T")`` binds a
type variable, ``ArrayOf(T("T"))`` an array of it, ``LambdaOf([T("T")], T("U"))`` a lambda taking a
``T`` and returning a ``U``). A return spec may also be a callable ``(arg_types) -> SqlType``.

An overload's ``impl`` receives already-evaluated Python values (see ``ksql.sqltypes`` for the
representation) and must handle ``None`` itself; lambdas arrive as Python callables. When the
implementation depends on the argument types, give ``factory(arg_types, return_type) -> impl``
instead of ``impl``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ksql.errors import KsqlException
from ksql.sqltypes import (
    BaseType,
    SqlType,
    array,
    can_implicitly_cast,
    map_of,
)

# --------------------------------------------------------------------------------------------
# Parameter specs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class T:
    """A type variable: the first argument bound to it fixes it."""

    name: str


@dataclass(frozen=True)
class ArrayOf:
    element: Spec


@dataclass(frozen=True)
class MapOf:
    key: Spec
    value: Spec


@dataclass(frozen=True)
class AnyStruct:
    pass


@dataclass(frozen=True)
class AnyType:
    pass


@dataclass(frozen=True)
class LambdaOf:
    params: tuple[Spec, ...]
    result: Spec

    def __init__(self, params: Sequence[Spec], result: Spec) -> None:
        object.__setattr__(self, "params", tuple(params))
        object.__setattr__(self, "result", result)


Spec = SqlType | T | ArrayOf | MapOf | AnyStruct | AnyType | LambdaOf
ReturnSpec = Spec | Callable[[list[SqlType]], SqlType]
Impl = Callable[..., Any]


@dataclass
class Overload:
    params: list[Spec]
    returns: ReturnSpec
    impl: Impl | None = None
    variadic: bool = False  # the last param may repeat zero or more times
    factory: Callable[[list[SqlType], SqlType], Impl] | None = None
    description: str = ""

    def make_impl(self, arg_types: list[SqlType], return_type: SqlType) -> Impl:
        if self.factory is not None:
            return self.factory(arg_types, return_type)
        assert self.impl is not None
        return self.impl


@dataclass
class ScalarFunction:
    name: str
    category: str
    description: str
    overloads: list[Overload]
    # the name as ksqlDB's UDF declares it, used in messages; most are declared in lower case
    display_name: str = ""

    def shown_name(self) -> str:
        return self.display_name or self.name.lower()


@dataclass
class AggregateOverload:
    """An aggregate signature: column args (``params``) then literal init args (``init_params``).

    At most one of the two lists may end in a repeating (variadic) parameter.

    ``factory(arg_types, init_args)`` returns a :class:`Udaf` for one use in one query.
    """

    params: list[Spec]
    returns: ReturnSpec
    factory: Callable[[list[SqlType], list[Any]], Udaf]
    init_params: list[SqlType] = field(default_factory=list)
    description: str = ""
    variadic: bool = False  # the last column param may repeat zero or more times
    init_variadic: bool = False  # the last init param may repeat zero or more times


@dataclass
class AggregateFunction:
    name: str
    category: str
    description: str
    overloads: list[AggregateOverload]


class Udaf:
    """One aggregate's accumulator logic. The state must be picklable (it goes to state stores).

    ``undo`` is used when a table row that was aggregated changes or goes away; an aggregate that
    cannot undo sets ``supports_undo = False`` and is refused over tables.
    """

    supports_undo = True

    def initial(self) -> Any:
        raise NotImplementedError

    def add(self, state: Any, *args: Any) -> Any:
        raise NotImplementedError

    def undo(self, state: Any, *args: Any) -> Any:
        raise NotImplementedError

    def merge(self, left: Any, right: Any) -> Any:
        raise NotImplementedError

    def result(self, state: Any) -> Any:
        return state


@dataclass
class TableFunction:
    """``impl`` returns a list of output values; each becomes one row."""

    name: str
    category: str
    description: str
    overloads: list[Overload]


SCALAR_FUNCTIONS: dict[str, ScalarFunction] = {}
AGGREGATE_FUNCTIONS: dict[str, AggregateFunction] = {}
TABLE_FUNCTIONS: dict[str, TableFunction] = {}


def register_scalar(fn: ScalarFunction) -> ScalarFunction:
    existing = SCALAR_FUNCTIONS.get(fn.name.upper())
    if existing is not None:
        existing.overloads.extend(fn.overloads)
        return existing
    SCALAR_FUNCTIONS[fn.name.upper()] = fn
    return fn


def register_aggregate(fn: AggregateFunction) -> AggregateFunction:
    existing = AGGREGATE_FUNCTIONS.get(fn.name.upper())
    if existing is not None:
        existing.overloads.extend(fn.overloads)
        return existing
    AGGREGATE_FUNCTIONS[fn.name.upper()] = fn
    return fn


def register_table(fn: TableFunction) -> TableFunction:
    existing = TABLE_FUNCTIONS.get(fn.name.upper())
    if existing is not None:
        existing.overloads.extend(fn.overloads)
        return existing
    TABLE_FUNCTIONS[fn.name.upper()] = fn
    return fn


# --------------------------------------------------------------------------------------------
# Resolution
# --------------------------------------------------------------------------------------------


class LambdaArg:
    """Placeholder for a lambda argument during resolution.

    ``typer(param_types) -> result type`` is supplied by the expression compiler, which compiles the
    lambda body once the parameter types are known.
    """

    def __init__(self, arity: int, typer: Callable[[list[SqlType]], SqlType]) -> None:
        self.arity = arity
        self.typer = typer
        self.result_type: SqlType | None = None
        self.param_types: list[SqlType] | None = None


ArgKind = SqlType | LambdaArg


def _bind(spec: Spec, actual: SqlType, env: dict[str, SqlType], exact: bool) -> int | None:
    """Match ``actual`` against ``spec``; return the cost (number of implicit casts) or None."""
    if isinstance(spec, AnyType):
        return 0
    if isinstance(spec, T):
        bound = env.get(spec.name)
        if bound is None or bound.base is BaseType.NULL:
            env[spec.name] = actual
            return 0
        if actual == bound or actual.base is BaseType.NULL:
            return 0
        if not exact and can_implicitly_cast(actual, bound):
            return 1
        if not exact and can_implicitly_cast(bound, actual):
            env[spec.name] = actual
            return 1
        if bound.base is actual.base and bound.base in (BaseType.DECIMAL, BaseType.STRUCT):
            return 1
        return None
    if actual.base is BaseType.NULL:
        return 0
    if isinstance(spec, AnyStruct):
        return 0 if actual.base is BaseType.STRUCT else None
    if isinstance(spec, ArrayOf):
        if actual.base is not BaseType.ARRAY:
            return None
        return _bind(spec.element, actual.element, env, exact)  # type: ignore[arg-type]
    if isinstance(spec, MapOf):
        if actual.base is not BaseType.MAP:
            return None
        a = _bind(spec.key, actual.key, env, exact)  # type: ignore[arg-type]
        b = _bind(spec.value, actual.element, env, exact)  # type: ignore[arg-type]
        return None if a is None or b is None else a + b
    if isinstance(spec, LambdaOf):
        return None
    assert isinstance(spec, SqlType)
    if spec == actual:
        return 0
    if spec.base is BaseType.DECIMAL and actual.base is BaseType.DECIMAL and spec.precision is None:
        return 0
    if spec.base is actual.base and spec.base is BaseType.DECIMAL:
        return 0
    if spec.base is actual.base and spec.base in (BaseType.STRUCT, BaseType.ARRAY, BaseType.MAP):
        return 0 if can_implicitly_cast(actual, spec) or not spec.fields else None
    if not exact and can_implicitly_cast(actual, spec):
        return 1 + (2 if spec.base is BaseType.DOUBLE else 0)
    if not exact and actual.base is BaseType.STRING and spec.base in _TEMPORAL:
        return 1  # function arguments (only) take a STRING where a DATE/TIME/TIMESTAMP is declared
    return None


_TEMPORAL = (BaseType.DATE, BaseType.TIME, BaseType.TIMESTAMP)


def substitute(spec: Spec, env: dict[str, SqlType]) -> SqlType:
    if isinstance(spec, SqlType):
        return spec
    if isinstance(spec, T):
        if spec.name not in env:
            raise KsqlException(f"Could not infer type variable {spec.name}")
        return env[spec.name]
    if isinstance(spec, ArrayOf):
        return array(substitute(spec.element, env))
    if isinstance(spec, MapOf):
        return map_of(substitute(spec.key, env), substitute(spec.value, env))
    raise KsqlException(f"Cannot derive a concrete type from {spec}")


def _expand(params: list[Spec], variadic: bool, n: int) -> list[Spec] | None:
    if variadic:
        fixed = params[:-1]
        if n < len(fixed):
            return None
        return fixed + [params[-1]] * (n - len(fixed))
    if n != len(params):
        return None
    return list(params)


def match_overload(
    params: list[Spec], variadic: bool, args: Sequence[ArgKind], modes: tuple[bool, ...] = (True, False)
) -> tuple[int, dict[str, SqlType], list[SqlType]] | None:
    """Try one signature. Returns (cost, type-var bindings, param types per arg) or None.

    ``modes`` are the passes tried in turn: ``True`` without implicit casts, ``False`` with them.
    """
    expanded = _expand(params, variadic, len(args))
    if expanded is None:
        return None
    for exact in modes:
        env: dict[str, SqlType] = {}
        cost = 0
        ok = True
        # Plain args first so that lambdas see bound type variables.
        for spec, arg in zip(expanded, args, strict=True):
            if isinstance(arg, LambdaArg):
                if not isinstance(spec, LambdaOf) or len(spec.params) != arg.arity:
                    ok = False
                    break
                continue
            if isinstance(spec, LambdaOf):
                ok = False
                break
            c = _bind(spec, arg, env, exact)
            if c is None:
                ok = False
                break
            cost += c
        if not ok:
            continue
        for spec, arg in zip(expanded, args, strict=True):
            if isinstance(arg, LambdaArg):
                assert isinstance(spec, LambdaOf)
                ptypes = [substitute(p, env) for p in spec.params]
                arg.param_types = ptypes
                result = arg.typer(ptypes)
                arg.result_type = result
                if _bind(spec.result, result, env, False) is None:
                    ok = False
                    break
        if not ok:
            continue
        param_types: list[SqlType] = []
        for spec, arg in zip(expanded, args, strict=True):
            if isinstance(arg, LambdaArg):
                param_types.append(arg.result_type)  # type: ignore[arg-type]
            elif isinstance(spec, (AnyType, AnyStruct)):
                param_types.append(arg)
            else:
                try:
                    param_types.append(substitute(spec, env))
                except KsqlException:
                    param_types.append(arg)
        return cost, env, param_types
    return None


class AmbiguousCall(KsqlException):
    """Several signatures fit equally well (ksqlDB refuses to pick one)."""


def _generic_params(params: list[Spec]) -> int:
    def generic(spec: Spec) -> bool:
        if isinstance(spec, T):
            return True
        if isinstance(spec, ArrayOf):
            return generic(spec.element)
        if isinstance(spec, MapOf):
            return generic(spec.key) or generic(spec.value)
        if isinstance(spec, LambdaOf):
            return any(generic(p) for p in spec.params) or generic(spec.result)
        return False

    return sum(1 for p in params if generic(p))


def choose_overload(
    overloads: Sequence[Overload], args: Sequence[ArgKind]
) -> tuple[Overload, dict[str, SqlType], list[SqlType], list[ArgKind]] | None:
    """Pick the signature for a call as ksqlDB does.

    Signatures that fit without implicit casts are tried first, then those that fit with them. Of
    several fits, one that is not variadic beats a variadic one, then more declared parameters win,
    then fewer generic parameters; two fits still equal make the call ambiguous
    (:class:`AmbiguousCall`). Returns (overload, type-var bindings, param types, the arguments as
    matched: lambda placeholders carry their resolved types) or None when nothing fits.
    """
    for exact in (True, False):
        fits: list[tuple[tuple[int, int, int], Overload, dict[str, SqlType], list[SqlType], list[ArgKind]]] = []
        for ov in overloads:
            # lambda placeholders carry per-attempt results: fresh ones for each signature
            attempt: list[ArgKind] = [
                LambdaArg(k.arity, k.typer) if isinstance(k, LambdaArg) else k for k in args
            ]
            try:
                m = match_overload(ov.params, ov.variadic, attempt, (exact,))
            except KsqlException:
                m = None
            if m is None:
                continue
            _, env, ptypes = m
            rank = (0 if ov.variadic else 1, len(ov.params), -_generic_params(ov.params))
            fits.append((rank, ov, env, ptypes, attempt))
        if not fits:
            continue
        fits.sort(key=lambda f: f[0], reverse=True)
        if len(fits) > 1 and fits[0][0] == fits[1][0]:
            raise AmbiguousCall("ambiguous")
        _, ov, env, ptypes, attempt = fits[0]
        return ov, env, ptypes, attempt
    return None


def resolve_return(returns: ReturnSpec, env: dict[str, SqlType], arg_types: list[SqlType]) -> SqlType:
    if callable(returns) and not isinstance(returns, (SqlType, T, ArrayOf, MapOf, AnyStruct, AnyType)):
        return returns(arg_types)
    return substitute(returns, env)  # type: ignore[arg-type]


def describe_args(args: Sequence[ArgKind]) -> str:
    """Argument types as ksqlDB lists them in messages (an untyped NULL shows as ``null``)."""
    return ", ".join(
        "LAMBDA" if isinstance(a, LambdaArg) else "null" if a.base is BaseType.NULL else str(a)
        for a in args
    )
