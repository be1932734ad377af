"""Compile ksql expressions once per query into Python callables over rows.

Each expression is typed and turned into Python source (a single expression over the row dict
``r``), then ``exec``-ed once. NULL propagates as in ksqlDB: arithmetic and comparisons with NULL
give NULL; a function that throws gives NULL (and a processing-log entry); any other failure while
evaluating makes the whole top-level expression NULL.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlglot import exp

from ksql.dialect import nodes
from ksql.errors import KsqlException, KsqlStatementException
from ksql.expressions import casts, values
from ksql.functions import registry as reg
from ksql.sqltypes import (
    BIGINT,
    BOOLEAN,
    DOUBLE,
    INTEGER,
    NULL,
    STRING,
    BaseType,
    SqlType,
    array,
    decimal,
    decimal_of_integral,
    map_of,
    struct,
    widest_numeric,
)

_B = BaseType
ErrorLogger = Callable[[str], None]

TIME_UNITS = {
    "MILLISECOND", "MILLISECONDS", "SECOND", "SECONDS", "MINUTE", "MINUTES", "HOUR", "HOURS",
    "DAY", "DAYS", "WEEK", "WEEKS", "MONTH", "MONTHS", "YEAR", "YEARS",
}


@dataclass
class ColumnRef:
    key: str  # key into the row dict
    type: SqlType


class Scope:
    """Resolves ``[qualifier.]NAME`` to a row-dict key and type."""

    def __init__(
        self,
        columns: dict[str, SqlType],
        qualified: dict[tuple[str, str], str] | None = None,
        aliases: dict[str, str] | None = None,
    ) -> None:
        self.columns = columns  # row key -> type
        self.qualified = qualified or {}  # (source alias, column name) -> row key
        self.aliases = aliases or {}  # unqualified name -> row key, when it differs

    def resolve(self, qualifier: str | None, name: str) -> ColumnRef:
        if qualifier is not None:
            key = self.qualified.get((qualifier, name))
            if key is None:
                if not any(q == qualifier for q, _ in self.qualified) and (qualifier, name) not in self.qualified:
                    if name in self.columns and not self.qualified:
                        return ColumnRef(name, self.columns[name])
                raise KsqlException(f"Column '{qualifier}.{name}' cannot be resolved.")
            return ColumnRef(key, self.columns[key])
        key = self.aliases.get(name, name)
        if key in self.columns:
            return ColumnRef(key, self.columns[key])
        matches = [k for (q, n), k in self.qualified.items() if n == name]
        if len(set(matches)) == 1:
            return ColumnRef(matches[0], self.columns[matches[0]])
        if len(set(matches)) > 1:
            raise KsqlException(f"Column '{name}' is ambiguous. Could be any of: " + ", ".join(
                sorted(f"{q}.{n}" for (q, n) in self.qualified if n == name)))
        raise KsqlException(f"Column '{name}' cannot be resolved.")


@dataclass
class Compiled:
    fn: Callable[[dict[str, Any]], Any]
    type: SqlType
    text: str


@dataclass
class _Ctx:
    lambda_vars: dict[str, tuple[str, SqlType]] = field(default_factory=dict)


def literal_type(text: str, is_string: bool) -> tuple[Any, SqlType]:
    if is_string:
        return text, STRING
    t = text
    if any(c in t for c in "eE"):
        v = float(t)
        if v in (float("inf"), float("-inf")):
            raise KsqlException(f"Number overflows DOUBLE: {text}")
        return v, DOUBLE
    if "." in t:
        d = Decimal(t)
        sign, digits, e = d.as_tuple()
        scale = max(-int(e), 0)
        prec = max(len(digits), scale)
        return d, decimal(prec, scale)
    v = int(t)
    if -(2**31) <= v < 2**31:
        return v, INTEGER
    if -(2**63) <= v < 2**63:
        return v, BIGINT
    raise KsqlException(f"Invalid numeric literal: {text}")


def _common_type(types: list[SqlType], what: str) -> SqlType:
    result = NULL
    for t in types:
        if t.base is _B.NULL:
            continue
        if result.base is _B.NULL:
            result = t
        elif result == t:
            continue
        elif result.is_numeric and t.is_numeric:
            result = widest_numeric(result, t)
        elif result.base is t.base and result.base in (_B.ARRAY, _B.MAP, _B.STRUCT):
            continue
        else:
            raise KsqlException(f"invalid input syntax for type {result}: {what}")
    return result


class ExpressionCompiler:
    def __init__(self, scope: Scope, log_error: ErrorLogger | None = None) -> None:
        self.scope = scope
        self.log_error = log_error or (lambda msg: None)
        self._ns: dict[str, Any] = {
            "_V": values,
            "Decimal": Decimal,
            "_KsqlException": KsqlException,
        }
        self._counter = itertools.count()

    # -- public -----------------------------------------------------------------------------
    def type_of(self, node: exp.Expression) -> SqlType:
        return self._gen(node, _Ctx())[1]

    def compile(self, node: exp.Expression, safe: bool = True) -> Compiled:
        code, t = self._gen(node, _Ctx())
        text = expr_sql(node)
        name = f"_expr{next(self._counter)}"
        err = self._const(self.log_error)
        if safe:
            src = (
                f"def {name}(r):\n"
                f"    try:\n        return {code}\n"
                f"    except Exception as e:\n"
                f"        {err}('Error computing expression {_pyquote(text)}: ' + str(e))\n"
                f"        return None\n"
            )
        else:
            src = f"def {name}(r):\n    return {code}\n"
        exec(compile(src, f"<ksql {text[:60]}>", "exec"), self._ns)
        return Compiled(self._ns[name], t, text)

    # -- helpers ----------------------------------------------------------------------------
    def _const(self, value: Any) -> str:
        name = f"_c{next(self._counter)}"
        self._ns[name] = value
        return name

    def _tmp(self) -> str:
        return f"_t{next(self._counter)}"

    def _null_guard(self, parts: list[str], body: Callable[[list[str]], str]) -> str:
        names = [self._tmp() for _ in parts]
        cond = " or ".join(f"({n} := {p}) is None" for n, p in zip(names, parts, strict=True))
        return f"(None if {cond} else {body(names)})"

    def _coerce(self, code: str, src: SqlType, dst: SqlType) -> str:
        """Convert an evaluated value from src to dst type (implicit widening)."""
        if src == dst or src.base is _B.NULL:
            return code
        if dst.base is _B.DOUBLE and src.base in (_B.INTEGER, _B.BIGINT, _B.DECIMAL):
            t = self._tmp()
            return f"(None if ({t} := {code}) is None else float({t}))"
        if dst.base is _B.DECIMAL and src.base in (_B.INTEGER, _B.BIGINT):
            t = self._tmp()
            return f"(None if ({t} := {code}) is None else Decimal({t}))"
        if dst.base in (_B.ARRAY, _B.MAP, _B.STRUCT) and src.base is dst.base and src != dst:
            try:
                conv = casts.converter(src, dst)
            except KsqlException:
                return code
            if conv is None:
                return code
            c = self._const(conv)
            t = self._tmp()
            return f"(None if ({t} := {code}) is None else {c}({t}))"
        return code

    # -- generation -------------------------------------------------------------------------
    def _gen(self, node: exp.Expression, ctx: _Ctx) -> tuple[str, SqlType]:
        method = getattr(self, f"_gen_{type(node).__name__}", None)
        if method is None:
            raise KsqlException(f"Unsupported expression: {expr_sql(node)}")
        return method(node, ctx)

    def _gen_Paren(self, node: exp.Paren, ctx: _Ctx) -> tuple[str, SqlType]:
        return self._gen(node.this, ctx)

    def _gen_Literal(self, node: exp.Literal, ctx: _Ctx) -> tuple[str, SqlType]:
        v, t = literal_type(node.this, node.is_string)
        return (repr(v) if not isinstance(v, Decimal) else self._const(v)), t

    def _gen_Null(self, node: exp.Null, ctx: _Ctx) -> tuple[str, SqlType]:
        return "None", NULL

    def _gen_Boolean(self, node: exp.Boolean, ctx: _Ctx) -> tuple[str, SqlType]:
        return ("True" if node.this else "False"), BOOLEAN

    def _gen_Column(self, node: exp.Column, ctx: _Ctx) -> tuple[str, SqlType]:
        name = node.name
        qual = node.table or None
        if qual is None and name in ctx.lambda_vars:
            var, t = ctx.lambda_vars[name]
            return var, t
        ref = self.scope.resolve(qual, name)
        return f"r.get({ref.key!r})", ref.type

    def _gen_Identifier(self, node: exp.Identifier, ctx: _Ctx) -> tuple[str, SqlType]:
        return self._gen_Column(exp.Column(this=node), ctx)

    def _gen_Dereference(self, node: nodes.Dereference, ctx: _Ctx) -> tuple[str, SqlType]:
        code, t = self._gen(node.this, ctx)
        name = node.args["field"]
        if t.base is not _B.STRUCT:
            raise KsqlException(f"Expected STRUCT type, got: {t}")
        ft = t.field_type(name)
        if ft is None:
            matches = [n for n, _ in t.fields if n.upper() == name.upper()]
            if len(matches) == 1:
                name = matches[0]
                ft = t.field_type(name)
        if ft is None:
            raise KsqlException(f"Could not find field '{name}' in '{expr_sql(node.this)}'.")
        tmp = self._tmp()
        return f"(None if ({tmp} := {code}) is None else {tmp}.get({name!r}))", ft

    def _gen_Bracket(self, node: exp.Bracket, ctx: _Ctx) -> tuple[str, SqlType]:
        code, t = self._gen(node.this, ctx)
        idx_code, it = self._gen(node.expressions[0], ctx)
        if t.base is _B.ARRAY:
            fn = self._const(_array_index)
            return self._null_guard([code, idx_code], lambda n: f"{fn}({n[0]}, {n[1]})"), t.element  # type: ignore[return-value]
        if t.base is _B.MAP:
            return self._null_guard([code, idx_code], lambda n: f"{n[0]}.get({n[1]})"), t.element  # type: ignore[return-value]
        raise KsqlException(f"Subscript expression not supported on type {t}")

    # arithmetic
    def _arith(self, node: exp.Expression, ctx: _Ctx, op: str) -> tuple[str, SqlType]:
        a, at = self._gen(node.this, ctx)
        b, bt = self._gen(node.expression, ctx)
        if op == "+" and (at.base is _B.STRING or bt.base is _B.STRING):
            if at.base in (_B.STRING, _B.NULL) and bt.base in (_B.STRING, _B.NULL):
                return self._null_guard([a, b], lambda n: f"{n[0]} + {n[1]}"), STRING
        if at.base is _B.NULL and bt.base is _B.NULL:
            return "None", NULL
        if at.base is _B.NULL:
            at = bt
        if bt.base is _B.NULL:
            bt = at
        if not (at.is_numeric and bt.is_numeric):
            opname = {"+": "+", "-": "-", "*": "*", "/": "/", "%": "%"}[op]
            raise KsqlException(
                f"Error processing expression: {expr_sql(node)}. Unsupported arithmetic types. {at} {bt}"
                if opname else "")
        if at.base is _B.DOUBLE or bt.base is _B.DOUBLE:
            a2 = self._coerce(a, at, DOUBLE)
            b2 = self._coerce(b, bt, DOUBLE)
            if op == "/":
                return self._null_guard([a2, b2], lambda n: f"_V.float_div({n[0]}, {n[1]})"), DOUBLE
            if op == "%":
                return self._null_guard([a2, b2], lambda n: f"_V.float_mod({n[0]}, {n[1]})"), DOUBLE
            return self._null_guard([a2, b2], lambda n: f"({n[0]} {op} {n[1]})"), DOUBLE
        if at.base is _B.DECIMAL or bt.base is _B.DECIMAL:
            da, db = decimal_of_integral(at), decimal_of_integral(bt)
            rt = _decimal_result(op, da, db)
            a2 = self._coerce(a, at, da)
            b2 = self._coerce(b, bt, db)
            tc = self._const(rt)
            if op == "/":
                return self._null_guard([a2, b2], lambda n: f"_V.decimal_div({n[0]}, {n[1]}, {tc})"), rt
            if op == "%":
                return self._null_guard([a2, b2], lambda n: f"_V.decimal_mod({n[0]}, {n[1]}, {tc})"), rt
            return self._null_guard([a2, b2], lambda n: f"_V.quantize({n[0]} {op} {n[1]}, {tc})"), rt
        rt = BIGINT if BIGINT in (at, bt) else INTEGER
        wrap = "_V.wrap64" if rt == BIGINT else "_V.wrap32"
        if op == "/":
            return self._null_guard([a, b], lambda n: f"_V.int_div({n[0]}, {n[1]})"), rt
        if op == "%":
            return self._null_guard([a, b], lambda n: f"_V.int_mod({n[0]}, {n[1]})"), rt
        return self._null_guard([a, b], lambda n: f"{wrap}({n[0]} {op} {n[1]})"), rt

    def _gen_Add(self, node: exp.Add, ctx: _Ctx) -> tuple[str, SqlType]:
        return self._arith(node, ctx, "+")

    def _gen_Sub(self, node: exp.Sub, ctx: _Ctx) -> tuple[str, SqlType]:
        return self._arith(node, ctx, "-")

    def _gen_Mul(self, node: exp.Mul, ctx: _Ctx) -> tuple[str, SqlType]:
        return self._arith(node, ctx, "*")

    def _gen_Div(self, node: exp.Div, ctx: _Ctx) -> tuple[str, SqlType]:
        return self._arith(node, ctx, "/")

    def _gen_IntDiv(self, node: exp.IntDiv, ctx: _Ctx) -> tuple[str, SqlType]:
        return self._arith(node, ctx, "/")

    def _gen_Mod(self, node: exp.Mod, ctx: _Ctx) -> tuple[str, SqlType]:
        return self._arith(node, ctx, "%")

    def _gen_DPipe(self, node: exp.DPipe, ctx: _Ctx) -> tuple[str, SqlType]:
        a, _ = self._gen(node.this, ctx)
        b, _ = self._gen(node.expression, ctx)
        return self._null_guard([a, b], lambda n: f"({n[0]} + {n[1]})"), STRING

    def _gen_Neg(self, node: exp.Neg, ctx: _Ctx) -> tuple[str, SqlType]:
        inner = node.this
        if isinstance(inner, exp.Literal) and not inner.is_string:
            v, t = literal_type("-" + inner.this, False)
            return (repr(v) if not isinstance(v, Decimal) else self._const(v)), t
        code, t = self._gen(inner, ctx)
        if not t.is_numeric and t.base is not _B.NULL:
            raise KsqlException(f"Unsupported negation of type {t}")
        if t.is_integral:
            wrap = "_V.wrap64" if t == BIGINT else "_V.wrap32"
            return self._null_guard([code], lambda n: f"{wrap}(-{n[0]})"), t
        return self._null_guard([code], lambda n: f"(-{n[0]})"), t

    # comparisons
    def _comparable(self, node: exp.Expression, ctx: _Ctx, opname: str) -> tuple[str, str]:
        a, at = self._gen(node.this, ctx)
        b, bt = self._gen(node.expression, ctx)
        return self._unify_for_compare(a, at, b, bt, opname, node)

    def _unify_for_compare(
        self, a: str, at: SqlType, b: str, bt: SqlType, opname: str, node: exp.Expression
    ) -> tuple[str, str]:
        if at.base is _B.NULL or bt.base is _B.NULL or at == bt:
            return a, b
        if at.is_numeric and bt.is_numeric:
            ct = widest_numeric(at, bt)
            if ct.base is _B.DECIMAL:
                return self._coerce(a, at, ct), self._coerce(b, bt, ct)
            if ct.base is _B.DOUBLE:
                return self._coerce(a, at, DOUBLE), self._coerce(b, bt, DOUBLE)
            return a, b
        temporal = (_B.TIMESTAMP, _B.DATE, _B.TIME)
        if at.base in temporal and bt.base is _B.STRING:
            return a, self._coerce_str_temporal(b, at)
        if bt.base in temporal and at.base is _B.STRING:
            return self._coerce_str_temporal(a, bt), b
        if at.base in temporal and bt.base in temporal:
            if {at.base, bt.base} == {_B.TIMESTAMP, _B.DATE}:
                conv_a = self._coerce_temporal(a, at)
                conv_b = self._coerce_temporal(b, bt)
                return conv_a, conv_b
        if at.base is bt.base:
            return a, b
        raise KsqlException(
            f"Cannot compare {expr_sql(node.this)} ({at}) to {expr_sql(node.expression)} ({bt}) "
            f"with {opname}."
        )

    def _coerce_temporal(self, code: str, t: SqlType) -> str:
        if t.base is _B.DATE:
            tmp = self._tmp()
            return f"(None if ({tmp} := {code}) is None else {tmp} * 86400000)"
        return code

    def _coerce_str_temporal(self, code: str, t: SqlType) -> str:
        conv = casts.converter(STRING, t)
        c = self._const(conv)
        tmp = self._tmp()
        return f"(None if ({tmp} := {code}) is None else {c}({tmp}))"

    def _cmp(self, node: exp.Expression, ctx: _Ctx, op: str, opname: str) -> tuple[str, SqlType]:
        a, b = self._comparable(node, ctx, opname)
        return self._null_guard([a, b], lambda n: f"({n[0]} {op} {n[1]})"), BOOLEAN

    def _gen_EQ(self, node: exp.EQ, ctx: _Ctx) -> tuple[str, SqlType]:
        return self._cmp(node, ctx, "==", "EQUAL")

    def _gen_NEQ(self, node: exp.NEQ, ctx: _Ctx) -> tuple[str, SqlType]:
        return self._cmp(node, ctx, "!=", "NOT_EQUAL")

    def _gen_GT(self, node: exp.GT, ctx: _Ctx) -> tuple[str, SqlType]:
        return self._cmp(node, ctx, ">", "GREATER_THAN")

    def _gen_GTE(self, node: exp.GTE, ctx: _Ctx) -> tuple[str, SqlType]:
        return self._cmp(node, ctx, ">=", "GREATER_THAN_OR_EQUAL")

    def _gen_LT(self, node: exp.LT, ctx: _Ctx) -> tuple[str, SqlType]:
        return self._cmp(node, ctx, "<", "LESS_THAN")

    def _gen_LTE(self, node: exp.LTE, ctx: _Ctx) -> tuple[str, SqlType]:
        return self._cmp(node, ctx, "<=", "LESS_THAN_OR_EQUAL")

    def _gen_NullSafeEQ(self, node: exp.NullSafeEQ, ctx: _Ctx) -> tuple[str, SqlType]:
        a, b = self._comparable(node, ctx, "NOT_DISTINCT")
        return f"({a} == {b})", BOOLEAN

    def _gen_NullSafeNEQ(self, node: exp.NullSafeNEQ, ctx: _Ctx) -> tuple[str, SqlType]:
        a, b = self._comparable(node, ctx, "IS_DISTINCT_FROM")
        return f"({a} != {b})", BOOLEAN

    def _gen_Is(self, node: exp.Is, ctx: _Ctx) -> tuple[str, SqlType]:
        a, _ = self._gen(node.this, ctx)
        target = node.expression
        if isinstance(target, exp.Null):
            return f"({a} is None)", BOOLEAN
        b, _ = self._gen(target, ctx)
        return f"({a} is {b})", BOOLEAN

    def _bool_operand(self, node: exp.Expression, ctx: _Ctx) -> str:
        code, t = self._gen(node, ctx)
        if t.base not in (_B.BOOLEAN, _B.NULL):
            raise KsqlException(f"Type mismatch: expected BOOLEAN but got {t}: {expr_sql(node)}")
        return code

    def _gen_And(self, node: exp.And, ctx: _Ctx) -> tuple[str, SqlType]:
        a = self._bool_operand(node.this, ctx)
        b = self._bool_operand(node.expression, ctx)
        fn = self._const(_and3)
        return f"{fn}({a}, lambda: {b})", BOOLEAN

    def _gen_Or(self, node: exp.Or, ctx: _Ctx) -> tuple[str, SqlType]:
        a = self._bool_operand(node.this, ctx)
        b = self._bool_operand(node.expression, ctx)
        fn = self._const(_or3)
        return f"{fn}({a}, lambda: {b})", BOOLEAN

    def _gen_Not(self, node: exp.Not, ctx: _Ctx) -> tuple[str, SqlType]:
        a = self._bool_operand(node.this, ctx)
        return self._null_guard([a], lambda n: f"(not {n[0]})"), BOOLEAN

    def _gen_Like(self, node: exp.Like, ctx: _Ctx, escape: str | None = None) -> tuple[str, SqlType]:
        a, at = self._gen(node.this, ctx)
        pat = node.expression
        negate = bool(node.args.get("negate"))
        if isinstance(pat, exp.Literal) and pat.is_string:
            rx = self._const(values.like_regex(pat.this, escape))
            code = self._null_guard([a], lambda n: f"({rx}.fullmatch({n[0]}) is not None)")
        else:
            p, _ = self._gen(pat, ctx)
            esc = repr(escape)
            code = self._null_guard([a, p], lambda n: f"(_V.like_regex({n[1]}, {esc}).fullmatch({n[0]}) is not None)")
        if negate:
            code = self._null_guard([code], lambda n: f"(not {n[0]})")
        return code, BOOLEAN

    def _gen_Escape(self, node: exp.Escape, ctx: _Ctx) -> tuple[str, SqlType]:
        like = node.this
        esc = node.expression
        if not isinstance(like, exp.Like) or not isinstance(esc, exp.Literal):
            raise KsqlException(f"Unsupported ESCAPE expression: {expr_sql(node)}")
        return self._gen_Like(like, ctx, esc.this)

    def _gen_In(self, node: exp.In, ctx: _Ctx) -> tuple[str, SqlType]:
        a, at = self._gen(node.this, ctx)
        items = []
        for e in node.expressions:
            c, t = self._gen(e, ctx)
            ca, cb = self._unify_for_compare(a, at, c, t, "IN", exp.EQ(this=node.this, expression=e))
            items.append(cb)
            a_conv = ca
        if not items:
            return "False", BOOLEAN
        fn = self._const(_in3)
        code = self._null_guard([a_conv], lambda n: f"{fn}({n[0]}, ({', '.join(items)},))")
        if node.args.get("negate"):
            code = self._null_guard([code], lambda n: f"(not {n[0]})")
        return code, BOOLEAN

    def _gen_Between(self, node: exp.Between, ctx: _Ctx) -> tuple[str, SqlType]:
        ge = exp.GTE(this=node.this, expression=node.args["low"])
        le = exp.LTE(this=node.this, expression=node.args["high"])
        a, _ = self._gen(ge, ctx)
        b, _ = self._gen(le, ctx)
        fn = self._const(_and3)
        code = f"{fn}({a}, lambda: {b})"
        if node.args.get("negate") or node.args.get("symmetric") is False and False:
            code = self._null_guard([code], lambda n: f"(not {n[0]})")
        return code, BOOLEAN

    def _gen_Case(self, node: exp.Case, ctx: _Ctx) -> tuple[str, SqlType]:
        operand = node.this
        branches: list[tuple[str, str, SqlType]] = []
        for ifn in node.args.get("ifs") or []:
            cond_node = ifn.this
            if operand is not None:
                cond_node = exp.EQ(this=operand, expression=cond_node)
            cond, ct = self._gen(cond_node, ctx)
            if ct.base not in (_B.BOOLEAN, _B.NULL):
                raise KsqlException(f"WHEN operand type should be boolean. Type for '{expr_sql(ifn.this)}' is {ct}")
            val, vt = self._gen(ifn.args["true"], ctx)
            branches.append((cond, val, vt))
        default = node.args.get("default")
        dcode, dt = self._gen(default, ctx) if default is not None else ("None", NULL)
        try:
            rt = _common_type([b[2] for b in branches] + [dt], "CASE")
        except KsqlException as e:
            raise KsqlException(
                "Invalid Case expression. Type for all 'THEN' clauses should be the same."
                f"\nTHEN expression '{expr_sql(node)}' has type: {dt}."
            ) from e
        code = self._coerce(dcode, dt, rt)
        for cond, val, vt in reversed(branches):
            code = f"({self._coerce(val, vt, rt)} if {cond} else {code})"
        return code, rt

    def _gen_If(self, node: exp.If, ctx: _Ctx) -> tuple[str, SqlType]:
        return self._gen_Case(exp.Case(ifs=[node]), ctx)

    def _gen_KsqlCast(self, node: nodes.KsqlCast, ctx: _Ctx) -> tuple[str, SqlType]:
        code, st = self._gen(node.this, ctx)
        dt = node.args["to"]
        try:
            conv = casts.converter(st, dt)
        except casts.CastError as e:
            raise KsqlException(str(e)) from e
        if conv is None:
            return code, dt
        c = self._const(conv)
        return self._null_guard([code], lambda n: f"{c}({n[0]})"), dt

    def _gen_Array(self, node: exp.Array, ctx: _Ctx) -> tuple[str, SqlType]:
        parts = [self._gen(e, ctx) for e in node.expressions]
        if not parts:
            return "[]", array(NULL)
        try:
            et = _common_type([t for _, t in parts], "ARRAY")
        except KsqlException as e:
            raise KsqlException(
                "invalid input syntax for type "
                + str(next(t for _, t in parts if t.base is not _B.NULL))
                + f': "{expr_sql(node)}"'
            ) from e
        if et.base is _B.NULL:
            raise KsqlException("Cannot construct an array with all NULL elements (see https://github.com/confluentinc/ksql/issues/4239). As a workaround, you may cast a NULL value to the desired type.")
        return "[" + ", ".join(self._coerce(c, t, et) for c, t in parts) + "]", array(et)

    def _gen_Map(self, node: exp.Map, ctx: _Ctx) -> tuple[str, SqlType]:
        pairs = _map_pairs(node)
        ks = [self._gen(k, ctx) for k, _ in pairs]
        vs = [self._gen(v, ctx) for _, v in pairs]
        if not pairs:
            return "{}", map_of(STRING, NULL)
        kt = _common_type([t for _, t in ks], "MAP")
        vt = _common_type([t for _, t in vs], "MAP")
        if vt.base is _B.NULL:
            raise KsqlException("Cannot construct a map with all NULL values (see https://github.com/confluentinc/ksql/issues/4239). As a workaround, you may cast a NULL value to the desired type.")
        items = ", ".join(
            f"{self._coerce(kc, kt2, kt)}: {self._coerce(vc, vt2, vt)}"
            for (kc, kt2), (vc, vt2) in zip(ks, vs, strict=True)
        )
        return "{" + items + "}", map_of(kt, vt)

    def _gen_VarMap(self, node: exp.VarMap, ctx: _Ctx) -> tuple[str, SqlType]:
        return self._gen_Map(node, ctx)  # type: ignore[arg-type]

    def _gen_Struct(self, node: exp.Struct, ctx: _Ctx) -> tuple[str, SqlType]:
        fields: list[tuple[str, SqlType]] = []
        items = []
        for e in node.expressions:
            if isinstance(e, (exp.PropertyEQ, exp.Slice)) or hasattr(e, "this") and "expression" in e.args:
                name_node = e.this
                name = name_node.name if isinstance(name_node, (exp.Identifier, exp.Column)) else str(name_node.this)
                code, t = self._gen(e.args["expression"], ctx)
            else:
                raise KsqlException(f"Invalid struct field: {expr_sql(e)}")
            if t.base is _B.NULL:
                t = STRING
            fields.append((name, t))
            items.append(f"{name!r}: {code}")
        return "{" + ", ".join(items) + "}", struct(fields)

    def _gen_KsqlLambda(self, node: nodes.KsqlLambda, ctx: _Ctx) -> tuple[str, SqlType]:
        raise KsqlException("Lambdas are only allowed as function arguments")

    def _gen_IntervalUnitExpr(self, node: nodes.IntervalUnitExpr, ctx: _Ctx) -> tuple[str, SqlType]:
        return repr(node.this), STRING

    def _gen_Star(self, node: exp.Star, ctx: _Ctx) -> tuple[str, SqlType]:
        raise KsqlException("'*' is only allowed in COUNT(*) and SELECT *")

    def _gen_Anonymous(self, node: exp.Anonymous, ctx: _Ctx) -> tuple[str, SqlType]:
        name = str(node.this).upper()
        args = list(node.expressions)
        fn = reg.SCALAR_FUNCTIONS.get(name)
        if fn is None:
            if name in reg.AGGREGATE_FUNCTIONS:
                raise KsqlException(
                    f"Use of aggregate function {name} requires a GROUP BY clause."
                )
            if name in reg.TABLE_FUNCTIONS:
                raise KsqlException(f"Table functions are only supported as top-level select items: {name}")
            raise KsqlException(f"Can't find any functions with the name '{name}'")
        kinds: list[reg.ArgKind] = []
        codes: list[str | None] = []
        lambda_nodes: dict[int, nodes.KsqlLambda] = {}
        for i, a in enumerate(args):
            if isinstance(a, nodes.KsqlLambda):
                lam = a
                params = lam.args["params"]

                def typer(ptypes: list[SqlType], lam: nodes.KsqlLambda = lam, params: list[str] = params) -> SqlType:
                    sub = _Ctx(dict(ctx.lambda_vars))
                    for p, t in zip(params, ptypes, strict=True):
                        sub.lambda_vars[p] = (f"_l_{p}", t)
                    return self._gen(lam.this, sub)[1]

                kinds.append(reg.LambdaArg(len(params), typer))
                codes.append(None)
                lambda_nodes[i] = lam
            else:
                c, t = self._gen(a, ctx)
                kinds.append(t)
                codes.append(c)
        best: tuple[int, reg.Overload, dict[str, SqlType], list[SqlType]] | None = None
        for ov in fn.overloads:
            # re-create LambdaArgs per attempt (they carry results)
            attempt = [
                reg.LambdaArg(k.arity, k.typer) if isinstance(k, reg.LambdaArg) else k for k in kinds
            ]
            try:
                m = reg.match_overload(ov.params, ov.variadic, attempt)
            except KsqlException:
                m = None
            if m is None:
                continue
            cost, env, ptypes = m
            if best is None or cost < best[0]:
                best = (cost, ov, env, ptypes)
                best_attempt = attempt
            if cost == 0:
                break
        if best is None:
            raise KsqlException(
                f"Function '{name}' does not accept parameters ({reg.describe_args(kinds)}).\n"
                f"Valid alternatives are:\n"
                + "\n".join(f"{name}({', '.join(map(str, o.params))})" for o in fn.overloads)
            )
        _, ov, env, ptypes = best
        arg_types = [
            (k.result_type if isinstance(k, reg.LambdaArg) else k) for k in best_attempt
        ]
        rt = reg.resolve_return(ov.returns, env, arg_types)  # type: ignore[arg-type]
        impl = ov.make_impl(arg_types, rt)  # type: ignore[arg-type]
        final_codes: list[str] = []
        for i, (c, k, pt) in enumerate(zip(codes, best_attempt, ptypes, strict=True)):
            if isinstance(k, reg.LambdaArg):
                lam = lambda_nodes[i]
                params = lam.args["params"]
                sub = _Ctx(dict(ctx.lambda_vars))
                for p, t in zip(params, k.param_types or [], strict=True):
                    sub.lambda_vars[p] = (f"_l_{p}", t)
                body, _ = self._gen(lam.this, sub)
                final_codes.append(f"(lambda {', '.join('_l_' + p for p in params)}: {body})")
            else:
                assert c is not None
                final_codes.append(self._coerce(c, k, pt) if pt.base in (_B.DOUBLE, _B.DECIMAL) else c)
        wrapped = self._const(_safe_call(impl, name, self.log_error))
        return f"{wrapped}({', '.join(final_codes)})", rt


def _decimal_result(op: str, a: SqlType, b: SqlType) -> SqlType:
    p1, s1, p2, s2 = a.precision or 0, a.scale or 0, b.precision or 0, b.scale or 0
    if op in "+-":
        s = max(s1, s2)
        p = max(p1 - s1, p2 - s2) + s + 1
    elif op == "*":
        p, s = p1 + p2 + 1, s1 + s2
    elif op == "/":
        s = max(6, s1 + p2 + 1)
        p = p1 - s1 + s2 + s
    else:
        s = max(s1, s2)
        p = min(p1 - s1, p2 - s2) + s
    if p > 38:
        s = max(s - (p - 38), min(s, 6))
        p = 38
    return decimal(p, s)


def _safe_call(impl: Callable[..., Any], name: str, log: ErrorLogger) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        try:
            return impl(*args)
        except Exception as e:  # a UDF failure nulls this call only, as in ksqlDB
            log(f"Error computing function {name}: {e}")
            return None

    return call


def _array_index(arr: list[Any], idx: int) -> Any:
    n = len(arr)
    if idx > 0:
        return arr[idx - 1] if idx <= n else None
    if idx < 0:
        return arr[n + idx] if -idx <= n else None
    return None


def _and3(a: Any, b_thunk: Callable[[], Any]) -> Any:
    if a is False:
        return False
    b = b_thunk()
    if b is False:
        return False
    if a is None or b is None:
        return None
    return True


def _or3(a: Any, b_thunk: Callable[[], Any]) -> Any:
    if a is True:
        return True
    b = b_thunk()
    if b is True:
        return True
    if a is None or b is None:
        return None
    return False


def _in3(v: Any, items: tuple[Any, ...]) -> Any:
    for x in items:
        if x is not None and x == v:
            return True
    return False


def _map_pairs(node: exp.Expression) -> list[tuple[exp.Expression, exp.Expression]]:
    keys = node.args.get("keys")
    vals = node.args.get("values")
    if isinstance(keys, exp.Array) and isinstance(vals, exp.Array):
        return list(zip(keys.expressions, vals.expressions, strict=True))
    pairs: list[tuple[exp.Expression, exp.Expression]] = []
    for v in node.args.values():
        items = v if isinstance(v, list) else [v]
        for it in items:
            if isinstance(it, exp.PropertyEQ) or isinstance(it, exp.Slice):
                pairs.append((it.this, it.args["expression"]))
    return pairs


def _pyquote(s: str) -> str:
    return s.replace("\\", "\\\\").replace("'", "\\'").replace("\n", " ")


def expr_sql(node: exp.Expression | None) -> str:
    """Render an expression as ksqlDB prints it in messages and generated names."""
    if node is None:
        return ""
    try:
        from ksql.dialect.generator import format_expression as expression_sql

        return expression_sql(node)
    except Exception:
        return node.sql()


def check_statement(msg: str, statement: str) -> KsqlStatementException:
    return KsqlStatementException(msg, statement)
