"""Turns a SELECT into an operator graph and the schema of its result.

The graph is built fresh for every run of a query (start, restart), from the statement text, so a
plan is fully determined by the statement and the metastore it was accepted against.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlglot import exp

from ksql.catalog import DataSource, MetaStore, WindowInfo
from ksql.dialect import nodes
from ksql.errors import KsqlException
from ksql.expressions.compiler import CodegenError, ExpressionCompiler, Scope, expr_sql, located
from ksql.formats import check_key_maps
from ksql.functions import registry as reg
from ksql.functions.aggregate_base import INTERMEDIATE_TYPE_ERROR, has_complex_intermediate
from ksql.planner import analysis as A
from ksql.planner.serde import SerdeFactory
from ksql.runtime.aggregate import DEFAULT_GRACE_MS, AggCall, AggregateOp, HavingOp, Windowing
from ksql.runtime.joins import (
    ForeignKeyJoinOp,
    JoinedTableFilterOp,
    PrefixOp,
    RekeyJoinInputOp,
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
from ksql.schema import (
    KEY,
    ROWTIME,
    SYSTEM_COLUMN_NAMES,
    VALUE,
    WINDOWEND,
    WINDOWSTART,
    Column,
    LogicalSchema,
)
from ksql.sqltypes import INTEGER, BaseType, SqlType, can_implicitly_cast
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
    # the query as ksqlDB re-formats it after analysis (qualified columns, every item named, EMIT
    # CHANGES), from SELECT on: errors of later stages quote the statement in this form. None when
    # not modelled (joins, windows)
    formatted: str | None = None


class Planner:
    def __init__(self, metastore: MetaStore, serdes: SerdeFactory, log_error: Callable[[str], None],
                 config: dict[str, Any] | None = None) -> None:
        self.metastore = metastore
        self.serdes = serdes
        self.log_error = log_error
        self.config = config or {}
        self._ops: list[Operator] = []
        self._store_counter = 0
        self._join_output: Operator | None = None  # the last join's operator (tables materialize after it)
        self._join_window: WindowInfo | None = None
        # a CREATE ... AS SELECT's TIMESTAMP property: the column must be in the projection, which
        # ksqlDB checks before the key columns
        self.sink_timestamp: str | None = None

    # ------------------------------------------------------------------------------------------
    def plan(self, query: nodes.Query, sink_name: str | None, persistent: bool) -> QueryPlan:
        uses = A.resolve_sources(query, self.metastore)
        joined = bool(query.joins)
        if joined:
            ins = A.join_scope(uses)
            self._analyze_joins(query, uses, ins)
        else:
            ins = A.single_scope(uses[0], include_window=not persistent)
        compiler = ExpressionCompiler(ins.scope, self.log_error)
        self._check_select(query, ins, persistent)
        A.validate_references(query, ins)
        if persistent and not joined and uses[0].source.window is not None and uses[0].source.kind == "TABLE":
            raise KsqlException("KSQL does not support persistent queries on windowed tables.")

        source_ops: dict[str, list[SourceOp]] = {}
        if joined:
            head, kind, key_names, key_exprs, synthetic = self._plan_joins(query, uses, ins, source_ops, compiler)
            in_window = self._join_window
        else:
            use = uses[0]
            head = self._source_op(use.source, source_ops)
            kind = use.source.kind
            key_names = [c.name for c in use.source.schema.key]
            key_exprs = [exp.Column(this=exp.to_identifier(n, quoted=True)) for n in key_names]
            synthetic = False
            in_window = use.source.window

        if query.where is not None:
            if query.window is not None and not joined:
                # the window bounds only exist after the aggregation
                for col in A.columns_in(query.where):
                    if not col.table and col.name in (WINDOWSTART, WINDOWEND) and col.name not in ins.scope.columns:
                        raise KsqlException(f"Error in WHERE expression: Unknown column {col.name}.")
            pred = self._compile_predicate(compiler, query.where, "WHERE")
            head = self._chain(head, JoinedTableFilterOp(pred.fn) if joined and kind == "TABLE"
                               else FilterOp(pred.fn, kind == "TABLE"))

        # PARTITION BY: the new key, computed from the input row before the projection
        partition_keys: list[exp.Expression] | None = None
        if query.partition_by:
            if kind == "TABLE":
                raise KsqlException("Invalid Partition By: Partition By is not supported for tables.")
            partition_keys = list(query.partition_by)
            if any(isinstance(k, exp.Null) for k in partition_keys):
                if len(partition_keys) > 1:
                    raise KsqlException("Cannot PARTITION BY multiple columns including NULL")
                partition_keys = []

        select = self._expand_select(query, ins, None if joined else partition_keys,
                                     None if joined else key_names)
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

        # names come from the select as written, before table functions are pulled out
        names = self._assign_names(select, ins)
        self._check_sink_timestamp(names)
        select_as_written = list(select)

        # table functions: evaluated by a flat-map, each call read back as a column
        tf_calls: list[tuple[str, exp.Anonymous]] = []
        select = [(A.extract_table_functions(e, tf_calls), alias) for e, alias in select]
        if tf_calls:
            if kind == "TABLE":
                raise KsqlException("Table source is not supported with table functions")
            fns = []
            for fname, call in tf_calls:
                fn, rt = self._table_function(compiler, call)
                fns.append((fname, fn))
                ins.scope.columns[fname] = rt
            head = self._chain(head, FlatMapOp(fns))

        for e, _ in select:
            try:
                compiler.type_of(e)  # type errors (unknown parameters...) come before key checks
            except CodegenError:
                pass  # reported with its clause when the projection is compiled

        # key of the result
        if partition_keys is not None:
            key_exprs = partition_keys
            synthetic = False

        outputs = list(zip(names, (e for e, _ in select), strict=True))
        keyless_ok = (not joined and partition_keys is None and kind == "STREAM"
                      and _flag(self.config.get("ksql.new.query.planner.enabled")))
        key_cols, value_items = self._split_key(outputs, key_exprs, ins.scope, sink_name,
                                                why="join" if joined and partition_keys is None else
                                                ("partition" if partition_keys is not None else "key"),
                                                synthetic=synthetic, persistent=persistent,
                                                partitioned=partition_keys is not None, keyless_ok=keyless_ok)
        if partition_keys is not None:
            key_fns = [compiler.compile(k).fn for k in key_exprs]
            knames = [f"$K{i}" for i in range(len(key_fns))]
            head = self._chain(head, RekeyOp(key_fns, knames, key_names))
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
            c = compiler.compile(e, clause="SELECT")
            if name in seen:
                raise KsqlException(f"Duplicate value columns found in schema: `{name}` {c.type}")
            seen.add(name)
            columns.append((name, c.fn))
            schema_cols.append(Column(name, c.type, VALUE))
        for out_col in schema_cols:
            # (joins check their own repartition keys, under the joined names)
            if out_col.namespace == KEY and not joined:
                check_key_maps([(out_col.name, out_col.type)])
        if persistent and not [c for c in schema_cols if c.namespace == VALUE]:
            raise KsqlException("The projection contains no value columns.")
        head = self._chain(head, ProjectOp(columns))
        schema = LogicalSchema(schema_cols)
        window = in_window
        return QueryPlan(schema, kind, window, [u.source for u in uses], source_ops, self._ops, head,
                         [c.name for c in schema.key], [c.name for c in schema.value], limit=query.limit,
                         projection=names, formatted=_format_query(query, select_as_written, names, ins))

    def _check_sink_timestamp(self, names: list[str]) -> None:
        ts = self.sink_timestamp
        if ts is None:
            return
        name = ts[1:-1] if ts.startswith("`") and ts.endswith("`") else ts.upper()
        if name not in names and ts not in names:
            raise KsqlException(
                f"The TIMESTAMP column set in the WITH clause does not exist in the schema: '{name}'")

    # ------------------------------------------------------------------------------------------
    def _check_select(self, query: nodes.Query, ins: A.InputScope, persistent: bool) -> None:
        if not persistent:
            return
        for item in query.select:
            e = item.expr
            same_name = item.alias == e.name if isinstance(e, exp.Column) else False
            if isinstance(e, exp.Column) and e.name in SYSTEM_COLUMN_NAMES and (
                    same_name or (item.alias is None and not ins.joined)):
                # a system column selected as itself would clash with the sink's own
                raise KsqlException(f"Reserved column name in select: `{e.name}`. Please remove or alias the column.")
            if item.alias is not None and item.alias in SYSTEM_COLUMN_NAMES:
                raise KsqlException(
                    f"`{item.alias}` is a reserved column name. You cannot use it as an alias for a column."
                )

    def _expand_select(self, query: nodes.Query, ins: A.InputScope,
                       partition_keys: list[exp.Expression] | None = None,
                       key_names: list[str] | None = None) -> list[tuple[exp.Expression, str | None]]:
        """Select items as (expression, alias). ``*`` expands to the source's columns; after a
        PARTITION BY the new key columns come first and the old key columns move to the end."""
        out: list[tuple[exp.Expression, str | None]] = []
        for item in query.select:
            if item.expr is None:
                star = list(ins.star)
                if item.star_qualifier is not None and not any(q == item.star_qualifier for q, _, _ in star):
                    raise KsqlException(f"'{item.star_qualifier}' is not a valid stream/table name or alias.")
                if partition_keys is not None:
                    for k in partition_keys:
                        out.append((k, None))
                    taken = {k.name for k in partition_keys if isinstance(k, exp.Column)}
                    old_keys = set(key_names or [])
                    star = ([s for s in star if s[1] not in taken and s[1] not in old_keys]
                            + [s for s in star if s[1] not in taken and s[1] in old_keys])
                for qual, name, key in star:
                    if item.star_qualifier is not None and qual != item.star_qualifier:
                        continue
                    col = exp.Column(this=exp.to_identifier(name, quoted=True),
                                     table=exp.to_identifier(qual, quoted=True) if qual else None)
                    out.append((col, key))
            elif item.struct_all:
                t = ExpressionCompiler(ins.scope).type_of(item.expr)
                if t.base is not BaseType.STRUCT:
                    raise KsqlException(f"Expected STRUCT type for {expr_sql(item.expr)}->*, got {t}")
                for fname, _ in t.fields:
                    out.append((nodes.Dereference(this=item.expr.copy(), field=fname), fname))
            else:
                out.append((item.expr, item.alias))
        return out

    def _assign_names(self, select: list[tuple[exp.Expression, str | None]], ins: A.InputScope) -> list[str]:
        """Output column names: aliases and column names as they are; a struct field takes the field's
        name, suffixed ``_1``, ``_2``... when that name is taken; anything else KSQL_COL_n, skipping
        names already used by the sources or the projection."""
        used = {name for _, name, _ in ins.star} | {key for _, _, key in ins.star}
        names: list[str | None] = []
        for e, alias in select:
            if alias is not None:
                names.append(alias)
            elif isinstance(e, nodes.Dereference) or (
                    isinstance(e, exp.Paren) and isinstance(e.this, nodes.Dereference)):
                names.append(None)
            else:
                names.append(A.default_name(e, ins.joined, ins.scope))
        used |= {n for n in names if n is not None}
        counter = 0
        out = []
        for (e, _), n in zip(select, names, strict=True):
            if n is None:
                field = A.default_name(e, ins.joined, ins.scope)
                if field is not None:
                    n, suffix = field, 0
                    while n in used:
                        suffix += 1
                        n = f"{field}_{suffix}"
                else:
                    while f"KSQL_COL_{counter}" in used:
                        counter += 1
                    n = f"KSQL_COL_{counter}"
                    counter += 1
                used.add(n)
            out.append(n)
        return out

    def _split_key(self, outputs: list[tuple[str, exp.Expression]], key_exprs: list[exp.Expression],
                   scope: Scope, sink_name: str | None, why: str, synthetic: bool, persistent: bool,
                   partitioned: bool, keyless_ok: bool = False,
                   ) -> tuple[list[tuple[str, SqlType, exp.Expression]], list[tuple[str, exp.Expression]]]:
        """Split the projection into the key columns (the items matching ``key_exprs``, in key order)
        and the value columns."""
        if why == "join":
            return self._split_join_key(outputs, scope, sink_name, persistent)
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
                        f"The projection contains a key column (`{_key_display(key_exprs[i], key_cols[i][0])}`) "  # type: ignore[index]
                        f"more than once, aliased as: {' and '.join(sorted((key_cols[i][0], name)))}."  # type: ignore[index]
                    )
            values.append((name, e))
        missing = [i for i, k in enumerate(key_cols) if k is None]
        if missing:
            if not persistent or (keyless_ok and len(missing) == len(key_cols)):
                # transient queries do not need the key in the projection; nor does the new planner
                return [], values
            # ksqlDB names the whole key, not just the missing part (join keys: only the missing)
            shown = missing if why == "join" else range(len(key_exprs))
            exprs = [_qualified_sql(key_exprs[i], scope, partitioned) for i in shown]
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
            c = compiler.compile(node, clause=clause)
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

    def _table_function(self, compiler: ExpressionCompiler,
                        node: exp.Anonymous) -> tuple[Callable[[Row], Any], SqlType]:
        name = str(node.this).upper()
        fn = reg.TABLE_FUNCTIONS[name]
        args = [compiler.compile(a, safe=True) for a in node.expressions]
        types = [a.type for a in args]
        best = None
        for ov in fn.overloads:
            m = reg.match_overload(ov.params, ov.variadic, types)
            if m is not None and (best is None or m[0] < best[0][0]):
                best = (m, ov)
        if best is None:
            raise KsqlException(
                f"Function '{name.lower()}' does not accept parameters ({reg.describe_args(types)}).\n"
                "Valid alternatives are:\n"
                + "\n".join(o.description or f"{name.lower()}({', '.join(map(str, o.params))})"
                            for o in fn.overloads)
            )
        (_, env, _ptypes), ov = best
        rt = reg.resolve_return(ov.returns, env, types)
        impl = ov.make_impl(types, rt)
        fns = [a.fn for a in args]
        log = self.log_error

        def run(row: Row, impl: Any = impl, fns: list[Any] = fns) -> list[Any] | None:
            try:
                return impl(*[f(row) for f in fns])
            except Exception as e:  # a failing table function yields no rows for this record
                log(f"Error in table function {name}: {e}")
                return None

        return run, rt

    # ------------------------------------------------------------------------------------------
    def _plan_aggregate(self, query: nodes.Query, ins: A.InputScope, compiler: ExpressionCompiler,
                        head: Operator, kind: str, select: list[tuple[exp.Expression, str | None]],
                        uses: list[A.SourceUse], source_ops: dict[str, list[SourceOp]], sink_name: str | None,
                        persistent: bool) -> QueryPlan:
        scope = ins.scope
        windowed = query.window is not None
        for g in query.group_by:
            for agg in A.find_aggregates(g):
                raise KsqlException(
                    f"GROUP BY does not support aggregate functions: {str(agg.this).upper()} is an aggregate function."
                )
        if any(A.contains_table_function(e) for e, _ in select):
            raise KsqlException("Table functions cannot be used with aggregations.")
        select_aggs = [a for e, _ in select for a in A.find_aggregates(e)]
        having_aggs = A.find_aggregates(query.having) if query.having is not None else []
        if windowed:
            # window bounds belong to the result: usable in the SELECT, not in what produces it
            bound_uses = [a for agg in select_aggs for a in agg.expressions] + list(query.group_by)
            if query.having is not None:
                bound_uses.append(query.having)
            for e in bound_uses:
                for col in A.columns_in(e):
                    if col.name in (WINDOWSTART, WINDOWEND) and col.name not in scope.columns:
                        raise KsqlException(
                            f"Window bounds column {col.name} can only be used in the SELECT clause of windowed "
                            "aggregations"
                        )

        if query.group_by and not select_aggs and not having_aggs:
            raise KsqlException("GROUP BY requires aggregate functions in either the SELECT or HAVING clause.")
        gcanon = [A.canonical(g, scope) for g in query.group_by]

        def non_aggregate_refs(e: exp.Expression) -> bool:
            # does e use input columns outside aggregate calls and outside group-by expressions?
            stripped = e.copy()
            aggs = A.find_aggregates(stripped)
            if aggs:
                stripped = A.rewrite(stripped, {}, scope, {id(a): "$agg" for a in aggs})
            stripped = A.rewrite(stripped, {c: "$group" for c in gcanon}, scope) if gcanon else stripped
            return any(not (windowed and c.name in (WINDOWSTART, WINDOWEND))
                       and c.name not in ("$agg", "$group")
                       for c in A.columns_in(stripped))

        bad = [_message_sql(e, ins.joined) for e, _ in select
               if A.canonical(e, scope) not in gcanon and non_aggregate_refs(e)]
        if bad:
            raise KsqlException(
                "Non-aggregate SELECT expression(s) not part of GROUP BY: " + ", ".join(bad)
                + "\nEither add the column(s) to the GROUP BY or remove them from the SELECT."
            )
        if not query.group_by:
            if persistent:
                shown = ", ".join(A.aggregate_display(a, scope) for a in select_aggs + having_aggs)
                raise KsqlException(
                    f"CREATE TABLE AS SELECT statement does not support aggregate function [{shown}] "
                    "without a GROUP BY clause."
                )
            if query.emit is None:  # pull queries do not aggregate
                raise KsqlException("Aggregate query requires a GROUP BY clause.")
        if not select_aggs and not having_aggs:
            raise KsqlException("GROUP BY requires aggregate functions in either the SELECT or HAVING clause.")
        for src in uses:
            if src.source.window is not None:
                raise KsqlException("Aggregating windowed sources is not supported")

        # the aggregate's output row: group-by values, aggregate results, ROWTIME and window bounds,
        # keyed by their display text so that errors in HAVING read as ksqlDB's
        out_cols: dict[str, SqlType] = {ROWTIME: A.PSEUDO_COLUMNS[ROWTIME]}
        if windowed:
            out_cols[WINDOWSTART] = A.WINDOW_BOUNDS[WINDOWSTART]
            out_cols[WINDOWEND] = A.WINDOW_BOUNDS[WINDOWEND]
        group_fns = []
        gnames: list[str] = []
        gtypes: dict[str, SqlType] = {}
        gmap: dict[str, str] = {}
        for i, g in enumerate(query.group_by):
            c = compiler.compile(g)
            gname = _display_name(g, scope, out_cols, f"$G{i}")
            group_fns.append(c.fn)
            gnames.append(gname)
            gmap.setdefault(gcanon[i], gname)
            gtypes[gname] = c.type
            out_cols[gname] = c.type
        if not query.group_by:
            # a transient query without GROUP BY aggregates all its rows as one group, keyed by a
            # constant that is not part of its result
            group_fns.append(lambda row: 0)
            gnames.append("$G0")
            gtypes["$G0"] = out_cols["$G0"] = INTEGER

        table_input = kind == "TABLE"
        if table_input:
            mat = TableMaterializeOp(self._store("KsqlTopic-Reduce"))
            head = self._chain_before_filter(head, mat)

        value_format = uses[0].source.value_format.name
        calls: list[AggCall] = []
        extra: dict[int, str] = {}
        select_copies = [(e.copy(), alias) for e, alias in select]
        having = query.having.copy() if query.having is not None else None
        all_aggs = [a for e, _ in select_copies for a in A.find_aggregates(e)]
        if having is not None:
            all_aggs += A.find_aggregates(having)
        agg_by_canon: dict[str, str] = {}
        for agg in all_aggs:
            canon = A.canonical(agg, scope)
            if canon in agg_by_canon:
                extra[id(agg)] = agg_by_canon[canon]
                continue
            aname = _display_name(agg, scope, out_cols, f"$A{len(calls)}")
            call, rt = self._agg_call(compiler, agg, aname, table_input, value_format)
            calls.append(call)
            out_cols[aname] = rt
            extra[id(agg)] = aname
            agg_by_canon[canon] = aname

        window = None
        win_info = None
        emit_final = query.emit == "FINAL"
        if query.window is not None:
            w = query.window
            if w.grace_ms is not None:
                grace = w.grace_ms
            else:
                # without GRACE PERIOD, EMIT FINAL closes windows at their end; EMIT CHANGES waits a day
                grace = 0 if emit_final else DEFAULT_GRACE_MS
            window = Windowing(w.kind, w.size_ms or 0, w.advance_ms or 0, w.gap_ms or 0, grace, w.retention_ms)
            if w.kind == "HOPPING" and w.advance_ms and w.size_ms and w.advance_ms > w.size_ms:
                raise KsqlException("Window advance must be less than or equal to window size")
            win_info = WindowInfo(w.kind, w.size_ms if w.kind != "SESSION" else None)
        if emit_final and window is None:
            raise KsqlException("EMIT FINAL is only supported for windowed aggregations.")

        agg_op = AggregateOp(self._store("Aggregate-Materialize"), group_fns, gnames, calls, window,
                             table_input, emit_final, send_old=having is not None)
        head = self._chain(head, agg_op)

        agg_scope = Scope(out_cols)
        agg_compiler = ExpressionCompiler(agg_scope, self.log_error)

        def to_agg_scope(node: exp.Expression) -> exp.Expression:
            rewritten = A.rewrite(node, {}, scope, extra)
            return A.rewrite(rewritten, gmap, scope)

        names = self._assign_names(select, ins)
        self._check_sink_timestamp(names)

        # key columns: the select items that are the group-by expressions, in GROUP BY order
        key_cols: list[tuple[str, SqlType, exp.Expression] | None] = [None] * len(gnames)
        values: list[tuple[str, exp.Expression]] = []
        for (orig, _), (e, _), name in zip(select, select_copies, names, strict=True):
            canon_item = A.canonical(orig, scope)
            if canon_item in gcanon:
                i = gcanon.index(canon_item)
                if key_cols[i] is None:
                    key_cols[i] = (name, gtypes[gnames[i]], exp.Column(this=exp.to_identifier(gnames[i], quoted=True)))
                    continue
                if persistent:
                    raise KsqlException(
                        f"The projection contains a key column more than once: `{key_cols[i][0]}` and `{name}`."  # type: ignore[index]
                    )
            values.append((name, to_agg_scope(e)))
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
            hc = self._compile_predicate(agg_compiler, to_agg_scope(having), "HAVING")
            head = self._chain(head, HavingOp(hc.fn))

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
            c = agg_compiler.compile(e, clause="SELECT")
            if name in seen:
                raise KsqlException(f"Duplicate value columns found in schema: `{name}` {c.type}")
            seen.add(name)
            columns.append((name, c.fn))
            schema_cols.append(Column(name, c.type, VALUE))
        for out_col in schema_cols:
            if out_col.namespace == KEY:
                check_key_maps([(out_col.name, out_col.type)])
        if persistent and not [c for c in schema_cols if c.namespace == VALUE]:
            raise KsqlException("The projection contains no value columns.")
        head = self._chain(head, ProjectOp(columns))
        schema = LogicalSchema(schema_cols)
        return QueryPlan(schema, "TABLE", win_info, [u.source for u in uses], source_ops, self._ops, head,
                         [c.name for c in schema.key], [c.name for c in schema.value], emit_final, query.limit,
                         projection=names, formatted=_format_query(query, select, names, ins))

    def _chain_before_filter(self, head: Operator, mat: Operator) -> Operator:
        """Insert a materialization right after the source (before any filter) for table inputs."""
        src = self._join_output or next((o for o in self._ops if isinstance(o, SourceOp)), None)
        if src is None or src is head:
            return self._chain(head, mat)
        downstream = src.downstream
        src.downstream = [(mat, 0)]
        mat.downstream = downstream
        self._ops.append(mat)
        return head

    def _agg_call(self, compiler: ExpressionCompiler, node: exp.Anonymous, out_name: str,
                  table_input: bool, value_format: str = "JSON") -> tuple[AggCall, SqlType]:
        """Resolve an aggregate call: column arguments pick the overload, trailing literal arguments
        are its init args (``TOPK(col, 3)``, ``LATEST_BY_OFFSET(col, 2, false)``)."""
        name = str(node.this).upper()
        fn = reg.AGGREGATE_FUNCTIONS[name]
        args = list(node.expressions)
        if len(args) == 1 and isinstance(args[0], exp.Star):
            args = []
        compiled = [None if isinstance(a, nodes.KsqlLambda) else compiler.compile(a, safe=True) for a in args]
        types = [c.type if c is not None else None for c in compiled]
        candidates = []
        literal_error: str | None = None
        for ov in fn.overloads:
            n_init = len(ov.init_params)
            init_specs = list(ov.init_params)
            if ov.init_variadic:
                # a repeating last init param: the column params fix where the init args start
                if len(args) < len(ov.params) + n_init - 1:
                    continue
                n_init = len(args) - len(ov.params)
                init_specs = init_specs[:-1] + [init_specs[-1]] * (n_init - len(init_specs) + 1)
            elif ov.variadic:
                if len(args) < len(ov.params) - 1 + n_init:
                    continue
            elif len(args) != len(ov.params) + n_init:
                continue
            n_cols = len(args) - n_init
            col_types = types[:n_cols]
            m = reg.match_overload(ov.params, ov.variadic, col_types)  # type: ignore[arg-type]
            if m is None:
                continue
            init_values = []
            ok = True
            for i, (a, want) in enumerate(zip(args[n_cols:], init_specs, strict=True)):
                v = _literal_value(a)
                t = types[n_cols + i]
                if v is _NOT_LITERAL and t is not None and not can_implicitly_cast(t, want):
                    # the init args' types take part in choosing the signature (ksqlDB resolves on
                    # all argument types); only a matching non-literal one is a literal error
                    ok = False
                    break
                if v is _NOT_LITERAL:
                    literal_error = literal_error or (
                        f"Parameter {n_cols + i + 1} passed to function {name} must be a literal constant, "
                        f"but was expression: '{expr_sql(a)}'"
                    )
                    ok = False
                    break
                if not _literal_fits(v, want):
                    ok = False
                    break
                init_values.append(v)
            if ok:
                candidates.append((m[0], ov, m, n_cols, init_values))
        if not candidates:
            if literal_error is not None:
                raise KsqlException(literal_error)
            raise KsqlException(
                f"Function '{name}' does not accept parameters ({', '.join(str(t) for t in types)})."
            )
        candidates.sort(key=lambda c: c[0])
        _, ov, (cost, env, ptypes), n_cols, init_values = candidates[0]
        col_types = types[:n_cols]
        rt = reg.resolve_return(ov.returns, env, col_types)  # type: ignore[arg-type]
        udaf = ov.factory(col_types, init_values)  # type: ignore[arg-type]
        configure = getattr(udaf, "configure", None)
        if configure is not None:
            configure(self.config)
        if value_format == "DELIMITED" and has_complex_intermediate(udaf):
            raise KsqlException(INTERMEDIATE_TYPE_ERROR)
        if table_input and not udaf.supports_undo:
            raise KsqlException(f"The aggregation function {name} does not support undo and cannot be used on tables")
        arg_fns = [c.fn for c in compiled[:n_cols]]  # type: ignore[union-attr]
        return AggCall(out_name, udaf, arg_fns), rt

    # ------------------------------------------------------------------------------------------
    # joins
    def _analyze_joins(self, query: nodes.Query, uses: list[A.SourceUse], ins: A.InputScope) -> _JoinAnalysis:
        """ksqlDB's join analysis: validate each ON condition and orient it so the side already
        joined is on the left and the new source on the right; then work out the key of the
        result: for a foreign-key join the left table's key, else the first of the join columns
        equivalent to the key that the projection selects, else a synthetic key column."""
        scope = ins.scope
        by_alias = {u.alias: u for u in uses}
        steps: list[_JoinStep] = []
        joined = [uses[0].alias]
        kind = uses[0].source.kind
        equiv: set[str] = set()
        viable: list[exp.Column] = []
        for j, use in zip(query.joins, uses[1:], strict=True):
            known = [*joined, use.alias]
            on = _strip_paren(j.on)
            shown_on = _qualify(on, scope)
            if not isinstance(on, exp.EQ):
                if isinstance(on, exp.And) and all(isinstance(_strip_paren(x), exp.EQ)
                                                   for x in (on.this, on.expression)):
                    raise KsqlException("Invalid join condition: joins on multiple conditions are not yet "
                                        f"supported. Got {expr_sql(shown_on)}.")
                if isinstance(on, (exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)):
                    raise KsqlException("Only equality join criteria is supported.")
                raise KsqlException(f"Unsupported join expression: {expr_sql(shown_on)}")
            a, b = on.this, on.expression
            sa = _join_sources(a, scope, known)
            sb = _join_sources(b, scope, known)
            for side, found in ((a, sa), (b, sb)):
                if len(found) != 1:
                    raise KsqlException(
                        f"Invalid comparison expression '{expr_sql(_qualify(side, scope))}' in join "
                        f"'{expr_sql(shown_on)}'. Each side of the join comparision must contain references "
                        "from exactly one source."
                    )
            (la,), (ra,) = sa, sb
            if la == ra:
                raise KsqlException("Each side of the join must reference exactly one source and not the same "
                                    f"source. Left side references `{la}` and right references `{ra}`")
            _check_windowing(by_alias[la], by_alias[ra])
            if use.alias not in (la, ra):
                raise KsqlException(
                    f"A join criteria is expected to reference the source (`{use.alias}`) in the FROM clause, "
                    f"instead the right source references `{ra}` and the left source references `{la}`"
                )
            shown = (_qualify(a, scope), _qualify(b, scope))
            if la == use.alias:  # the new source goes on the right
                a, b, la = b, a, ra
            step = _JoinStep(j.kind, use, la, _qualify(a, scope), _qualify(b, scope), j.within, shown)
            right = use.source
            step.fk = (kind == "TABLE" and right.kind == "TABLE" and _on_source_key(step.right_expr, use, scope)
                       and not _on_source_key(step.left_expr, by_alias[la], scope))
            steps.append(step)
            # which expressions equal the key after this join (none for a full outer join)
            if j.kind == "FULL":
                equiv, viable = set(), []
            else:
                keys = {A.canonical(step.left_expr, scope), A.canonical(step.right_expr, scope)}
                equiv = keys | equiv if equiv & keys else keys
                seen: set[str] = set()
                candidates: list[exp.Column] = []
                for e in [*viable, step.left_expr, step.right_expr]:
                    c = A.canonical(e, scope)
                    if isinstance(e, exp.Column) and c in equiv and c not in seen:
                        seen.add(c)
                        candidates.append(e)
                viable = candidates
            kind = "TABLE" if kind == "TABLE" and right.kind == "TABLE" else "STREAM"
            joined.append(use.alias)

        last = steps[-1]
        result = _JoinAnalysis(steps, viable=viable)
        if last.fk:
            left = by_alias[last.left_alias]
            result.fk_keys = [_qualified_column(left.alias, c.name) for c in left.source.schema.key]
            result.fk_table = left.source.name
        elif viable:
            chosen = next((e for e in viable if _projection_contains(query, e, scope)), viable[0])
            result.key_expr = chosen
            result.key_name = scope.resolve(chosen.table or None, chosen.name).key
            result.key_column = "$JOINKEY"
            result.key_type = ExpressionCompiler(scope).type_of(chosen)
        else:
            name = _synthetic_key_name([u.source for u in uses])
            result.synthetic = name
            result.key_expr = exp.Column(this=exp.to_identifier(name, quoted=True))
            result.key_name = name
            result.key_column = name
            result.key_type = ExpressionCompiler(scope).type_of(last.left_expr)
        if result.key_column is not None:
            scope.columns[result.key_column] = result.key_type  # type: ignore[assignment]

        # SELECT *: a synthetic key comes first; after a PARTITION BY the star lists the join's
        # value columns: per source its values, pseudo columns, window bounds and key columns
        if query.partition_by:
            star: list[tuple[str | None, str, str]] = []
            for u in uses:
                src = u.source
                names = [c.name for c in src.schema.value + src.schema.headers] + list(A.PSEUDO_COLUMNS)
                if src.window is not None:
                    names += list(A.WINDOW_BOUNDS)
                names += [c.name for c in src.schema.key]
                star += [(u.alias, n, f"{u.alias}_{n}") for n in names]
            if result.synthetic is not None:
                star.append((None, result.synthetic, result.synthetic))
            ins.star = star  # type: ignore[assignment]
        elif result.synthetic is not None:
            ins.star = [(None, result.synthetic, result.synthetic), *ins.star]  # type: ignore[list-item]
        self._join_analysis = result
        return result

    def _verify_join(self, step: _JoinStep, node: _JoinNode, by_alias: dict[str, A.SourceUse],
                     scope: Scope) -> None:
        """The checks of ksqlDB's logical planner, join by join."""
        left_src = by_alias[step.left_alias].source
        right_src = step.use.source
        sources = f"{left_src.name} {_JOIN_TYPE_TEXT[step.kind]} {right_src.name}"
        got = f"{expr_sql(step.shown[0])} = {expr_sql(step.shown[1])}"
        right_on_key = _on_source_key(step.right_expr, step.use, scope)
        if node.kind == "STREAM":
            if right_src.kind == "TABLE":
                if step.kind == "FULL":
                    raise KsqlException(
                        f"Invalid join type: full-outer join not supported for stream-table join. Got {sources}.")
                if step.kind == "RIGHT":
                    raise KsqlException(
                        f"Invalid join type: right join not supported for stream-table join. Got {sources}.")
                if not right_on_key:
                    raise KsqlException("Invalid join condition: stream-table joins require to join on the "
                                        f"table's primary key. Got {got}.")
            return
        if right_src.kind == "STREAM":
            raise KsqlException("Invalid join order: table-stream joins are not supported; only stream-table "
                                f"joins. Got {sources}.")
        if not right_on_key:
            raise KsqlException("Invalid join condition: table-table joins require to join on the primary key of "
                                f"the right input table. Got {got}.")
        compiler = ExpressionCompiler(scope)
        if step.fk:
            if step.kind == "FULL":
                raise KsqlException("Invalid join type: full-outer join not supported for foreign-key table-table "
                                    f"join. Got {sources}.")
            if step.kind == "RIGHT":
                raise KsqlException("Invalid join type: right join not supported for foreign-key table-table "
                                    f"join. Got {sources}.")
            if len(node.aliases) > 1:
                raise KsqlException("Invalid join condition: foreign-key table-table joins are not supported as "
                                    f"part of n-way joins. Got {got}.")
        left_t, right_t = compiler.type_of(step.shown[0]), compiler.type_of(step.shown[1])
        if left_t != right_t:
            raise KsqlException(f"Invalid join condition: types don't match. Got {expr_sql(step.shown[0])}"
                                f"{{{left_t}}} = {expr_sql(step.shown[1])}{{{right_t}}}.")
        if step.fk and right_src.window is not None:
            raise KsqlException("Foreign-key table-table joins are not supported on windowed tables.")

    def _plan_joins(self, query: nodes.Query, uses: list[A.SourceUse], ins: A.InputScope,
                    source_ops: dict[str, list[SourceOp]], compiler: ExpressionCompiler,
                    ) -> tuple[Operator, str, list[str], list[exp.Expression], bool]:
        """Builds the (left-deep) join tree: each source renamed to the join's ``ALIAS_NAME`` columns
        and keyed by its join expression (a repartition when that is not its key), then joined."""
        ja = self._join_analysis
        scope = ins.scope
        by_alias = {u.alias: u for u in uses}
        first = uses[0]
        node = _JoinNode(first.source.kind, [first.alias], None, self._prefixed_names(first), set(),
                         first.source.window)
        for i, step in enumerate(ja.steps):
            self._verify_join(step, node, by_alias, scope)
            right = step.use
            if right.source.window is not None and node.window is not None and (
                    (right.source.window.kind, right.source.window.size_ms)
                    != (node.window.kind, node.window.size_ms)) and not _registry_key_format(first.source):
                # different windows need the right side re-serialized in the left's key format: only
                # the forced repartition of schema-registry key formats does that (time windows then
                # match on their start, which is all their keys hold)
                raise KsqlException(_WINDOWED_REPARTITION)
            if node.head is None:
                left_head = self._join_input(first, None if step.fk else step.left_expr, source_ops, compiler)
            else:
                left_head = node.head
                if not step.fk and A.canonical(step.left_expr, scope) not in node.equiv:
                    if node.window is not None:
                        raise KsqlException(_WINDOWED_REPARTITION)
                    left_head = self._chain(left_head, RekeyJoinInputOp(
                        _key_of(compiler.compile(step.left_expr).fn), node.kind == "TABLE", self._store("Rekey")))
            right_head = self._join_input(right, step.right_expr, source_ops, compiler)
            right_cols = self._prefixed_names(right)
            key_column = ja.key_column if i == len(ja.steps) - 1 else None
            window_kind = None if node.window is None else ("SESSION" if node.window.kind == "SESSION" else "TIME")
            store = self._store("Join")
            op: Operator
            if node.kind == "STREAM" and right.source.kind == "STREAM":
                w = step.within
                if w is None:
                    raise KsqlException(
                        "Stream-Stream joins must have a WITHIN clause specified. None was provided. To learn "
                        "about how to specify a WITHIN clause with a stream-stream join, please visit: "
                        "https://docs.confluent.io/current/ksql/docs/syntax-reference.html#create-stream-as-select"
                    )
                op = StreamStreamJoinOp(step.kind, node.cols, right_cols, w.before_ms, w.after_ms, w.grace_ms,
                                        store, window_kind, key_column)
            elif node.kind == "STREAM":
                if step.within is not None:
                    raise KsqlException(
                        "A window definition was provided for a Stream-Table join. These joins are not windowed. "
                        "Please drop the window definition (ie. the WITHIN clause) and try to execute your join "
                        "again.")
                op = StreamTableJoinOp(step.kind, node.cols, right_cols, store, window_kind, key_column)
            else:
                if step.within is not None:
                    raise KsqlException(
                        "A window definition was provided for a Table-Table join. These joins are not windowed. "
                        "Please drop the window definition (i.e. the WITHIN clause) and try to execute your "
                        "Table-Table join again.")
                if step.fk:
                    op = ForeignKeyJoinOp(step.kind, node.cols, right_cols, store,
                                          compiler.compile(step.left_expr).fn, key_column)
                else:
                    op = TableTableJoinOp(step.kind, node.cols, right_cols, store, window_kind, key_column)
            left_head.to(op, 0)
            right_head.to(op, 1)
            self._ops.append(op)
            if step.kind == "FULL":
                equiv: set[str] = set()
            else:
                keys = {A.canonical(step.left_expr, scope), A.canonical(step.right_expr, scope)}
                equiv = keys | node.equiv if node.equiv & keys else keys
            if step.fk:
                # a foreign-key join keeps the left table's key
                equiv = equiv | {A.canonical(_qualified_column(step.left_alias, c.name), scope)
                                 for c in by_alias[step.left_alias].source.schema.key}
            kind = "TABLE" if node.kind == "TABLE" and right.source.kind == "TABLE" else "STREAM"
            node = _JoinNode(kind, [*node.aliases, right.alias], op, node.cols + right_cols, equiv, node.window)
        self._join_output = node.head
        self._join_window = node.window
        if ja.key_type is not None:
            check_key_maps([(ja.key_name or "", ja.key_type)])
        return node.head, node.kind, [], [], ja.synthetic is not None  # type: ignore[return-value]

    def _prefixed_names(self, use: A.SourceUse) -> list[str]:
        return [f"{use.alias}_{n}" for n in self._source_row_names(use.source)]

    def _join_input(self, use: A.SourceUse, expr: exp.Expression | None, source_ops: dict[str, list[SourceOp]],
                    compiler: ExpressionCompiler) -> Operator:
        """A join input: the source renamed to ``ALIAS_NAME`` columns, re-keyed by ``expr`` unless
        that is already its key (ksqlDB's implicit repartition)."""
        head: Operator = self._source_op(use.source, source_ops)
        mapping = [(n, f"{use.alias}_{n}") for n in self._source_row_names(use.source)]
        key_fn = None
        if expr is not None and not _on_source_key(expr, use, compiler.scope):
            if use.source.window is not None:
                raise KsqlException(_WINDOWED_REPARTITION)
            key_fn = _key_of(compiler.compile(expr).fn)
        return self._chain(head, PrefixOp(mapping, key_fn))

    def _source_row_names(self, src: DataSource) -> list[str]:
        names = [c.name for c in src.schema.columns]
        names += list(A.PSEUDO_COLUMNS)
        if src.window is not None:
            names += list(A.WINDOW_BOUNDS)
        return names

    def _split_join_key(self, outputs: list[tuple[str, exp.Expression]], scope: Scope, sink_name: str | None,
                        persistent: bool,
                        ) -> tuple[list[tuple[str, SqlType, exp.Expression]], list[tuple[str, exp.Expression]]]:
        """The key columns of a join's projection: the items selecting the join key (read from the
        record's key, which outer joins fill even when the selected column is null)."""
        ja = self._join_analysis
        if ja.fk_keys is not None:
            key_exprs = ja.fk_keys
            key_refs = key_exprs
        else:
            key_exprs = [ja.key_expr]  # type: ignore[list-item]
            key_refs = [exp.Column(this=exp.to_identifier(ja.key_column, quoted=True))]  # type: ignore[arg-type]
        compiler = ExpressionCompiler(scope)
        canon = [A.canonical(k, scope) for k in key_exprs]
        internal = [scope.resolve(k.table or None, k.name).key for k in key_exprs]  # type: ignore[attr-defined]
        found: list[tuple[str, SqlType, exp.Expression] | None] = [None] * len(key_exprs)
        values: list[tuple[str, exp.Expression]] = []
        for name, e in outputs:
            c = A.canonical(e, scope)
            if c in canon:
                i = canon.index(c)
                prev = found[i]
                if prev is None:
                    found[i] = (name, compiler.type_of(e), key_refs[i])
                    continue
                if persistent:
                    first, second = sorted((prev[0], name))
                    raise KsqlException(f"The projection contains a key column (`{internal[i]}`) more than once, "
                                        f"aliased as: {first} and {second}.")
            values.append((name, e))
        missing = [i for i, k in enumerate(found) if k is None]
        if missing and persistent:
            raise KsqlException(self._missing_join_key(ja, missing, sink_name))
        return [k for k in found if k is not None], values

    def _missing_join_key(self, ja: _JoinAnalysis, missing: list[int], sink_name: str | None) -> str:
        if ja.fk_keys is not None:
            names = [ja.fk_keys[i].name for i in missing]  # type: ignore[attr-defined]
            plural = "s" if len(names) > 1 else ""
            table = ja.fk_table
            return (f"Primary key column{plural} missing in projection. For foreign-key table-table joins, the "
                    "projection must include all primary key columns from the left input table "
                    f"(`{table}`). Missing column{plural}: {', '.join(f'`{n}`' for n in names)}.")
        if ja.synthetic is not None:
            name = ja.synthetic
            return ("Key missing from projection (ie, SELECT). See https://cnfl.io/2LV7ouS.\n"
                    f"The query used to build `{sink_name}` must include the join expression {name} in its "
                    f"projection (eg, SELECT {name}...).\n{name} was added as a synthetic key column because the "
                    "join criteria did not match any source column. This expression must be included in the "
                    "projection and may be aliased. ")
        shown = [expr_sql(e) for e in ja.viable]
        listing = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]
        label = "join expression" if len(shown) == 1 else "join expressions"
        return ("Key missing from projection (ie, SELECT). \n"
                f"The query used to build `{sink_name}` must include the {label} {listing} in its projection "
                f"(eg, SELECT {shown[0]}...).")


