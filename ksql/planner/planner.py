"""Turns a SELECT into an operator graph and the schema of its result.

The graph is built fresh for every run of a query (start, restart), from the statement text, so a
plan is fully determined by the statement and the metastore it was accepted against.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from ksql.catalog import DataSource, FormatInfo, MetaStore, WindowInfo
from ksql.dialect import nodes
from ksql.errors import KsqlException
from ksql.expressions.compiler import ExpressionCompiler, Scope, expr_sql
from ksql.functions import registry as reg
from ksql.planner import analysis as A
from ksql.planner.serde import SerdeFactory
from ksql.runtime.aggregate import DEFAULT_GRACE_MS, AggCall, AggregateOp, Windowing
from ksql.runtime.joins import (
    ForeignKeyJoinOp,
    PrefixOp,
    StreamStreamJoinOp,
    StreamTableJoinOp,
    TableTableJoinOp,
)
from ksql.runtime.operators import (
    FilterOp,
    FlatMapOp,
    Operator,
    ProjectOp,
    RekeyOp,
    SourceOp,
    TableMaterializeOp,
)
from ksql.schema import KEY, VALUE, Column, LogicalSchema, ROWTIME, WINDOWEND, WINDOWSTART
from ksql.sqltypes import BaseType, SqlType
from ksql.types import Row


@dataclass
class QueryPlan:
    schema: LogicalSchema  # output: key columns then value columns
    kind: str  # STREAM | TABLE
    window: WindowInfo | None
    sources: list[DataSource]
    source_ops: dict[str, list[SourceOp]] = field(default_factory=dict)  # topic -> readers
    operators: list[Operator] = field(default_factory=list)
    output: Operator | None = None  # last operator; the sink (or a push-query tap) attaches here
    key_names: list[str] = field(default_factory=list)
    value_names: list[str] = field(default_factory=list)
    emit_final: bool = False
    limit: int | None = None
    # output column names in the order the SELECT wrote them (the schema puts key columns first);
    # transient queries render their rows in this order
    projection: list[str] = field(default_factory=list)


class Planner:
    def __init__(self, metastore: MetaStore, serdes: SerdeFactory, log_error: Callable[[str], None],
                 config: dict[str, Any] | None = None) -> None:
        self.metastore = metastore
        self.serdes = serdes
        self.log_error = log_error
        self.config = config or {}
        self._ops: list[Operator] = []
        self._store_counter = 0

    # ------------------------------------------------------------------------------------------
    def plan(self, query: nodes.Query, sink_name: str | None, persistent: bool) -> QueryPlan:
        uses = A.resolve_sources(query, self.metastore)
        joined = bool(query.joins)
        if joined:
            ins = A.join_scope(uses)
        else:
            ins = A.single_scope(uses[0], include_window=not persistent)
        compiler = ExpressionCompiler(ins.scope, self.log_error)
        self._check_select(query, ins, persistent)

        source_ops: dict[str, list[SourceOp]] = {}
        if joined:
            head, kind, key_names, key_exprs, synthetic = self._plan_joins(query, uses, ins, source_ops, compiler)
            in_window = None
        else:
            use = uses[0]
            head = self._source_op(use.source, source_ops)
            kind = use.source.kind
            key_names = [c.name for c in use.source.schema.key]
            key_exprs = [exp.Column(this=exp.to_identifier(n, quoted=True)) for n in key_names]
            synthetic = False
            in_window = use.source.window

        if query.where is not None:
            pred = self._compile_predicate(compiler, query.where, "WHERE")
            head = self._chain(head, FilterOp(pred.fn, kind == "TABLE"))

        select = self._expand_select(query, ins)
        aggregates = [a for item in select for a in A.find_aggregates(item[0])]
        if query.having is not None:
            aggregates += A.find_aggregates(query.having)
        if query.group_by or aggregates:
            return self._plan_aggregate(query, ins, compiler, head, kind, select, uses, source_ops, sink_name,
                                        persistent)
        if query.window is not None:
            raise KsqlException("WINDOW clause requires a GROUP BY clause.")
        if query.having is not None:
            raise KsqlException("HAVING clause requires a GROUP BY clause.")

        # table functions
        tf_items = [i for i, (e, _) in enumerate(select) if A.is_table_function_call(e)]
        if tf_items:
            fns = []
            new_select = list(select)
            for n, i in enumerate(tf_items):
                e, name = select[i]
                fname = f"$TF{n}"
                fns.append((fname, self._table_function(compiler, e)))
                new_select[i] = (exp.Column(this=exp.to_identifier(fname, quoted=True)), name or None)
                ins.scope.columns[fname] = self._tf_types[-1]
            head = self._chain(head, FlatMapOp(fns))
            select = new_select

        # key of the result
        if query.partition_by:
            if kind == "TABLE":
                raise KsqlException("Invalid Partition By: Partition By is not supported for tables.")
            key_exprs = list(query.partition_by)
            if len(key_exprs) == 1 and isinstance(key_exprs[0], exp.Null):
                key_exprs = []
            synthetic = False

        names = self._assign_names(select, ins)
        outputs = []  # (name, expr)
        for (e, _), name in zip(select, names, strict=True):
            outputs.append((name, e))

        key_cols, value_items = self._split_key(outputs, key_exprs, ins.scope, sink_name,
                                                why="join" if joined and not query.partition_by else
                                                ("partition" if query.partition_by else "key"),
                                                synthetic=synthetic, persistent=persistent,
                                                partitioned=bool(query.partition_by))
        if query.partition_by:
            key_fns = [compiler.compile(k).fn for k in key_exprs]
            knames = [f"$K{i}" for i in range(len(key_fns))]
            head = self._chain(head, RekeyOp(key_fns, knames))
            for kn, kc in zip(knames, key_cols, strict=True):
                ins.scope.columns[kn] = kc[1]
            key_cols = [(n, t, exp.Column(this=exp.to_identifier(kn, quoted=True)))
                        for (n, t, _), kn in zip(key_cols, knames, strict=True)]

        columns: list[tuple[str, Callable[[Row], Any]]] = []
        schema_cols: list[Column] = []
        for name, t, e in key_cols:
            columns.append((name, compiler.compile(e).fn))
            schema_cols.append(Column(name, t, KEY))
        seen: set[str] = {c.name for c in schema_cols}
        for name, e in value_items:
            c = compiler.compile(e)
            if name in seen:
                raise KsqlException(f"Duplicate value columns found in schema: `{name}` {c.type}")
            seen.add(name)
            columns.append((name, c.fn))
            schema_cols.append(Column(name, c.type, VALUE))
        if persistent and not [c for c in schema_cols if c.namespace == VALUE]:
            raise KsqlException("The projection contains no value columns.")
        head = self._chain(head, ProjectOp(columns))
        schema = LogicalSchema(schema_cols)
        window = in_window
        return QueryPlan(schema, kind, window, [u.source for u in uses], source_ops, self._ops, head,
                         [c.name for c in schema.key], [c.name for c in schema.value], limit=query.limit,
                         projection=names)

    # ------------------------------------------------------------------------------------------
    def _check_select(self, query: nodes.Query, ins: A.InputScope, persistent: bool) -> None:
        for item in query.select:
            if item.alias is not None and item.alias in A.RESERVED and persistent:
                raise KsqlException(
                    f"`{item.alias}` is a reserved column name. You cannot use it as an alias for a column."
                )

    def _expand_select(self, query: nodes.Query, ins: A.InputScope) -> list[tuple[exp.Expression, str | None]]:
        out: list[tuple[exp.Expression, str | None]] = []
        for item in query.select:
            if item.expr is None:
                for qual, name, key in ins.star:
                    if item.star_qualifier is not None and qual != item.star_qualifier:
                        continue
                    col = exp.Column(this=exp.to_identifier(name, quoted=True),
                                     table=exp.to_identifier(qual, quoted=True))
                    out.append((col, key))
                if item.star_qualifier is not None and not any(q == item.star_qualifier for q, _, _ in ins.star):
                    raise KsqlException(f"'{item.star_qualifier}' is not a valid stream/table name or alias.")
            else:
                out.append((item.expr, item.alias))
        return out

    def _assign_names(self, select: list[tuple[exp.Expression, str | None]], ins: A.InputScope) -> list[str]:
        names: list[str | None] = []
        for e, alias in select:
            names.append(alias if alias is not None else A.default_name(e, ins.joined, ins.scope))
        taken = {n for n in names if n is not None}
        counter = 0
        out = []
        for n in names:
            if n is None:
                while f"KSQL_COL_{counter}" in taken:
                    counter += 1
                n = f"KSQL_COL_{counter}"
                counter += 1
            out.append(n)
        return out

    def _split_key(self, outputs: list[tuple[str, exp.Expression]], key_exprs: list[exp.Expression],
                   scope: Scope, sink_name: str | None, why: str, synthetic: bool, persistent: bool,
                   partitioned: bool) -> tuple[list[tuple[str, SqlType, exp.Expression]], list[tuple[str, exp.Expression]]]:
        compiler = ExpressionCompiler(scope)
        canon_keys = [A.canonical(k, scope) for k in key_exprs]
        key_cols: list[tuple[str, SqlType, exp.Expression] | None] = [None] * len(key_exprs)
        values: list[tuple[str, exp.Expression]] = []
        for name, e in outputs:
            c = A.canonical(e, scope)
            if c in canon_keys:
                i = canon_keys.index(c)
                if key_cols[i] is None:
                    key_cols[i] = (name, compiler.type_of(e), e)
                    continue
                if persistent:
                    raise KsqlException(
                        f"The projection contains a key column (`{key_cols[i][0]}`) more than once, "  # type: ignore[index]
                        f"aliased as: {key_cols[i][0]} and {name}."  # type: ignore[index]
                    )
            values.append((name, e))
        missing = [i for i, k in enumerate(key_cols) if k is None]
        if missing:
            if not persistent:
                # transient queries do not need the key in the projection
                return [], values
            exprs = [_qualified_sql(key_exprs[i], scope, partitioned) for i in missing]
            label = {"partition": "partitioning expression", "key": "key column", "join": "join expression"}[why]
            if len(exprs) > 1:
                label += "s" if not label.endswith("s") else ""
                listing = ", ".join(exprs[:-1]) + " and " + exprs[-1]
            else:
                listing = exprs[0]
            if why == "key" and len(exprs) > 1:
                label = "key columns"
            raise KsqlException(
                f"The query used to build `{sink_name}` must include the {label} {listing} in its projection "
                f"(eg, SELECT {', '.join(exprs)}...)."
            )
        return [k for k in key_cols if k is not None], values

    def _compile_predicate(self, compiler: ExpressionCompiler, node: exp.Expression, clause: str) -> Any:
        try:
            c = compiler.compile(node)
        except KsqlException as e:
            raise KsqlException(f"Error in {clause} expression: {e}") from e
        if c.type.base not in (BaseType.BOOLEAN, BaseType.NULL):
            raise KsqlException(
                f"Type error in {clause} expression: Should evaluate to boolean but is {c.text} ({c.type}) instead."
            )
        return c

    def _chain(self, head: Operator, op: Operator) -> Operator:
        head.to(op)
        self._ops.append(op)
        return op

    def _store(self, prefix: str) -> str:
        self._store_counter += 1
        return f"{prefix}-{self._store_counter}"

    def _source_op(self, src: DataSource, source_ops: dict[str, list[SourceOp]]) -> SourceOp:
        op = self.serdes.source_op(src)
        source_ops.setdefault(src.topic, []).append(op)
        self._ops.append(op)
        return op

    _tf_types: list[SqlType] = []

    def _table_function(self, compiler: ExpressionCompiler, node: exp.Anonymous) -> Callable[[Row], Any]:
        name = str(node.this).upper()
        fn = reg.TABLE_FUNCTIONS[name]
        args = [compiler.compile(a, safe=False) for a in node.expressions]
        types = [a.type for a in args]
        for ov in fn.overloads:
            m = reg.match_overload(ov.params, ov.variadic, types)
            if m is None:
                continue
            _, env, ptypes = m
            rt = reg.resolve_return(ov.returns, env, types)
            impl = ov.make_impl(types, rt)
            self._tf_types = self._tf_types + [rt]
            fns = [a.fn for a in args]
            log = self.log_error

            def run(row: Row, impl: Any = impl, fns: list[Any] = fns) -> list[Any] | None:
                try:
                    return impl(*[f(row) for f in fns])
                except Exception as e:
                    log(f"Error in table function {name}: {e}")
                    return None

            return run
        raise KsqlException(f"Function '{name}' does not accept parameters ({', '.join(map(str, types))}).")

    # ------------------------------------------------------------------------------------------
    def _plan_aggregate(self, query: nodes.Query, ins: A.InputScope, compiler: ExpressionCompiler,
                        head: Operator, kind: str, select: list[tuple[exp.Expression, str | None]],
                        uses: list[A.SourceUse], source_ops: dict[str, list[SourceOp]], sink_name: str | None,
                        persistent: bool) -> QueryPlan:
        scope = ins.scope
        if not query.group_by:
            raise KsqlException(
                "CREATE TABLE AS SELECT statement does not support aggregate function "
                "without a GROUP BY clause." if persistent else "Aggregate query requires a GROUP BY clause."
            )
        for g in query.group_by:
            for agg in A.find_aggregates(g):
                raise KsqlException(
                    f"GROUP BY does not support aggregate functions: {str(agg.this).upper()} is an aggregate function."
                )
        for src in uses:
            if src.source.window is not None:
                raise KsqlException("Aggregating windowed sources is not supported")
        group_fns = []
        gnames = []
        gmap: dict[str, str] = {}
        gtypes: dict[str, SqlType] = {}
        for i, g in enumerate(query.group_by):
            c = compiler.compile(g)
            gname = f"$G{i}"
            group_fns.append(c.fn)
            gnames.append(gname)
            gmap[A.canonical(g, scope)] = gname
            gtypes[gname] = c.type
            if _contains_map(c.type):
                pass

        table_input = kind == "TABLE"
        if table_input:
            mat = TableMaterializeOp(self._store("KsqlTopic-Reduce"))
            head = self._chain_before_filter(head, mat)

        # rewrite select + having
        calls: list[AggCall] = []
        agg_types: dict[str, SqlType] = {}
        select_copies = [(e.copy(), alias) for e, alias in select]
        having = query.having.copy() if query.having is not None else None
        extra: dict[int, str] = {}
        all_aggs = [a for e, _ in select_copies for a in A.find_aggregates(e)]
        if having is not None:
            all_aggs += A.find_aggregates(having)
        if not all_aggs:
            raise KsqlException("GROUP BY requires aggregate functions in either the SELECT or HAVING clause.")
        agg_by_canon: dict[str, str] = {}
        for agg in all_aggs:
            canon = A.canonical(agg, scope)
            if canon in agg_by_canon:
                extra[id(agg)] = agg_by_canon[canon]
                continue
            aname = f"$A{len(calls)}"
            call, rt = self._agg_call(compiler, agg, aname, table_input)
            calls.append(call)
            agg_types[aname] = rt
            extra[id(agg)] = aname
            agg_by_canon[canon] = aname

        window = None
        win_info = None
        if query.window is not None:
            w = query.window
            grace = w.grace_ms if w.grace_ms is not None else DEFAULT_GRACE_MS
            window = Windowing(w.kind, w.size_ms or 0, w.advance_ms or 0, w.gap_ms or 0, grace, w.retention_ms)
            if w.kind == "HOPPING" and w.advance_ms and w.size_ms and w.advance_ms > w.size_ms:
                raise KsqlException("Window advance must be less than or equal to window size")
            win_info = WindowInfo(w.kind, w.size_ms if w.kind != "SESSION" else None)
        emit_final = query.emit == "FINAL"
        if emit_final and window is None:
            raise KsqlException("EMIT FINAL is only supported for windowed aggregations.")

        agg_op = AggregateOp(self._store("Aggregate-Materialize"), group_fns, gnames, calls, window,
                             table_input, emit_final)
        head = self._chain(head, agg_op)

        # the aggregate's output scope
        out_cols: dict[str, SqlType] = {**gtypes, **agg_types, ROWTIME: A.PSEUDO_COLUMNS[ROWTIME]}
        if window is not None:
            out_cols[WINDOWSTART] = A.WINDOW_BOUNDS[WINDOWSTART]
            out_cols[WINDOWEND] = A.WINDOW_BOUNDS[WINDOWEND]
        agg_scope = Scope(out_cols)
        agg_compiler = ExpressionCompiler(agg_scope, self.log_error)

        def to_agg_scope(node: exp.Expression, what: str) -> exp.Expression:
            rewritten = A.rewrite(node, {}, scope, extra)
            rewritten = A.rewrite(rewritten, gmap, scope)
            bad = []
            for col in A.columns_in(rewritten):
                if col.name in out_cols and not col.table:
                    continue
                if col.name in (WINDOWSTART, WINDOWEND) and window is not None:
                    continue
                bad.append(col)
            if bad:
                raise KsqlException(
                    f"Non-aggregate {what} expression(s) not part of GROUP BY: "
                    + ", ".join(sorted({_display(node, b) for b in bad}))
                    + "\nEither add the column(s) to the GROUP BY or remove them from the SELECT."
                )
            return rewritten

        names = self._assign_names(select, ins)
        rewritten_items = []
        for (e, _), name in zip(select_copies, names, strict=True):
            if isinstance(e, exp.Column) and e.name in (WINDOWSTART, WINDOWEND) and persistent \
                    and name in (WINDOWSTART, WINDOWEND):
                raise KsqlException(f"Reserved column name in select: `{name}`. Please remove or alias the column.")
            rewritten_items.append((name, to_agg_scope(e, "SELECT")))

        # key columns: group-by expressions as they appear in the projection
        key_cols: list[tuple[str, SqlType, exp.Expression] | None] = [None] * len(gnames)
        values: list[tuple[str, exp.Expression]] = []
        for name, e in rewritten_items:
            if isinstance(e, exp.Column) and e.name in gnames:
                i = gnames.index(e.name)
                if key_cols[i] is None:
                    key_cols[i] = (name, gtypes[e.name], e)
                    continue
                if persistent:
                    raise KsqlException(
                        f"The projection contains a key column more than once: `{key_cols[i][0]}` and `{name}`."  # type: ignore[index]
                    )
            values.append((name, e))
        missing = [i for i, k in enumerate(key_cols) if k is None]
        if missing and persistent:
            exprs = [expr_sql(query.group_by[i]) for i in missing]
            if len(exprs) == 1:
                label, listing = "grouping expression", exprs[0]
            else:
                label, listing = "grouping expressions", ", ".join(exprs[:-1]) + " and " + exprs[-1]
            raise KsqlException(
                f"The query used to build `{sink_name}` must include the {label} {listing} in its projection "
                f"(eg, SELECT {', '.join(exprs)}...)."
            )
        if having is not None:
            hc = self._compile_predicate(agg_compiler, to_agg_scope(having, "HAVING"), "HAVING")
            head = self._chain(head, FilterOp(hc.fn, True))

        columns: list[tuple[str, Callable[[Row], Any]]] = []
        schema_cols: list[Column] = []
        for k in key_cols:
            if k is None:
                continue
            name, t, e = k
            columns.append((name, agg_compiler.compile(e).fn))
            schema_cols.append(Column(name, t, KEY))
        seen = {c.name for c in schema_cols}
        for name, e in values:
            c = agg_compiler.compile(e)
            if name in seen:
                raise KsqlException(f"Duplicate value columns found in schema: `{name}` {c.type}")
            seen.add(name)
            columns.append((name, c.fn))
            schema_cols.append(Column(name, c.type, VALUE))
        for c in schema_cols:
            if c.namespace == KEY and _contains_map(c.type):
                raise KsqlException(
                    "Map keys, including types that contain maps, are not supported as they may lead to unexpected "
                    f"behavior due to inconsistent serialization. Key column name: `{c.name}`. Column type: {c.type}. "
                    "See https://github.com/confluentinc/ksql/issues/6621 for more."
                )
        if window is not None and not persistent:
            for wn in (WINDOWSTART, WINDOWEND):
                if wn not in seen:
                    pass
        head = self._chain(head, ProjectOp(columns))
        schema = LogicalSchema(schema_cols)
        return QueryPlan(schema, "TABLE", win_info, [u.source for u in uses], source_ops, self._ops, head,
                         [c.name for c in schema.key], [c.name for c in schema.value], emit_final, query.limit,
                         projection=names)

    def _chain_before_filter(self, head: Operator, mat: Operator) -> Operator:
        """Insert a materialization right after the source (before any filter) for table inputs."""
        src = next((o for o in self._ops if isinstance(o, SourceOp)), None)
        if src is None or src is head:
            return self._chain(head, mat)
        downstream = src.downstream
        src.downstream = [(mat, 0)]
        mat.downstream = downstream
        self._ops.append(mat)
        return head

    def _agg_call(self, compiler: ExpressionCompiler, node: exp.Anonymous, out_name: str,
                  table_input: bool) -> tuple[AggCall, SqlType]:
        name = str(node.this).upper()
        fn = reg.AGGREGATE_FUNCTIONS[name]
        args = list(node.expressions)
        if len(args) == 1 and isinstance(args[0], exp.Star):
            args = []
        compiled = [None if isinstance(a, nodes.KsqlLambda) else compiler.compile(a, safe=True) for a in args]
        types = [c.type if c is not None else None for c in compiled]
        candidates = []
        for ov in fn.overloads:
            n_init = len(ov.init_params)
            if ov.variadic:
                if len(args) < len(ov.params) - 1 + n_init:
                    continue
            elif len(args) != len(ov.params) + n_init:
                continue
            col_args = args[: len(args) - n_init] if n_init else args
            init_args = args[len(args) - n_init:] if n_init else []
            col_types = types[: len(col_args)]
            m = reg.match_overload(ov.params, ov.variadic, col_types)  # type: ignore[arg-type]
            if m is None:
                continue
            init_values = []
            ok = True
            for a in init_args:
                v = _literal_value(a)
                if v is _NOT_LITERAL:
                    ok = False
                    break
                init_values.append(v)
            if not ok:
                continue
            candidates.append((m[0], ov, m, col_args, init_values))
        if not candidates:
            raise KsqlException(
                f"Function '{name}' does not accept parameters ({', '.join(str(t) for t in types)})."
            )
        candidates.sort(key=lambda c: c[0])
        _, ov, (cost, env, ptypes), col_args, init_values = candidates[0]
        col_types = [t for t in types[: len(col_args)]]
        rt = reg.resolve_return(ov.returns, env, col_types)  # type: ignore[arg-type]
        udaf = ov.factory(col_types, init_values)  # type: ignore[arg-type]
        if table_input and not udaf.supports_undo:
            raise KsqlException(f"The aggregation function {name} does not support undo and cannot be used on tables")
        arg_fns = [c.fn for c in compiled[: len(col_args)]]  # type: ignore[union-attr]
        return AggCall(out_name, udaf, arg_fns), rt

    # ------------------------------------------------------------------------------------------
    def _plan_joins(self, query: nodes.Query, uses: list[A.SourceUse], ins: A.InputScope,
                    source_ops: dict[str, list[SourceOp]], compiler: ExpressionCompiler):  # type: ignore[no-untyped-def]
        scope = ins.scope
        left_use = uses[0]
        left_head: Operator = self._source_op(left_use.source, source_ops)
        left_kind = left_use.source.kind
        left_aliases = [left_use.alias]
        left_cols = [k for (q, _n), k in scope.qualified.items() if q == left_use.alias]
        left_key_expr: list[exp.Expression] = [
            exp.Column(this=exp.to_identifier(c.name, quoted=True), table=exp.to_identifier(left_use.alias, quoted=True))
            for c in left_use.source.schema.key
        ]
        left_prefixed = False
        key_equivalents: list[exp.Expression] = list(left_key_expr)
        synthetic = False
        for j, use in zip(query.joins, uses[1:], strict=True):
            right_src = use.source
            lexpr, rexpr = self._split_condition(j.on, left_aliases, use.alias, scope)
            lcomp = compiler.compile(lexpr)
            rcomp = compiler.compile(rexpr)
            right_kind = right_src.kind
            right_cols = [k for (q, _n), k in scope.qualified.items() if q == use.alias]
            # prefix + key each side by its join expression
            if not left_prefixed:
                lmap = [(n, f"{left_use.alias}_{n}") for n in self._source_row_names(left_use.source)]
                left_head = self._chain(left_head, PrefixOp(lmap, None))
                left_prefixed = True
            right_head: Operator = self._source_op(right_src, source_ops)
            rmap = [(n, f"{use.alias}_{n}") for n in self._source_row_names(right_src)]
            right_on_key = _is_key_ref(rexpr, use, scope)
            left_on_key = any(A.canonical(lexpr, scope) == A.canonical(k, scope) for k in key_equivalents)

            if left_kind == "TABLE" and right_kind == "TABLE" and not right_on_key:
                raise KsqlException(
                    "Invalid join condition: table-table joins require to join on the primary key of the right "
                    f"input table. Got {expr_sql(lexpr)} = {expr_sql(rexpr)}."
                )
            if left_kind == "STREAM" and right_kind == "TABLE" and not right_on_key:
                raise KsqlException(
                    "Invalid join condition: stream-table joins require to join on the table's primary key. "
                    f"Got {expr_sql(lexpr)} = {expr_sql(rexpr)}."
                )
            if left_kind == "TABLE" and right_kind == "STREAM":
                raise KsqlException(
                    "Invalid join type: stream-table joins must have the stream on the left side."
                    if True else ""
                )
            fk = left_kind == "TABLE" and right_kind == "TABLE" and not left_on_key
            store = self._store("Join")
            rkey_fn = _row_key_fn(rcomp.fn)
            if fk:
                if len(uses) > 2:
                    raise KsqlException(
                        "Invalid join condition: foreign-key table-table joins are not supported as part of "
                        f"n-way joins. Got {expr_sql(lexpr)} = {expr_sql(rexpr)}."
                    )
                if j.kind not in ("INNER", "LEFT"):
                    raise KsqlException(f"Invalid join type: {j.kind} join is not supported for foreign-key joins.")
                op: Operator = ForeignKeyJoinOp(j.kind, left_cols, right_cols, store, lcomp.fn)
                left_head.to(op, 0)
                right_prefix = self._chain(right_head, PrefixOp(rmap, None))
                right_prefix.to(op, 1)
                self._ops.append(op)
                left_head = op
                continue
            if not left_on_key:
                if left_kind == "TABLE":
                    raise KsqlException("Invalid join condition: table-table joins require to join on the primary key")
                left_head = self._chain(left_head, PrefixOp([(k, k) for k in left_cols + _all_cols(scope, left_aliases)], _row_key_fn(lcomp.fn)))
            right_prefix = self._chain(right_head, PrefixOp(rmap, None if right_on_key else _row_key_fn(_prefixed(rcomp.fn, rmap))))
            key_fn = None
            if j.kind == "FULL":
                synthetic = True
                lf, rf = lcomp.fn, rcomp.fn

                def key_fn(key: Any, row: Row, lf: Any = lf, rf: Any = rf) -> Any:
                    lv = lf(row)
                    return (lv if lv is not None else rf(row),)
            if left_kind == "STREAM" and right_kind == "STREAM":
                if j.within is None:
                    raise KsqlException("Stream-Stream joins must have a WITHIN clause specified. None was provided. To learn about how to specify a WITHIN clause with a stream-stream join, please visit: https://docs.confluent.io/current/ksql/docs/syntax-reference.html#create-stream-as-select")
                op = StreamStreamJoinOp(j.kind, left_cols + _all_cols(scope, left_aliases, exclude=left_cols), right_cols,
                                        j.within.before_ms, j.within.after_ms, j.within.grace_ms, store, key_fn)
            elif left_kind == "STREAM":
                if j.within is not None:
                    raise KsqlException(f"A window definition was provided for a Stream-Table join. These joins are not windowed. Please drop the window definition (i.e. the WITHIN clause) and try to execute your join again.")
                if j.kind not in ("INNER", "LEFT"):
                    raise KsqlException(f"Invalid join type encountered: [{j.kind} OUTER JOIN]")
                op = StreamTableJoinOp(j.kind, left_cols, right_cols, store, key_fn)
            else:
                if j.within is not None:
                    raise KsqlException("A window definition was provided for a Table-Table join. These joins are not windowed. Please drop the window definition (i.e. the WITHIN clause) and try to execute your join again.")
                op = TableTableJoinOp(j.kind, left_cols + _all_cols(scope, left_aliases, exclude=left_cols), right_cols, store, key_fn)
            left_head.to(op, 0)
            right_prefix.to(op, 1)
            self._ops.append(op)
            left_head = op
            if j.kind == "FULL":
                key_equivalents = [exp.Column(this=exp.to_identifier("ROWKEY", quoted=True))]
            elif j.kind == "RIGHT":
                key_equivalents = [lexpr, rexpr]
            else:
                key_equivalents = [lexpr, rexpr] if left_on_key or True else [lexpr, rexpr]
            left_aliases.append(use.alias)
            left_cols = left_cols + right_cols
            if left_kind == "STREAM" or right_kind == "STREAM":
                left_kind = "STREAM"
        kind = left_kind
        # key columns of the join result
        if synthetic:
            scope.columns["ROWKEY"] = compiler.type_of(key_equivalents[0]) if False else self._synthetic_type(query, compiler)
            key_exprs = [exp.Column(this=exp.to_identifier("ROWKEY", quoted=True))]
            self._synthetic_key = True
            # ROWKEY is filled from the record key right before projection
            left_head = self._chain(left_head, _RowKeyOp())
            return left_head, kind, ["ROWKEY"], key_exprs, True
        return left_head, kind, [], [_first_projected(query, key_equivalents, scope)], False

    def _synthetic_type(self, query: nodes.Query, compiler: ExpressionCompiler) -> SqlType:
        j = query.joins[-1]
        return compiler.type_of(j.on.this if hasattr(j.on, "this") else j.on)

    def _source_row_names(self, src: DataSource) -> list[str]:
        names = [c.name for c in src.schema.columns]
        names += list(A.PSEUDO_COLUMNS)
        if src.window is not None:
            names += list(A.WINDOW_BOUNDS)
        return names

    def _split_condition(self, on: exp.Expression, left_aliases: list[str], right_alias: str,
                         scope: Scope) -> tuple[exp.Expression, exp.Expression]:
        cond = on.this if isinstance(on, exp.Paren) else on
        if not isinstance(cond, exp.EQ):
            raise KsqlException(f"Unsupported join expression: {expr_sql(on)}. Only equality joins are supported.")

        def sources_of(e: exp.Expression) -> set[str]:
            out = set()
            for col in A.columns_in(e):
                key = scope.resolve(col.table or None, col.name).key
                for (q, _n), k in scope.qualified.items():
                    if k == key:
                        out.add(q)
            return out

        a, b = cond.this, cond.expression
        sa, sb = sources_of(a), sources_of(b)
        for side, s in ((a, sa), (b, sb)):
            if len(s) != 1:
                raise KsqlException(
                    f"Invalid comparison expression '{expr_sql(side)}' in join '({expr_sql(cond)})'. "
                    "Each side of the join comparision must contain references from exactly one source."
                )
        if sb == {right_alias} and sa <= set(left_aliases):
            return a, b
        if sa == {right_alias} and sb <= set(left_aliases):
            return b, a
        raise KsqlException(f"Invalid join condition: {expr_sql(cond)}")


class _RowKeyOp(Operator):
    def process(self, rec: Any, port: int = 0) -> None:
        if rec.row is not None:
            rec.row["ROWKEY"] = rec.key[0] if rec.key else None
        self.forward(rec)


_NOT_LITERAL = object()


def _literal_value(node: exp.Expression) -> Any:
    from ksql.expressions.compiler import literal_type

    if isinstance(node, exp.Literal):
        return literal_type(node.this, node.is_string)[0]
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal):
        return literal_type("-" + node.this.this, False)[0]
    if isinstance(node, exp.Boolean):
        return node.this
    if isinstance(node, exp.Null):
        return None
    return _NOT_LITERAL


def _contains_map(t: SqlType) -> bool:
    if t.base is BaseType.MAP:
        return True
    if t.base is BaseType.ARRAY:
        return _contains_map(t.element)  # type: ignore[arg-type]
    if t.base is BaseType.STRUCT:
        return any(_contains_map(ft) for _, ft in t.fields)
    return False


def _display(node: exp.Expression, col: exp.Column) -> str:
    # ksqlDB reports the smallest enclosing non-aggregate expression; keep it simple: the column or call
    parent = col.parent
    while parent is not None and not isinstance(parent, exp.Anonymous) and parent is not node:
        parent = parent.parent
    if isinstance(parent, exp.Anonymous) and not A.is_aggregate_call(parent):
        return expr_sql(parent)
    return col.name


def _qualified_sql(node: exp.Expression, scope: Scope, partitioned: bool) -> str:
    if not partitioned:
        if isinstance(node, exp.Column):
            if node.table and node.table in {q for q, _ in scope.qualified} and len({q for q, _ in scope.qualified}) > 1:
                return f"{node.table}.{node.name}"
            return node.name
        return expr_sql(node)
    # ksqlDB prints PARTITION BY expressions with qualified column names
    sources = {q for q, _ in scope.qualified}
    qual = next(iter(sources)) if len(sources) == 1 else None

    def fix(n: exp.Expression) -> exp.Expression:
        if isinstance(n, exp.Column) and not n.table and qual:
            return exp.Column(this=n.this, table=exp.to_identifier(qual))
        return n

    return expr_sql(node.copy().transform(fix))


def _is_key_ref(node: exp.Expression, use: A.SourceUse, scope: Scope) -> bool:
    if not isinstance(node, exp.Column):
        return False
    keys = use.source.schema.key
    return len(keys) == 1 and node.name == keys[0].name


def _row_key_fn(fn: Callable[[Row], Any]) -> Callable[[Row], tuple[Any, ...]]:
    return lambda row: (fn(row),)


def _prefixed(fn: Callable[[Row], Any], mapping: list[tuple[str, str]]) -> Callable[[Row], Any]:
    # the compiled join expression reads prefixed names; the right side is keyed before renaming
    def run(row: Row) -> Any:
        return fn({new: row.get(old) for old, new in mapping})

    return run


def _all_cols(scope: Scope, aliases: list[str], exclude: list[str] | None = None) -> list[str]:
    ex = set(exclude or [])
    return [k for (q, _n), k in scope.qualified.items() if q in aliases and k not in ex]


def _first_projected(query: nodes.Query, equivalents: list[exp.Expression], scope: Scope) -> exp.Expression:
    """Among equivalent join-key expressions, the one the projection uses first names the key."""
    canon = {A.canonical(e, scope): e for e in equivalents}
    for item in query.select:
        if item.expr is None:
            return equivalents[0]
        c = A.canonical(item.expr, scope)
        if c in canon:
            return canon[c]
    return equivalents[0]
