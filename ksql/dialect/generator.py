"""Renders expressions back to ksql text, the way ksqlDB prints them in messages: every binary
operation parenthesized (``(A + 1)``), functions as ``NAME(args)``, ``null``/``true`` in lower
case, names unquoted unless ``escape=True`` asks for text that parses back to the same names.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any, ClassVar

from sqlglot import exp
from sqlglot.generator import Generator

from ksql.dialect import nodes

_PLAIN_NAME_RE = re.compile(r"[A-Z_][A-Z0-9_@]*")


def _binary(op: str) -> Callable[[KsqlGenerator, exp.Expression], str]:
    return lambda self, e: f"({self.sql(e, 'this')} {op} {self.sql(e, 'expression')})"


class KsqlGenerator(Generator):
    def __init__(self, *, escape_names: bool = False, **opts: Any) -> None:
        super().__init__(**opts)
        # Back-quote names that would not parse back to themselves unquoted.
        self.escape_names = escape_names

    TRANSFORMS: ClassVar[dict[type[exp.Expr], Callable[..., str]]] = {
        exp.Add: _binary("+"),
        exp.Sub: _binary("-"),
        exp.Mul: _binary("*"),
        exp.Div: _binary("/"),
        exp.Mod: _binary("%"),
        exp.EQ: _binary("="),
        exp.NEQ: _binary("<>"),
        exp.LT: _binary("<"),
        exp.LTE: _binary("<="),
        exp.GT: _binary(">"),
        exp.GTE: _binary(">="),
        exp.NullSafeNEQ: _binary("IS DISTINCT FROM"),
        exp.NullSafeEQ: lambda self, e: f"(NOT {_binary('IS DISTINCT FROM')(self, e)})",
        exp.And: _binary("AND"),
        exp.Or: _binary("OR"),
        exp.Like: _binary("LIKE"),
        exp.Escape: lambda self, e: f"{self.sql(e, 'this')[:-1]} ESCAPE {self.sql(e, 'expression')})",
        exp.Null: lambda self, e: "null",
        exp.Boolean: lambda self, e: "true" if e.this else "false",
        exp.Star: lambda self, e: "*",
        exp.Paren: lambda self, e: self.sql(e, "this"),
        exp.Between: lambda self, e: (
            f"({self.sql(e, 'this')} BETWEEN {self.sql(e, 'low')} AND {self.sql(e, 'high')})"
        ),
        exp.In: lambda self, e: f"({self.sql(e, 'this')} IN ({self._join(e.expressions)}))",
        exp.Array: lambda self, e: f"ARRAY[{self._join(e.expressions)}]",
        exp.Anonymous: lambda self, e: f"{self._name(e.name)}({self._join(e.expressions)})",
        exp.Bracket: lambda self, e: f"{self.sql(e, 'this')}[{self._join(e.expressions)}]",
        nodes.Dereference: lambda self, e: f"{self.sql(e, 'this')}->{self._name(e.args['field'])}",
        nodes.KsqlCast: lambda self, e: f"CAST({self.sql(e, 'this')} AS {e.args['to']})",
        nodes.KsqlLambda: lambda self, e: (
            f"({', '.join(self._name(p) for p in e.args['params'])}) => {self.sql(e, 'this')}"
        ),
        nodes.IntervalUnitExpr: lambda self, e: str(e.this),
    }

    def _join(self, items: list[exp.Expression]) -> str:
        return ", ".join(self.sql(i) for i in items)

    def _name(self, name: str) -> str:
        if self.escape_names and not _PLAIN_NAME_RE.fullmatch(name):
            return "`" + name.replace("`", "``") + "`"
        return name

    def column_sql(self, expression: exp.Column) -> str:
        name = self._name(expression.name)
        return f"{self._name(expression.table)}.{name}" if expression.table else name

    def identifier_sql(self, expression: exp.Identifier) -> str:
        return self._name(expression.name)

    def literal_sql(self, expression: exp.Literal) -> str:
        text = str(expression.this)
        if expression.is_string:
            return "'" + text.replace("'", "''") + "'"
        if "e" in text.lower():
            return _scientific(float(text))
        if "." in text:
            return str(Decimal(text))
        return str(int(text))

    def neg_sql(self, expression: exp.Neg) -> str:
        value = self.sql(expression, "this")
        # A space keeps "- -1" from reading as a comment.
        return f"- {value}" if value.startswith("-") else f"-{value}"

    def not_sql(self, expression: exp.Not) -> str:
        inner = expression.this
        if isinstance(inner, exp.Is):
            return f"({self.sql(inner, 'this')} IS NOT NULL)"
        return f"(NOT {self.sql(inner)})"

    def is_sql(self, expression: exp.Is) -> str:
        return f"({self.sql(expression, 'this')} IS NULL)"

    def case_sql(self, expression: exp.Case) -> str:
        parts = ["CASE"]
        if expression.this:
            parts.append(self.sql(expression, "this"))
        for branch in expression.args.get("ifs") or []:
            parts.append(f"WHEN {self.sql(branch, 'this')} THEN {self.sql(branch, 'true')}")
        if expression.args.get("default"):
            parts.append(f"ELSE {self.sql(expression, 'default')}")
        parts.append("END")
        return "(" + " ".join(parts) + ")"

    def varmap_sql(self, expression: exp.VarMap) -> str:
        keys = expression.args["keys"].expressions
        values = expression.args["values"].expressions
        pairs = ", ".join(f"{self.sql(k)}:={self.sql(v)}" for k, v in zip(keys, values, strict=True))
        return f"MAP({pairs})"

    def struct_sql(self, expression: exp.Struct) -> str:
        fields = ", ".join(
            f"{self._name(f.this.name)}:={self.sql(f, 'expression')}" for f in expression.expressions
        )
        return f"STRUCT({fields})"


def _scientific(value: float) -> str:
    """A DOUBLE literal as ksqlDB prints it: shortest digits, scientific notation (``1.5E3``)."""
    if value == 0:
        return "0E0"
    shortest = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(str(d) for d in shortest.digits)
    exponent = int(shortest.exponent) + len(digits) - 1
    body = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{'-' if value < 0 else ''}{body}E{exponent}"


def format_expression(expression: exp.Expression, *, escape: bool = False, **opts: Any) -> str:
    """ksql text of ``expression``; ``escape`` back-quotes names that are not plain upper-case."""
    return KsqlGenerator(escape_names=escape, **opts).generate(expression, copy=False)