def _format_query(query: nodes.Query, select: list[tuple[exp.Expression, str | None]], names: list[str],
                  ins: A.InputScope) -> str | None:
    """The query from SELECT on as ksqlDB's formatter prints the analyzed statement."""
    if query.joins or query.window is not None or query.from_ is None or len(select) != len(names):
        return None
    scope = ins.scope

    def sql(node: exp.Expression) -> str:
        return _qualified_sql(node, scope, True)

    src = query.from_
    lines = ["SELECT", ",\n".join(f"  {sql(e)} {n}" for (e, _), n in zip(select, names, strict=True)),
             f"FROM {src.name} {src.alias or src.name}"]
    if query.where is not None:
        lines.append(f"WHERE {sql(query.where)}")
    if query.group_by:
        lines.append("GROUP BY " + ", ".join(sql(g) for g in query.group_by))
    if query.partition_by:
        lines.append("PARTITION BY " + ", ".join(sql(p) for p in query.partition_by))
    if query.having is not None:
        lines.append(f"HAVING {sql(query.having)}")
    lines.append("EMIT FINAL" if query.emit == "FINAL" else "EMIT CHANGES")
    return "\n".join(lines)


def format_create_as(stmt: nodes.CreateAsSelect | nodes.InsertInto, plan: QueryPlan) -> str:
    """A CREATE ... AS SELECT / INSERT INTO as ksqlDB quotes it in errors raised after analysis
    (falls back to the statement's text where the formatted form is not modelled)."""
    if plan.formatted is None:
        return stmt.text
    if isinstance(stmt, nodes.InsertInto):
        return f"INSERT INTO {stmt.target} {plan.formatted}"
    head = "CREATE OR REPLACE " if stmt.or_replace else "CREATE "
    head += f"{stmt.kind} "
    if stmt.if_not_exists:
        head += "IF NOT EXISTS "
    head += stmt.name
    if stmt.properties:
        props = ", ".join(
            f"{k}='{v.replace(chr(39), chr(39) * 2)}'" if isinstance(v, str)
            else f"{k}={str(v).lower() if isinstance(v, bool) else v}"
            for k, v in stmt.properties.items())
        head += f" WITH ({props})"
    return f"{head} AS {plan.formatted}"


