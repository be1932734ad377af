"""Compile ksql expressions once per query into Python callables over rows.

Each expression is typed and turned into Python source (a single expression over the row dict
``r``), then ``exec``-ed once. NULL propagates as in ksqlDB: arithmetic and comparisons with NULL
give NULL; a function that throws gives NULL (and a processing-log entry); any other failure while
evaluating makes the whole top-level expression NULL.
"""

from __future__ import annotations

import ast
import itertools
import re
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
_COLUMN_READ = re.compile(r"r\.get\(('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")\)")
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
        display: dict[str, str] | None = None,
    ) -> None:
        self.columns = columns  # row key -> type
        self.qualified = qualified or {}  # (source alias, column name) -> row key
        self.aliases = aliases or {}  # unqualified name -> row key, when it differs
        # row key -> text shown in error messages, for internal keys (e.g. an aggregate's result)
        self.display = display or {}

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
            options = sorted(f"{q}.{n}" for (q, n) in self.qualified if n == name)
            raise AmbiguousColumn(
                f"Column '{name}' is ambiguous. Could be {', '.join(options[:-1])} or {options[-1]}.")
        raise KsqlException(f"Column '{name}' cannot be resolved.")


class AmbiguousColumn(KsqlException):
    """An unqualified column that more than one source of a join has."""


def located(node: exp.Expression, message: str) -> str:
    """``message`` prefixed with where ``node`` was written, as ksqlDB reports the errors it finds
    while preparing a statement (``Exception while preparing statement: Line: 3, Col: 38: ...``);
    unchanged when the position is unknown."""
    pos = node.meta.get("position") if node._meta is not None else None
    return f"Exception while preparing statement: Line: {pos[0]}, Col: {pos[1]}: {message}" if pos else message


@dataclass
class Compiled:
    fn: Callable[[dict[str, Any]], Any]
    type: SqlType
    text: str


@dataclass
class _Ctx:
    lambda_vars: dict[str, tuple[str, SqlType]] = field(default_factory=dict)


class CodegenError(KsqlException):
    """An error ksqlDB only finds while generating code (after type checking): callers that know
    the clause prefix it (``Invalid Select: ``, ``Invalid Predicate: ``)."""


class _CoercionFailure(KsqlException):
    pass


@dataclass
class _Typed:
    node: exp.Expression
    code: str
    type: SqlType  # NULL for a bare NULL literal


_CODEGEN_PREFIX = {"SELECT": "Invalid Select: ", "WHERE": "Invalid Predicate: ", "HAVING": "Invalid Predicate: "}

