"""Query analysis: resolving sources, scopes, select expansion, generated names, aggregate rewriting."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from ksql.catalog import DataSource, MetaStore
from ksql.dialect import nodes
from ksql.errors import KsqlException
from ksql.expressions.compiler import AmbiguousColumn, Scope, expr_sql, located
from ksql.functions import registry as reg
from ksql.schema import (
    PSEUDO_COLUMNS,
    ROWTIME,
    WINDOW_BOUNDS,
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
        existing = next((u.source for u in uses if u.source.name == src.name), None)
        if existing is not None:
            # ksqlDB rejects a source used twice, whatever the aliases
            if len(uses) > 1:
                raise KsqlException(
                    f"N-way joins do not support multiple occurrences of the same source. Source: '{ref.name}'."
                )
            raise KsqlException(f"Can not join '{ref.name}' to '{existing.name}': self joins are not yet supported.")
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
    """Scope of a join: every source's columns as ``ALIAS_NAME`` row entries (``SELECT *`` gives
    each source's key, window bounds and value columns under those names); unqualified
    ``ROWTIME`` is the joined row's timestamp."""
    cols: dict[str, SqlType] = {}
    qualified: dict[tuple[str, str], str] = {}
    star: list[tuple[str, str, str]] = []
    for use in uses:
        src = use.source
        columns = [(c.name, c.type) for c in src.schema.key]
        if src.window is not None:
            columns += list(WINDOW_BOUNDS.items())
        columns += [(c.name, c.type) for c in src.schema.value + src.schema.headers]
        for name, t in columns:
            key = f"{use.alias}_{name}"
            cols[key] = t
            qualified[(use.alias, name)] = key
            star.append((use.alias, name, key))
        for n, t in PSEUDO_COLUMNS.items():
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


def is_table_function_call(node: Any) -> bool:
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
            return _join_column_name(node, scope)
        return node.name
    if isinstance(node, nodes.Dereference):
        return node.args["field"]
    return None


def _join_column_name(node: exp.Column, scope: Scope) -> str:
    """In a join, a column keeps its name unless that name is in more than one source (or is a
    pseudo column): then it is prefixed with its source's alias, as ``L_ID``."""
    try:
        key = scope.resolve(node.table or None, node.name).key
    except KsqlException:
        return node.name
    owner = next((q for (q, n), k in scope.qualified.items() if k == key), None)
    if owner is None:
        return node.name
    if node.name in WINDOW_BOUNDS:
        return node.name  # window bounds are not source columns: never prefixed
    sources = {q for (q, n) in scope.qualified if n == node.name}
    if len(sources) > 1 or node.name in PSEUDO_COLUMNS:
        return key
    return node.name


def rewrite(node: exp.Expression, mapping: dict[str, str], scope: Scope,
            extra: dict[int, str] | None = None) -> exp.Expression:
    """Replace sub-expressions whose canonical form is in ``mapping`` by column references.
    ``extra`` maps id(node) of specific nodes (aggregate calls) to column names."""

    def fix(n: exp.Expression) -> exp.Expression:
        if extra and id(n) in extra:
            return exp.Column(this=exp.to_identifier(extra[id(n)], quoted=True))
        if not mapping or isinstance(n, nodes.KsqlLambda):
            return n
        c = canonical(n, scope)
        if c in mapping:
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




# -- validation of a query's column references and function names ----------------------------------


def validate_references(query: nodes.Query, ins: InputScope) -> None:
    """ksqlDB's analysis errors, clause by clause: unknown columns, then unknown functions."""
    windowed_agg = query.window is not None and not ins.joined
    aliases = {item.alias for item in query.select if item.alias is not None}
    for clause, exprs in _clauses(query):
        for e in exprs:
            for col in columns_in(e):
                try:
                    ins.scope.resolve(col.table or None, col.name)
                except AmbiguousColumn as err:
                    raise AmbiguousColumn(located(col, err.message)) from None
                except KsqlException as err:
                    if "cannot be resolved" not in str(err):
                        raise
                    if windowed_agg and col.name in WINDOW_BOUNDS and (
                            not col.table or any(q == col.table for q, _ in ins.scope.qualified)):
                        continue  # the window bounds of a windowed aggregation's result
                    text = f"{col.table}.{col.name}" if col.table else col.name
                    msg = f"{clause} column '{text}' cannot be resolved."
                    if clause == "PARTITION BY" and col.name in aliases:
                        msg += (f" '{col.name}' must be a column in the source schema since PARTITION BY is "
                                "applied on the input.")
                    raise KsqlException(msg) from None
    for _clause, exprs in _clauses(query):
        for e in exprs:
            for n in e.walk():
                if isinstance(n, exp.Anonymous):
                    name = str(n.this).upper()
                    if name not in reg.SCALAR_FUNCTIONS and name not in reg.AGGREGATE_FUNCTIONS \
                            and name not in reg.TABLE_FUNCTIONS:
                        raise KsqlException(f"Can't find any functions with the name '{name}'")


def _clauses(query: nodes.Query) -> list[tuple[str, list[exp.Expression]]]:
    return [
        ("SELECT", [i.expr for i in query.select if i.expr is not None]),
        ("WHERE", [query.where] if query.where is not None else []),
        ("GROUP BY", list(query.group_by)),
        ("PARTITION BY", list(query.partition_by)),
        ("HAVING", [query.having] if query.having is not None else []),
    ]


def contains_table_function(node: exp.Expression) -> bool:
    return any(is_table_function_call(n) for n in node.walk())


def extract_table_functions(node: exp.Expression, found: list[tuple[str, exp.Anonymous]]) -> exp.Expression:
    """Replace each table-function call in ``node`` by a column ``$TFn``, appending (name, call) to
    ``found``; the calls are evaluated by a flat-map before the projection."""

    def fix(n: exp.Expression) -> exp.Expression:
        if is_table_function_call(n):
            name = f"$TF{len(found)}"
            found.append((name, n))  # type: ignore[arg-type]
            return exp.Column(this=exp.to_identifier(name, quoted=True))
        return n

    return _transform_topdown(node.copy(), fix)


def aggregate_display(node: exp.Expression, scope: Scope) -> str:
    """An aggregate call as ksqlDB prints it in messages: columns by their row names, ``*`` as ROWTIME."""

    def fix(n: exp.Expression) -> exp.Expression:
        if isinstance(n, exp.Column):
            try:
                return exp.Column(this=exp.to_identifier(scope.resolve(n.table or None, n.name).key))
            except KsqlException:
                return n
        if isinstance(n, exp.Star):
            return exp.Column(this=exp.to_identifier(ROWTIME))
        return n

    return expr_sql(_transform_topdown(node.copy(), fix))