def cast_literals_for_sink(query: nodes.Query, sink: DataSource) -> nodes.Query:
    """INSERT INTO: a numeric literal selected into a DECIMAL column of the sink is implicitly cast
    to that column's type when its value fits (``SELECT 1 AS C1`` into ``C1 DECIMAL(5,2)``)."""
    import dataclasses

    from ksql.expressions.casts import decimal_type_of

    changed = False
    items: list[nodes.SelectItem] = []
    for item in query.select:
        col = sink.schema.find(item.alias) if item.expr is not None and item.alias else None
        if col is not None and col.type.base is BaseType.DECIMAL and item.expr is not None:
            value = _literal_value(item.expr)
            if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
                have = decimal_type_of(Decimal(value))
                p, sc = col.type.precision or 0, col.type.scale or 0
                if (have.scale or 0) <= sc and (have.precision or 0) - (have.scale or 0) <= p - sc:
                    item = dataclasses.replace(item, expr=nodes.KsqlCast(this=item.expr, to=col.type))
                    changed = True
        items.append(item)
    return dataclasses.replace(query, select=items) if changed else query


def _registry_key_format(src: DataSource) -> bool:
    """Whether the source's key format keeps its schemas in a schema registry (AVRO, PROTOBUF,
    JSON_SR): ksqlDB then always repartitions join inputs, to register the join's key schema."""
    from ksql.formats.registry import format_class
    from ksql.formats.sr import SchemaRegistryFormat

    cls = format_class(src.key_format.name)
    return issubclass(cls, SchemaRegistryFormat) and cls.needs_registry