# comparison node -> (ksqlDB operator name, operator symbol)
_COMPARISONS: dict[type, tuple[str, str]] = {
    exp.EQ: ("EQUAL", "="),
    exp.NEQ: ("NOT_EQUAL", "<>"),
    exp.GT: ("GREATER_THAN", ">"),
    exp.GTE: ("GREATER_THAN_OR_EQUAL", ">="),
    exp.LT: ("LESS_THAN", "<"),
    exp.LTE: ("LESS_THAN_OR_EQUAL", "<="),
    exp.NullSafeNEQ: ("IS_DISTINCT_FROM", "IS DISTINCT FROM"),
    exp.NullSafeEQ: ("IS_NOT_DISTINCT_FROM", "IS NOT DISTINCT FROM"),
}
_EQUALITY = ("EQUAL", "NOT_EQUAL", "IS_DISTINCT_FROM", "IS_NOT_DISTINCT_FROM")
_TEMPORAL = (_B.TIMESTAMP, _B.DATE, _B.TIME)
# pseudo columns holding epoch millis that may be compared with timestamp strings
_MAGIC_TIME_COLUMNS = ("ROWTIME", "WINDOWSTART", "WINDOWEND")


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
        return d, casts.decimal_type_of(d)
    v = int(t)
    if -(2**31) <= v < 2**31:
        return v, INTEGER
    if -(2**63) <= v < 2**63:
        return v, BIGINT
    raise KsqlException(f"Invalid numeric literal: {text}")


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

    def compile(self, node: exp.Expression, safe: bool = True, clause: str | None = None) -> Compiled:
        """``clause`` (SELECT, WHERE, HAVING) selects how code-generation errors are reported."""
        try:
            code, t = self._gen(node, _Ctx())
        except CodegenError as e:
            prefix = _CODEGEN_PREFIX.get(clause or "")
            if prefix is None:
                raise
            raise KsqlException(prefix + e.message) from e
        if clause == "SELECT" and t.base is _B.NULL:
            raise KsqlException(
                "Can't infer a type of null. Please explicitly cast it to a required type, "
                "e.g. CAST(null AS VARCHAR)."
            )
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
        fn = self._ns[name]
        column = _COLUMN_READ.fullmatch(code)
        if column is not None:
            # a bare column read (it cannot fail): operators may inline it as ``row.get(key)``
            fn.ksql_column = ast.literal_eval(column.group(1))
        return Compiled(fn, t, text)

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

    def _raising_guard(self, parts: list[str], body: Callable[[list[str]], str]) -> str:
        names = [self._tmp() for _ in parts]
        cond = " or ".join(f"({n} := {p}) is None" for n, p in zip(names, parts, strict=True))
        return f"(_V.null_operand() if {cond} else {body(names)})"

    def _arith_guard(self, ctx: _Ctx) -> Callable[[list[str], Callable[[list[str]], str]], str]:
        # ksqlDB's generated Java unboxes operands: NULL arithmetic inside a lambda throws, which
        # makes the enclosing function call NULL (top-level arithmetic just yields NULL)
        return self._raising_guard if ctx.lambda_vars else self._null_guard

    def _coerce(self, code: str, src: SqlType, dst: SqlType) -> str:
        """Convert an evaluated value from src to dst type (implicit widening)."""
        if src == dst or src.base is _B.NULL:
            return code
        if dst.base is _B.DOUBLE and src.base in (_B.INTEGER, _B.BIGINT, _B.DECIMAL):
            t = self._tmp()
            return f"(None if ({t} := {code}) is None else float({t}))"
        if dst.base is _B.DECIMAL and src.base in (_B.INTEGER, _B.BIGINT):
            t = self._tmp()
            if not dst.scale:  # an integer already has scale 0
                return f"(None if ({t} := {code}) is None else Decimal({t}))"
            # the value takes the target's scale, as ksqlDB's casts do (COALESCE(DECIMAL(10,2) col, 0)
            # is 0.00, not 0): clients and serializers see the declared scale
            tc = self._const(dst)
            return f"(None if ({t} := {code}) is None else _V.quantize(Decimal({t}), {tc}))"
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
        try:
            ref = self.scope.resolve(qual, name)
        except AmbiguousColumn as e:
            raise AmbiguousColumn(located(node, e.message)) from None
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
        guard = self._arith_guard(ctx)
        if at.base is _B.NULL or bt.base is _B.NULL:
            # as in ksqlDB, an untyped NULL has no type to do arithmetic in (CAST it to give it one)
            raise KsqlException(
                f"Error processing expression: {expr_sql(node)}. Arithmetic on types "
                f"{_null_or_type(at)} and {_null_or_type(bt)} are not supported.")
        if op == "+" and (at.base is _B.STRING or bt.base is _B.STRING):
            if at.base is _B.STRING and bt.base is _B.STRING:
                return guard([a, b], lambda n: f"{n[0]} + {n[1]}"), STRING
        if not (at.is_numeric and bt.is_numeric):
            opname = {"+": "+", "-": "-", "*": "*", "/": "/", "%": "%"}[op]
            raise KsqlException(
                f"Error processing expression: {expr_sql(node)}. Unsupported arithmetic types. {at} {bt}"
                if opname else "")
        if at.base is _B.DOUBLE or bt.base is _B.DOUBLE:
            a2 = self._coerce(a, at, DOUBLE)
            b2 = self._coerce(b, bt, DOUBLE)
            if op == "/":
                return guard([a2, b2], lambda n: f"_V.float_div({n[0]}, {n[1]})"), DOUBLE
            if op == "%":
                return guard([a2, b2], lambda n: f"_V.float_mod({n[0]}, {n[1]})"), DOUBLE
            return guard([a2, b2], lambda n: f"({n[0]} {op} {n[1]})"), DOUBLE
        if at.base is _B.DECIMAL or bt.base is _B.DECIMAL:
            da, db = decimal_of_integral(at), decimal_of_integral(bt)
            rt = _decimal_result(op, da, db)
            a2 = self._coerce(a, at, da)
            b2 = self._coerce(b, bt, db)
            tc = self._const(rt)
            if op == "/":
                return guard([a2, b2], lambda n: f"_V.decimal_div({n[0]}, {n[1]}, {tc})"), rt
            if op == "%":
                return guard([a2, b2], lambda n: f"_V.decimal_mod({n[0]}, {n[1]}, {tc})"), rt
            return guard([a2, b2], lambda n: f"_V.quantize({n[0]} {op} {n[1]}, {tc})"), rt
        rt = BIGINT if BIGINT in (at, bt) else INTEGER
        wrap = "_V.wrap64" if rt == BIGINT else "_V.wrap32"
        if op == "/":
            return guard([a, b], lambda n: f"_V.int_div({n[0]}, {n[1]})"), rt
        if op == "%":
            return guard([a, b], lambda n: f"_V.int_mod({n[0]}, {n[1]})"), rt
        return guard([a, b], lambda n: f"{wrap}({n[0]} {op} {n[1]})"), rt

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
        guard = self._arith_guard(ctx)
        if not t.is_numeric and t.base is not _B.NULL:
            raise KsqlException(f"Unsupported negation of type {t}")
        if t.is_integral:
            wrap = "_V.wrap64" if t == BIGINT else "_V.wrap32"
            return guard([code], lambda n: f"{wrap}(-{n[0]})"), t
        return guard([code], lambda n: f"(-{n[0]})"), t

    # comparisons
    def _display(self, node: exp.Expression) -> str:
        """Expression text as ksqlDB shows it in type errors: columns under their resolved names."""

        def swap(n: exp.Expression) -> exp.Expression:
            if not isinstance(n, exp.Column):
                return n
            try:
                ref = self.scope.resolve(n.table or None, n.name)
            except KsqlException:
                return n
            shown = self.scope.display.get(ref.key)
            if shown is None and not n.table:
                return n
            return exp.Var(this=shown or ref.key)

        return expr_sql(node.copy().transform(swap))

    def _magic_timestamp(self, col: exp.Expression, ct: SqlType, other: exp.Expression) -> str | None:
        """ROWTIME / WINDOWSTART / WINDOWEND compared with a string literal: the literal is read as
        a timestamp at compile time (ksqlDB's magic timestamp conversion)."""
        col = _unparen(col)
        other = _unparen(other)
        if not (isinstance(col, exp.Column) and col.name.upper() in _MAGIC_TIME_COLUMNS and ct.is_integral):
            return None
        if not (isinstance(other, exp.Literal) and other.is_string):
            return None
        return repr(values.parse_timestamp(other.this))

    def _gen_comparison(self, node: exp.Expression, ctx: _Ctx) -> tuple[str, SqlType]:
        opname, symbol = _COMPARISONS[type(node)]
        left, right = node.this, node.expression
        a, at = self._gen(left, ctx)
        b, bt = self._gen(right, ctx)
        if at.base is _B.NULL or bt.base is _B.NULL:
            raise KsqlException(
                f"Comparison with NULL not supported: {at.base.value} {symbol} {bt.base.value}\n"
                "Use 'IS NULL' or 'IS NOT NULL' instead."
            )
        magic = self._magic_timestamp(left, at, right)
        if magic is not None:
            b, bt = magic, BIGINT
        magic = self._magic_timestamp(right, bt, left)
        if magic is not None:
            a, at = magic, BIGINT
        if not _comparable(at, bt, opname):
            raise KsqlException(
                f"Cannot compare {self._display(left)} ({at}) to {self._display(right)} ({bt}) with {opname}."
            )
        a, b = self._compare_operands(a, at, b, bt)
        return self._compare_code(a, b, opname), BOOLEAN

    def _compare_operands(self, a: str, at: SqlType, b: str, bt: SqlType) -> tuple[str, str]:
        """Bring both operands to one comparable representation."""
        if at.is_numeric and bt.is_numeric:
            if at.base is _B.DECIMAL or bt.base is _B.DECIMAL:
                # as BigDecimal.compareTo: doubles via their shortest text
                return self._wrap_value(a, "_V.to_decimal"), self._wrap_value(b, "_V.to_decimal")
            if at.base is _B.DOUBLE or bt.base is _B.DOUBLE:
                return self._coerce(a, at, DOUBLE), self._coerce(b, bt, DOUBLE)
            return a, b
        if at.base in _TEMPORAL and bt.base is _B.STRING:
            return a, self._coerce_str_temporal(b, at)
        if bt.base in _TEMPORAL and at.base is _B.STRING:
            return self._coerce_str_temporal(a, bt), b
        if {at.base, bt.base} == {_B.TIMESTAMP, _B.DATE}:
            return self._coerce_temporal(a, at), self._coerce_temporal(b, bt)
        if at.base is _B.BYTES:
            # ByteBuffer.compareTo compares signed bytes
            return self._wrap_value(a, "_V.signed_bytes"), self._wrap_value(b, "_V.signed_bytes")
        return a, b

    def _wrap_value(self, code: str, fn: str) -> str:
        t = self._tmp()
        return f"(None if ({t} := {code}) is None else {fn}({t}))"

    def _compare_code(self, a: str, b: str, opname: str) -> str:
        # ksqlDB: a comparison with a NULL operand is false (IS [NOT] DISTINCT FROM excepted)
        ta, tb = self._tmp(), self._tmp()
        either_null = f"((({ta} := {a}) is None) | (({tb} := {b}) is None))"
        if opname == "IS_DISTINCT_FROM":
            return f"((({ta} is None) != ({tb} is None)) if {either_null} else ({ta} != {tb}))"
        if opname == "IS_NOT_DISTINCT_FROM":
            return f"((({ta} is None) and ({tb} is None)) if {either_null} else ({ta} == {tb}))"
        op = {"EQUAL": "==", "NOT_EQUAL": "!=", "GREATER_THAN": ">", "GREATER_THAN_OR_EQUAL": ">=",
              "LESS_THAN": "<", "LESS_THAN_OR_EQUAL": "<="}[opname]
        return f"(False if {either_null} else ({ta} {op} {tb}))"

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

    def _gen_EQ(self, node: exp.EQ, ctx: _Ctx) -> tuple[str, SqlType]:
        return self._gen_comparison(node, ctx)

    def _gen_NEQ(self, node: exp.NEQ, ctx: _Ctx) -> tuple[str, SqlType]:
        return self._gen_comparison(node, ctx)

    def _gen_GT(self, node: exp.GT, ctx: _Ctx) -> tuple[str, SqlType]:
        return self._gen_comparison(node, ctx)

    def _gen_GTE(self, node: exp.GTE, ctx: _Ctx) -> tuple[str, SqlType]:
        return self._gen_comparison(node, ctx)

    def _gen_LT(self, node: exp.LT, ctx: _Ctx) -> tuple[str, SqlType]:
        return self._gen_comparison(node, ctx)

    def _gen_LTE(self, node: exp.LTE, ctx: _Ctx) -> tuple[str, SqlType]:
        return self._gen_comparison(node, ctx)

    def _gen_NullSafeEQ(self, node: exp.NullSafeEQ, ctx: _Ctx) -> tuple[str, SqlType]:
        return self._gen_comparison(node, ctx)

    def _gen_NullSafeNEQ(self, node: exp.NullSafeNEQ, ctx: _Ctx) -> tuple[str, SqlType]:
        return self._gen_comparison(node, ctx)

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

    # -- coercion of user lists (IN lists, ARRAY and MAP constructors) -----------------------
    def _typed(self, nodes_: list[exp.Expression], ctx: _Ctx) -> list[_Typed]:
        out = []
        for n in nodes_:
            code, t = self._gen(n, ctx)
            out.append(_Typed(n, code, t))
        return out

    def _common_type(self, items: list[_Typed], ctx: _Ctx) -> SqlType | None:
        """The widest type of all items (None if all are NULL literals); errors if incompatible."""
        common: SqlType | None = None
        for it in items:
            common = self._common_with(it, common, ctx)
        return common

    def _common_with(self, it: _Typed, target: SqlType | None, ctx: _Ctx) -> SqlType | None:
        if target is None:
            return None if it.type.base is _B.NULL else it.type
        if it.type.base is _B.NULL:
            return target
        node = _unparen(it.node)
        if isinstance(node, exp.Array):
            if target.base is not _B.ARRAY:
                raise _coercion_failure(node, it.type, target)
            try:
                et = self._structured_common(target.element, list(node.expressions), ctx)  # type: ignore[arg-type]
            except _CoercionFailure as e:
                raise _coercion_failure(node, it.type, target) from e
            return array(et)
        if isinstance(node, (exp.VarMap, exp.Map)):
            if target.base is not _B.MAP:
                raise _coercion_failure(node, it.type, target)
            pairs = _map_pairs(node)
            try:
                kt = self._structured_common(target.key, [k for k, _ in pairs], ctx)  # type: ignore[arg-type]
                vt = self._structured_common(target.element, [v for _, v in pairs], ctx)  # type: ignore[arg-type]
            except _CoercionFailure as e:
                raise _coercion_failure(node, it.type, target) from e
            return map_of(kt, vt)
        if isinstance(node, exp.Struct):
            if target.base is not _B.STRUCT:
                raise _coercion_failure(node, it.type, target)
            try:
                return self._struct_common(node, target, ctx)
            except _CoercionFailure as e:
                raise _coercion_failure(node, it.type, target) from e
        if isinstance(node, exp.Literal) and node.is_string:
            if target.is_numeric:
                return _string_numeric_common(node.this, target)
            if target.base is _B.BOOLEAN:
                if casts.parse_sql_boolean(node.this) is None:
                    raise _invalid_syntax(node.this, target)
                return target
        lax = _is_literal(node)
        common = casts.coerce_type(it.type, target, lax) or casts.coerce_type(target, it.type, lax)
        if common is None:
            raise _coercion_failure(node, it.type, target)
        return common

    def _structured_common(self, target: SqlType, elements: list[exp.Expression], ctx: _Ctx) -> SqlType:
        typed = self._typed(elements, ctx)
        if not typed:
            return target
        return self._common_type([_Typed(exp.Null(), "None", target), *typed], ctx) or target

    def _struct_common(self, node: exp.Struct, target: SqlType, ctx: _Ctx) -> SqlType:
        source = _struct_fields(node)
        fields: list[tuple[str, SqlType]] = []
        for name in dict.fromkeys([n for n, _ in source] + [n for n, _ in target.fields]):
            value = next((v for n, v in source if n == name), None)
            tt = target.field_type(name)
            if value is None:
                fields.append((name, tt))  # type: ignore[arg-type]
                continue
            code, st = self._gen(value, ctx)
            if tt is None:
                fields.append((name, STRING if st.base is _B.NULL else st))
            elif st.base is _B.NULL:
                fields.append((name, tt))
            else:
                fields.append((name, self._common_with(_Typed(value, code, st), tt, ctx)))  # type: ignore[arg-type]
        return struct(fields)

    def _to_common(self, it: _Typed, common: SqlType) -> str:
        """Code for an item converted to the common type: literals at compile time, other
        expressions by a conversion of their value."""
        if it.type.base is _B.NULL or it.type == common:
            return it.code
        node = _unparen(it.node)
        if _is_literal(node):
            v = _literal_value(node)
            try:
                cv = casts.coerce_value(v, it.type, common)
            except (ValueError, ArithmeticError, KsqlException) as e:
                raise _invalid_syntax(v, common) from e
            return self._const(cv)
        conv = casts.coercer(it.type, common)
        if conv is None:
            return it.code
        return self._wrap_value(it.code, self._const(conv))

    def _gen_In(self, node: exp.In, ctx: _Ctx) -> tuple[str, SqlType]:
        # NULL literals in the list can never match: dropped before finding the common type
        listed = [e for e in node.expressions if not isinstance(_unparen(e), exp.Null)]
        typed = self._typed([node.this, *listed], ctx)
        try:
            common = self._common_type(typed, ctx)
            codes = [it.code if common is None else self._to_common(it, common) for it in typed]
        except KsqlException as e:
            raise CodegenError(e.message) from e
        fn = self._const(_in_list)
        code = f"{fn}({codes[0]}, ({''.join(c + ', ' for c in codes[1:])}))"
        if node.args.get("negate"):
            code = f"(not {code})"
        return code, BOOLEAN

    def _gen_Between(self, node: exp.Between, ctx: _Ctx) -> tuple[str, SqlType]:
        ge = exp.GTE(this=node.this, expression=node.args["low"])
        le = exp.LTE(this=node.this, expression=node.args["high"])
        a, _ = self._gen(ge, ctx)
        b, _ = self._gen(le, ctx)
        code = f"({a} and {b})"
        if node.args.get("negate"):
            code = f"(not {code})"
        return code, BOOLEAN

    def _gen_Case(self, node: exp.Case, ctx: _Ctx) -> tuple[str, SqlType]:
        operand = node.this
        branches: list[tuple[str, str, SqlType]] = []
        then_type: SqlType | None = None
        for ifn in node.args.get("ifs") or []:
            cond_node = ifn.this
            if operand is not None:
                cond_node = exp.EQ(this=operand, expression=cond_node)
            cond, ct = self._gen(cond_node, ctx)
            if ct.base is not _B.BOOLEAN:
                raise KsqlException(
                    f"WHEN operand type should be boolean.\nType for '{expr_sql(cond_node)}' is {ct}"
                )
            val, vt = self._gen(ifn.args["true"], ctx)
            if vt.base is not _B.NULL:
                if then_type is None:
                    then_type = vt
                elif vt != then_type:
                    then_type = self._case_common(then_type, vt, ifn, node)
            branches.append((cond, val, vt))
        default = node.args.get("default")
        dcode, dt = self._gen(default, ctx) if default is not None else ("None", NULL)
        if then_type is None and dt.base is _B.NULL:
            raise KsqlException("Invalid Case expression. All case branches have NULL type")
        if then_type is None:
            rt = dt
        elif dt.base is _B.NULL or dt == then_type:
            rt = then_type
        elif then_type.is_numeric and dt.is_numeric:
            rt = widest_numeric(then_type, dt)
        else:
            raise KsqlException(
                "Invalid Case expression. Type for the default clause should be the same as for 'THEN' clauses."
                f"\nTHEN type: {then_type}.\nDEFAULT type: {dt}."
            )
        code = self._coerce(dcode, dt, rt)
        for cond, val, vt in reversed(branches):
            code = f"({self._coerce(val, vt, rt)} if {cond} else {code})"
        return code, rt

    def _case_common(self, prev: SqlType, vt: SqlType, ifn: exp.Expression, node: exp.Case) -> SqlType:
        if prev.is_numeric and vt.is_numeric:
            return widest_numeric(prev, vt)
        raise KsqlException(
            "Invalid Case expression. Type for all 'THEN' clauses should be the same."
            f"\nTHEN expression 'WHEN {expr_sql(ifn.this)} THEN {expr_sql(ifn.args['true'])}' has type: {vt}."
            f"\nPrevious THEN expression(s) type: {prev}."
        )

    def _gen_If(self, node: exp.If, ctx: _Ctx) -> tuple[str, SqlType]:
        return self._gen_Case(exp.Case(ifs=[node]), ctx)

    def _gen_KsqlCast(self, node: nodes.KsqlCast, ctx: _Ctx) -> tuple[str, SqlType]:
        code, st = self._gen(node.this, ctx)
        dt = node.args["to"]
        try:
            conv = casts.converter(st, dt)
        except casts.CastError as e:
            raise CodegenError(str(e)) from e
        if conv is None:
            return code, dt
        c = self._const(conv)
        return self._null_guard([code], lambda n: f"{c}({n[0]})"), dt

    def _gen_Array(self, node: exp.Array, ctx: _Ctx) -> tuple[str, SqlType]:
        if not node.expressions:
            raise KsqlException(
                "Array constructor cannot be empty. Please supply at least one element "
                "(see https://github.com/confluentinc/ksql/issues/4239)."
            )
        typed = self._typed(list(node.expressions), ctx)
        et = self._common_type(typed, ctx)
        if et is None:
            raise KsqlException(
                "Cannot construct an array with all NULL elements "
                "(see https://github.com/confluentinc/ksql/issues/4239). As a workaround, you may "
                "cast a NULL value to the desired type."
            )
        return "[" + ", ".join(self._to_common(it, et) for it in typed) + "]", array(et)

    def _gen_Map(self, node: exp.Map, ctx: _Ctx) -> tuple[str, SqlType]:
        pairs = _map_pairs(node)
        if not pairs:
            raise KsqlException(
                "Map constructor cannot be empty. Please supply at least one key value pair "
                "(see https://github.com/confluentinc/ksql/issues/4239)."
            )
        ks = self._typed([k for k, _ in pairs], ctx)
        vs = self._typed([v for _, v in pairs], ctx)
        kt = self._common_type(ks, ctx)
        if kt is None:
            raise KsqlException(
                "Cannot construct a map with all NULL keys "
                "(see https://github.com/confluentinc/ksql/issues/4239). As a workaround, you may "
                "cast a NULL key to the desired type."
            )
        vt = self._common_type(vs, ctx)
        if vt is None:
            raise KsqlException(
                "Cannot construct a map with all NULL values "
                "(see https://github.com/confluentinc/ksql/issues/4239). As a workaround, you may "
                "cast a NULL value to the desired type."
            )
        items = ", ".join(f"{self._to_common(k, kt)}: {self._to_common(v, vt)}" for k, v in zip(ks, vs, strict=True))
        return "{" + items + "}", map_of(kt, vt)

    def _gen_VarMap(self, node: exp.VarMap, ctx: _Ctx) -> tuple[str, SqlType]:
        return self._gen_Map(node, ctx)  # type: ignore[arg-type]

    def _gen_Struct(self, node: exp.Struct, ctx: _Ctx) -> tuple[str, SqlType]:
        fields: list[tuple[str, SqlType]] = []
        items = []
        seen: set[str] = set()
        for name, value in _struct_fields(node):
            if name in seen:
                raise KsqlException(f"Duplicate field names found in STRUCT: '{name}'")
            seen.add(name)
            code, t = self._gen(value, ctx)
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
        if len(args) == 1 and isinstance(args[0], exp.Star):
            args = []  # F(*) is a call without arguments, as in ksqlDB
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
        # messages name the function as its UDF declares it (ksqlDB: mostly lower case)
        shown = fn.shown_name()
        try:
            best = reg.choose_overload(fn.overloads, kinds)
        except reg.AmbiguousCall:
            raise KsqlException(
                f"Function '{shown}' cannot be resolved due to ambiguous method parameters "
                f"({reg.describe_args(kinds)}).\n"
                "Use CAST() to explicitly cast your parameters to one of the supported function calls.\n"
                "Valid function calls are:\n"
                + "\n".join(_signature(shown, o) for o in fn.overloads)
                + "\nFor detailed information on a function run: DESCRIBE FUNCTION <Function-Name>;"
            ) from None
        if best is None:
            raise KsqlException(
                f"Function '{shown}' does not accept parameters ({reg.describe_args(kinds)}).\n"
                f"Valid alternatives are:\n"
                + "\n".join(_signature(shown, o) for o in fn.overloads)
                + "\nFor detailed information on a function run: DESCRIBE FUNCTION <Function-Name>;"
            )
        ov, env, ptypes, best_attempt = best
        arg_types = [
            (k.result_type if isinstance(k, reg.LambdaArg) else k) for k in best_attempt
        ]
        rt = reg.resolve_return(ov.returns, env, arg_types)  # type: ignore[arg-type]
        impl = ov.make_impl(arg_types, rt)  # type: ignore[arg-type]
        final_codes: list[str] = []
        for i, (code, k, pt) in enumerate(zip(codes, best_attempt, ptypes, strict=True)):
            if isinstance(k, reg.LambdaArg):
                lam = lambda_nodes[i]
                params = lam.args["params"]
                sub = _Ctx(dict(ctx.lambda_vars))
                for p, t in zip(params, k.param_types or [], strict=True):
                    sub.lambda_vars[p] = (f"_l_{p}", t)
                body, _ = self._gen(lam.this, sub)
                final_codes.append(f"(lambda {', '.join('_l_' + p for p in params)}: {body})")
            else:
                assert code is not None
                if pt.base in (_B.DOUBLE, _B.DECIMAL):
                    code = self._coerce(code, k, pt)
                elif k.base is _B.STRING and pt.base in (_B.DATE, _B.TIME, _B.TIMESTAMP):
                    code = self._coerce_str_temporal(code, pt)  # an implicit cast of the argument
                final_codes.append(code)
        wrapped = self._const(_safe_call(impl, name, self.log_error))
        return f"{wrapped}({', '.join(final_codes)})", rt


