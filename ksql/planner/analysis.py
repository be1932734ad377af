"""Query analysis: resolving sources, scopes, select expansion, generated names, aggregate rewriting."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from ksql.catalog import DataSource, MetaStore
from ksql.dialect import nodes
from ksql.errors import KsqlException
from ksql.expressions.compiler import Scope, expr_sql
from ksql.functions import registry as reg
from ksql.schema import (
    PSEUDO_COLUMNS,
    ROWTIME,
    WINDOW_BOUNDS,
    WINDOWEND,
    WINDOWSTART,
)
from ksql.sqltypes import SqlType


@dataclass
class SourceUse:
    alias: str
    source: DataSource


@dataclass
class InputScope:
    """Columns visible to expressions of a query, and how ``SELECT *`` expands."""

    scope: Scope
    # (qualifier, column name, row key) in SELECT * order
    star: list[tuple[str, str, str]] = field(default_factory=list)
    joined: bool = False


def resolve_sources(query: nodes.Query, metastore: MetaStore) -> list[SourceUse]:
    if query.from_ is None:
        raise KsqlException("FROM clause is required")
    refs = [query.from_] + [j.source for j in query.joins]
    uses: list[SourceUse] = []
    for ref in refs:
        src = metastore.get_source(ref.name)
        if src is None:
            raise KsqlException(f"{ref.name} does not exist.")
        uses.append(SourceUse(ref.alias or ref.name, src))
    aliases = [u.alias for u in uses]
    if len(set(aliases)) != len(aliases):
        raise KsqlException("Can not join a source to itself without distinct aliases")
    return uses


def single_scope(use: SourceUse, include_window: bool) -> InputScope:
    src = use.source
    cols: dict[str, SqlType] = {}
    star: list[tuple[str, str, str]] = []
    for c in src.schema.key:
        cols[c.name] = c.type
        star.append((use.alias, c.name, c.name))
    if src.window is not None:
        for n, t in WINDOW_BOUNDS.items():
            cols[n] = t
            if include_window:
                star.append((use.alias, n, n))
    for c in src.schema.value + src.schema.headers:
        cols[c.name] = c.type
        star.append((use.alias, c.name, c.name))
    for n, t in PSEUDO_COLUMNS.items():
        cols.setdefault(n, t)
    qualified = {(use.alias, n): n for n in cols}
    return InputScope(Scope(cols, qualified), star)


def join_scope(uses: list[SourceUse]) -> InputScope:
    cols: dict[str, SqlType] = {}
    qualified: dict[tuple[str, str], str] = {}
    star: list[tuple[str, str, str]] = []
    for use in uses:
        src = use.source
        for c in src.schema.key + src.schema.value + src.schema.headers:
            key = f"{use.alias}_{c.name}"
            cols[key] = c.type
            qualified[(use.alias, c.name)] = key
            star.append((use.alias, c.name, key))
        extra = dict(PSEUDO_COLUMNS)
        if src.window is not None:
            extra.update(WINDOW_BOUNDS)
        for n, t in extra.items():
            key = f"{use.alias}_{n}"
            cols[key] = t
            qualified[(use.alias, n)] = key
    cols[ROWTIME] = PSEUDO_COLUMNS[ROWTIME]
    return InputScope(Scope(cols, qualified), star, joined=True)


# -- expression utilities ------------------------------------------------------------------------


def columns_in(node: exp.Expression) -> list[exp.Column]:
    out = []
    lambda_params: set[str] = set()
    for n in node.walk():
        if isinstance(n, nodes.KsqlLambda):
            lambda_params.update(n.args["params"])
    for n in node.walk():
        if isinstance(n, exp.Column) and not (n.table == "" and n.name in lambda_params):
            out.append(n)
    return out


def canonical(node: exp.Expression, scope: Scope) -> str:
    """A string identifying an expression up to how its columns were qualified."""

    def fix(n: exp.Expression) -> exp.Expression:
        if isinstance(n, exp.Column):
            try:
                ref = scope.resolve(n.table or None, n.name)
                return exp.Column(this=exp.to_identifier(ref.key, quoted=True))
            except KsqlException:
                return n
        if isinstance(n, exp.Paren):
            return n.this
        return n

    from ksql.dialect import format_expression

    return format_expression(node.copy().transform(fix), escape=True)


def is_aggregate_call(node: exp.Expression) -> bool:
    return isinstance(node, exp.Anonymous) and str(node.this).upper() in reg.AGGREGATE_FUNCTIONS and \
        str(node.this).upper() not in reg.SCALAR_FUNCTIONS


def is_table_function_call(node: exp.Expression) -> bool:
    return isinstance(node, exp.Anonymous) and str(node.this).upper() in reg.TABLE_FUNCTIONS


def find_aggregates(node: exp.Expression) -> list[exp.Anonymous]:
    found: list[exp.Anonymous] = []

    def visit(n: exp.Expression) -> None:
        if is_aggregate_call(n):
            found.append(n)  # type: ignore[arg-type]
            for a in n.expressions:
                if any(is_aggregate_call(x) for x in a.walk()):
                    raise KsqlException(f"Aggregate functions can not be nested: {expr_sql(n)}")
            return
        for child in n.iter_expressions():
            visit(child)

    visit(node)
    return found


def default_name(node: exp.Expression, joined: bool, scope: Scope) -> str | None:
    """The column name ksqlDB derives for an unaliased select item (None: generate KSQL_COL_n)."""
    if isinstance(node, exp.Paren):
        return default_name(node.this, joined, scope)
    if isinstance(node, exp.Column):
        if joined:
            try:
                return scope.resolve(node.table or None, node.name).key
            except KsqlException:
                return node.name
        return node.name
    if isinstance(node, nodes.Dereference):
        return node.args["field"]
    return None


def rewrite(node: exp.Expression, mapping: dict[str, str], scope: Scope,
            extra: dict[int, str] | None = None) -> exp.Expression:
    """Replace sub-expressions whose canonical form is in ``mapping`` by column references.
    ``extra`` maps id(node) of specific nodes (aggregate calls) to column names."""

    def fix(n: exp.Expression) -> exp.Expression:
        if extra and id(n) in extra:
            return exp.Column(this=exp.to_identifier(extra[id(n)], quoted=True))
        if isinstance(n, (exp.Column, exp.Literal)) and not mapping:
            return n
        c = canonical(n, scope) if not isinstance(n, exp.Literal) else None
        if c is not None and c in mapping:
            return exp.Column(this=exp.to_identifier(mapping[c], quoted=True))
        return n

    return _transform_topdown(node.copy() if not extra else node, fix)


def _transform_topdown(node: exp.Expression, fn) -> exp.Expression:  # type: ignore[no-untyped-def]
    new = fn(node)
    if new is not node:
        return new
    for key, value in list(node.args.items()):
        if isinstance(value, exp.Expression):
            node.set(key, _transform_topdown(value, fn))
        elif isinstance(value, list):
            node.set(key, [_transform_topdown(v, fn) if isinstance(v, exp.Expression) else v for v in value])
    return node


RESERVED = {ROWTIME, "ROWPARTITION", "ROWOFFSET", WINDOWSTART, WINDOWEND}