_WINDOWED_REPARTITION = ("Implicit repartitioning of windowed sources is not supported. "
                         "See https://github.com/confluentinc/ksql/issues/4385.")
_JOIN_TYPE_TEXT = {"INNER": "[INNER] JOIN", "LEFT": "LEFT [OUTER] JOIN", "RIGHT": "RIGHT [OUTER] JOIN",
                   "FULL": "[FULL] OUTER JOIN"}


@dataclass
class _JoinStep:
    """One JOIN, oriented: ``left_expr`` reads the sources joined so far, ``right_expr`` the new one."""

    kind: str  # INNER | LEFT | RIGHT | FULL
    use: A.SourceUse  # the source this JOIN adds
    left_alias: str  # the source ``left_expr`` reads
    left_expr: exp.Expression
    right_expr: exp.Expression
    within: nodes.Within | None
    shown: tuple[exp.Expression, exp.Expression]  # the condition's sides as written, for messages
    fk: bool = False  # a foreign-key table-table join


@dataclass
class _JoinAnalysis:
    steps: list[_JoinStep]
    viable: list[exp.Column] = field(default_factory=list)  # join columns that can name the key
    key_expr: exp.Column | None = None  # the selected key column reference (or the synthetic one)
    key_name: str | None = None  # the key column's name in the join result (``L_ID``, ``ROWKEY``)
    key_column: str | None = None  # the row entry the final join writes its key to
    key_type: SqlType | None = None
    synthetic: str | None = None  # name of the synthetic key column
    fk_keys: list[exp.Column] | None = None  # foreign-key join: the left table's key columns
    fk_table: str | None = None