def _signature(shown: str, ov: reg.Overload) -> str:
    params = [str(p) for p in ov.params]
    if ov.variadic and params:
        params[-1] += "..."
    return f"{shown}({', '.join(params)})"


def _null_or_type(t: SqlType) -> str:
    return "null" if t.base is _B.NULL else str(t)


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


def _in_list(v: Any, items: tuple[Any, ...]) -> bool:
    # SQL NULL never matches (but NULLs nested in arrays, maps and structs compare equal)
    if v is None:
        return False
    return any(x is not None and x == v for x in items)


def _unparen(node: exp.Expression) -> exp.Expression:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _is_literal(node: exp.Expression) -> bool:
    node = _unparen(node)
    if isinstance(node, exp.Neg):
        node = _unparen(node.this)
        return isinstance(node, exp.Literal) and not node.is_string
    return isinstance(node, (exp.Literal, exp.Boolean))


def _literal_value(node: exp.Expression) -> Any:
    node = _unparen(node)
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if isinstance(node, exp.Neg):
        return literal_type("-" + _unparen(node.this).this, False)[0]
    return literal_type(node.this, node.is_string)[0]


def _struct_fields(node: exp.Struct) -> list[tuple[str, exp.Expression]]:
    out = []
    for e in node.expressions:
        if isinstance(e, (exp.PropertyEQ, exp.Slice)) or hasattr(e, "this") and "expression" in e.args:
            name_node = e.this
            name = name_node.name if isinstance(name_node, (exp.Identifier, exp.Column)) else str(name_node.this)
            out.append((name, e.args["expression"]))
        else:
            raise KsqlException(f"Invalid struct field: {expr_sql(e)}")
    return out