@dataclass
class _JoinNode:
    """The result of the joins so far."""

    kind: str
    aliases: list[str]
    head: Operator | None  # None: the first source, not yet read
    cols: list[str]  # row entries, for null-filling the missing side
    equiv: set[str]  # canonical forms of the expressions equal to the current key
    window: WindowInfo | None


def _key_of(fn: Callable[[Row], Any]) -> Callable[[Row], tuple[Any, ...]]:
    """A join input's new key: the join expression evaluated on the (renamed) row."""
    return lambda row: (fn(row),)


def _strip_paren(node: exp.Expression) -> exp.Expression:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _qualified_column(alias: str, name: str) -> exp.Column:
    return exp.Column(this=exp.to_identifier(name, quoted=True), table=exp.to_identifier(alias, quoted=True))


def _qualify(node: exp.Expression, scope: Scope) -> exp.Expression:
    """The expression with every column qualified by its source, as ksqlDB prints join conditions."""

    def fix(n: exp.Expression) -> exp.Expression:
        if isinstance(n, exp.Column) and not n.table:
            owners = {q for (q, name) in scope.qualified if name == n.name}
            if len(owners) == 1:
                return _qualified_column(owners.pop(), n.name)
        return n

    return node.copy().transform(fix)


def _join_sources(node: exp.Expression, scope: Scope, known: list[str]) -> set[str]:
    """The sources an ON expression reads; unknown or ambiguous columns are errors."""
    found: set[str] = set()
    for col in A.columns_in(node):
        if col.table:
            if (col.table, col.name) not in scope.qualified or col.table not in known:
                raise KsqlException(f"JOIN ON column '{col.table}.{col.name}' cannot be resolved.")
            found.add(col.table)
            continue
        owners = sorted({q for (q, name) in scope.qualified if name == col.name})
        if len(owners) > 1:
            listing = ", ".join(f"{q}.{col.name}" for q in owners[:-1]) + f" or {owners[-1]}.{col.name}"
            raise KsqlException(located(col, f"Column '{col.name}' is ambiguous. Could be {listing}."))
        if not owners or owners[0] not in known:
            raise KsqlException(f"JOIN ON column '{col.name}' cannot be resolved.")
        found.add(owners[0])
    return found