def _comparable(left: SqlType, right: SqlType, opname: str) -> bool:
    """ksqlDB's comparison rules, keyed by the left operand's type."""
    lb, rb = left.base, right.base
    if left.is_numeric:
        return right.is_numeric
    if lb is _B.STRING:
        return rb is _B.STRING or rb in _TEMPORAL
    if lb in (_B.BOOLEAN, _B.ARRAY, _B.MAP, _B.STRUCT):
        return rb is lb and opname in _EQUALITY
    if lb is _B.TIME:
        return rb in (_B.TIME, _B.STRING)
    if lb in (_B.DATE, _B.TIMESTAMP):
        return rb in (_B.DATE, _B.TIMESTAMP, _B.STRING)
    if lb is _B.BYTES:
        return rb is _B.BYTES
    return False


def _coercion_failure(node: exp.Expression, source: SqlType, target: SqlType) -> _CoercionFailure:
    return _CoercionFailure(
        f"operator does not exist: {target} = {source} ({expr_sql(node)})\n"
        "Hint: You might need to add explicit type casts."
    )


def _invalid_syntax(value: Any, target: SqlType) -> KsqlException:
    return KsqlException(f'invalid input syntax for type {target.base.value}: "{value}".')


def _string_numeric_common(text: str, target: SqlType) -> SqlType:
    """Common type of a numeric target and a string literal holding a number."""
    try:
        source = casts.string_numeric_type(text)
    except (ValueError, ArithmeticError) as e:
        raise _invalid_syntax(text, target) from e
    if target.base is _B.DOUBLE:
        return DOUBLE
    if source.base is _B.DECIMAL or target.base is _B.DECIMAL:
        return casts.widen_decimal(source, target)
    return target if (source.base, target.base) != (_B.BIGINT, _B.INTEGER) else source


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