def _check_windowing(left: A.SourceUse, right: A.SourceUse) -> None:
    lw, rw = left.source.window, right.source.window
    if (lw is None) != (rw is None):
        raise KsqlException(
            "Can not join windowed source to non-windowed source.\n"
            f"`{left.alias}` is {lw.kind if lw else 'not'} windowed\n"
            f"`{right.alias}` is {rw.kind if rw else 'not'} windowed"
        )
    if lw is None or rw is None:
        return
    compatible = rw.kind == "SESSION" if lw.kind == "SESSION" else rw.kind in ("HOPPING", "TUMBLING")
    if not compatible:
        raise KsqlException(
            "Incompatible windowed sources.\n"
            f"Left source: {lw.kind}\nRight source: {rw.kind}\n"
            "Session windowed sources can only be joined to other session windowed sources, and may still not "
            "result in expected behaviour as session bounds must be an exact match for the join to work\n"
            "Hopping and tumbling windowed sources can only be joined to other hopping and tumbling windowed "
            "sources"
        )


def _on_source_key(node: exp.Expression, use: A.SourceUse, scope: Scope) -> bool:
    """Whether ``node`` is a reference to the (single) key column of ``use``."""
    if not isinstance(node, exp.Column):
        return False
    try:
        key = scope.resolve(node.table or None, node.name).key
    except KsqlException:
        return False
    keys = use.source.schema.key
    return len(keys) == 1 and scope.qualified.get((use.alias, keys[0].name)) == key


def _projection_contains(query: nodes.Query, col: exp.Column, scope: Scope) -> bool:
    """ksqlDB's Projection.containsExpression: ``*`` contains everything, ``X.*`` X's columns."""
    target = A.canonical(col, scope)
    for item in query.select:
        if item.expr is None:
            if item.star_qualifier is None or item.star_qualifier == col.table:
                return True
        elif not item.struct_all and A.canonical(item.expr, scope) == target:
            return True
    return False


def _synthetic_key_name(sources: list[DataSource]) -> str:
    """``ROWKEY``, or ``ROWKEY_n`` past any such name a source already uses."""
    used = []
    for src in sources:
        for c in src.schema.columns:
            if c.name == "ROWKEY":
                used.append(0)
            elif c.name.startswith("ROWKEY_") and c.name[7:].isdigit():
                used.append(int(c.name[7:]))
    return "ROWKEY" if not used else f"ROWKEY_{max(used) + 1}"


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


def _literal_fits(value: Any, want: SqlType) -> bool:
    """Whether a literal init argument can stand for a parameter of type ``want``."""
    if value is None:
        return True
    b = want.base
    if b is BaseType.BOOLEAN:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if b is BaseType.INTEGER:
        return isinstance(value, int) and -(2**31) <= value < 2**31
    if b is BaseType.BIGINT:
        return isinstance(value, int)
    if b in (BaseType.DOUBLE, BaseType.DECIMAL):
        return isinstance(value, (int, float, Decimal))
    if b is BaseType.STRING:
        return isinstance(value, str)
    return True


def _flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _display_name(node: exp.Expression, scope: Scope, taken: dict[str, SqlType], fallback: str) -> str:
    """Row key for an aggregate's group-by value or result: its text as ksqlDB prints it, unless
    that clashes with another column of the aggregate's row."""
    text = A.aggregate_display(node, scope)
    return fallback if text in taken else text


def _message_sql(node: exp.Expression, joined: bool) -> str:
    """An expression as error messages show it: single-source column references unqualified."""
    if joined:
        return expr_sql(node)

    def fix(n: exp.Expression) -> exp.Expression:
        if isinstance(n, exp.Column) and n.table:
            return exp.Column(this=n.this)
        return n

    return expr_sql(node.copy().transform(fix))


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


def _key_display(key: exp.Expression, alias: str) -> str:
    """How ksqlDB names a key column in messages: its name before the projection."""
    return key.name if isinstance(key, exp.Column) else alias
