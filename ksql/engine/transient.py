"""Transient queries: push queries (``EMIT CHANGES``) and pull queries, as streams of client rows.

A push query whose source is written by a running persistent query, and which only filters and
projects, taps that query's sink: rows arrive as the writer produces them and nothing is read
twice. Any other push query runs its own query task, from ``auto.offset.reset`` (default
latest), in its own consumer group. A pull query on a table answers from the table's
materialization (the latest row per key of its topic); on a stream it reads the topic from the
beginning to the end offsets current when it started.

The REST server and the shell consume a :class:`QueryStream`: a header, then events (rows,
then an end or a failure). Producers never block: a client that falls too far behind a tapped
query gets an error and is cut off; a query with its own task just waits for its client.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from ksql.catalog import DataSource
from ksql.dialect import nodes, parse, split_statements, substitute_variables
from ksql.engine.config import Config
from ksql.errors import KsqlException, KsqlStatementException
from ksql.planner.planner import Planner, QueryPlan
from ksql.runtime.operators import FilterOp, FlatMapOp, Operator, ProjectOp, SinkOp, SourceOp
from ksql.runtime.records import Rec
from ksql.runtime.task import ProcessingLogEntry, QueryTask, TaskContext
from ksql.schema import ROWOFFSET, ROWPARTITION, ROWTIME, WINDOWEND, WINDOWSTART
from ksql.sqltypes import BaseType, SqlType
from ksql.types import Key

if TYPE_CHECKING:
    from ksql.engine.engine import KsqlEngine

log = logging.getLogger("ksql.transient")

LIMIT_REACHED = "Limit Reached"
QUERY_COMPLETED = "Query Completed"
DEFAULT_MAX_BUFFERED_ROWS = 10_000
IDLE_POLL_S = 0.01

# operators a push query may run on top of another query's sink: stateless, one input
_TAPPABLE_OPS = (SourceOp, FilterOp, ProjectOp, FlatMapOp)

_PULL_SUFFIX = " See https://cnfl.io/queries for more info.\nAdd EMIT CHANGES if you intended to issue a push query."


# -- what a client sees -------------------------------------------------------------------------
@dataclass(slots=True)
class ResultRow:
    columns: list[Any]
    tombstone: bool = False


@dataclass(slots=True)
class QueryEnd:
    message: str | None  # "Limit Reached" / "Query Completed"; None for table pull queries


@dataclass(slots=True)
class QueryFailure:
    message: str


Event = ResultRow | QueryEnd | QueryFailure


class QueryStream:
    """One transient query as its client sees it: a header, then a sequence of events.

    Producers call :meth:`offer`, :meth:`finish` and :meth:`fail` synchronously; the client
    iterates :meth:`events` and must call :meth:`close` when it is gone (that releases the
    query: taps detached, task cancelled).
    """

    def __init__(self, query_id: str, columns: list[tuple[str, SqlType]], marks: dict[str, str],
                 kind: str, limit: int | None, max_buffered: int = DEFAULT_MAX_BUFFERED_ROWS) -> None:
        self.query_id = query_id
        self.columns = columns
        self.marks = marks  # column -> " KEY" / " HEADER('k')" / " HEADERS" in the header schema
        self.kind = kind  # push | pull | stream_pull
        self.limit = limit
        self.max_buffered = max_buffered
        self.rows_offered = 0
        self.done = False
        self.closed = False
        self._events: collections.deque[Event] = collections.deque()
        self._wakeup = asyncio.Event()
        self._drained = asyncio.Event()
        self._cleanups: list[Callable[[], Any]] = []
        if limit is not None and limit <= 0:
            self.finish(LIMIT_REACHED)

    @property
    def is_pull(self) -> bool:
        return self.kind != "push"

    @property
    def types(self) -> list[SqlType]:
        return [t for _, t in self.columns]

    def header_schema(self) -> str:
        """`` `K` INTEGER KEY, `V` STRING``: key (and header) marks only on table pull queries."""
        return ", ".join(f"`{n}` {t}{self.marks.get(n, '')}" for n, t in self.columns)

    # -- producer side ------------------------------------------------------------------------
    @property
    def backlogged(self) -> bool:
        return len(self._events) >= self.max_buffered

    def offer(self, columns: list[Any], tombstone: bool = False) -> None:
        if self.done:
            return
        self._events.append(ResultRow(columns, tombstone))
        self.rows_offered += 1
        if self.limit is not None and self.rows_offered >= self.limit:
            self.finish(LIMIT_REACHED)
        self._wakeup.set()

    def finish(self, message: str | None) -> None:
        if self.done:
            return
        self.done = True
        self._events.append(QueryEnd(message))
        self._wakeup.set()

    def fail(self, message: str) -> None:
        if self.done:
            return
        self.done = True
        self._events.append(QueryFailure(message))
        self._wakeup.set()

    async def wait_for_room(self) -> None:
        while self.backlogged and not self.closed:
            self._drained.clear()
            await self._drained.wait()

    # -- client side --------------------------------------------------------------------------
    async def events(self) -> AsyncIterator[Event]:
        while True:
            while self._events:
                ev = self._events.popleft()
                if len(self._events) <= self.max_buffered // 2:
                    self._drained.set()
                yield ev
                if not isinstance(ev, ResultRow):
                    return
            if self.closed:
                return
            self._wakeup.clear()
            await self._wakeup.wait()

    def on_close(self, fn: Callable[[], Any]) -> None:
        self._cleanups.append(fn)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.done = True
        self._drained.set()
        self._wakeup.set()
        for fn in reversed(self._cleanups):
            try:
                result = fn()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:  # cleanup must go on for the other resources
                log.exception("Error while closing transient query %s", self.query_id)
        self._cleanups.clear()


# -- operators feeding a client ------------------------------------------------------------------
class _PushOutput(Operator):
    """Last operator of a push query: changes → client rows (tombstones flagged)."""

    def __init__(self, stream: QueryStream, plan: QueryPlan) -> None:
        super().__init__()
        self.stream = stream
        self.names = _projection(plan)
        self.is_table = plan.kind == "TABLE"
        self.key_index = {c.name: i for i, c in enumerate(plan.schema.key)}
        # keys the client holds a row for: a delete of any other key changes nothing it has seen
        self.live: set[tuple[Any, tuple[int, int] | None]] = set()

    def process(self, rec: Rec, port: int = 0) -> None:
        row = rec.row
        if row is not None:
            if self.is_table:
                self.live.add((freeze(rec.key), rec.window))
            self.stream.offer([row.get(n) for n in self.names])
            return
        if not self.is_table:
            return
        k = (freeze(rec.key), rec.window)
        if k not in self.live:
            return
        self.live.discard(k)
        self.stream.offer(self._tombstone(rec), tombstone=True)

    def _tombstone(self, rec: Rec) -> list[Any]:
        out: list[Any] = []
        for n in self.names:
            i = self.key_index.get(n)
            if i is not None and i < len(rec.key):
                out.append(rec.key[i])
            elif n == WINDOWSTART and rec.window is not None:
                out.append(rec.window[0])
            elif n == WINDOWEND and rec.window is not None:
                out.append(rec.window[1])
            else:
                out.append(None)
        return out


class _PullOutput(Operator):
    """Collects the rows of a pull query (rows filtered out of a table arrive as deletes: skipped)."""

    def __init__(self, plan: QueryPlan, limit: int | None) -> None:
        super().__init__()
        self.names = _projection(plan)
        self.limit = limit
        self.rows: list[list[Any]] = []

    @property
    def full(self) -> bool:
        return self.limit is not None and len(self.rows) >= self.limit

    def process(self, rec: Rec, port: int = 0) -> None:
        if rec.row is not None and not self.full:
            self.rows.append([rec.row.get(n) for n in self.names])


def _projection(plan: QueryPlan) -> list[str]:
    return list(plan.projection) or [c.name for c in plan.schema.columns]


# -- table materializations -----------------------------------------------------------------------
class _Materialized:
    """Latest row per key of one table, caught up from its topic on demand."""

    def __init__(self, source: DataSource, op: SourceOp, partitions: int) -> None:
        self.source = source
        self.op = op
        self.partitions = partitions
        self.positions = dict.fromkeys(range(partitions), 0)
        # (key, window) -> (partition, serialized key, change): the first two order a scan the way
        # a key-value store of serialized keys iterates, partition by partition
        self.rows: dict[Any, tuple[int, bytes, Rec]] = {}
        self.by_key: dict[Any, set[Any]] = {}  # key -> its (key, window) entries
        self._raw_key = b""
        op.to(_MaterializeInto(self))

    def apply(self, rec: Rec) -> None:
        key = freeze(rec.key)
        k = (key, rec.window)
        if rec.row is None:
            self.rows.pop(k, None)
            entries = self.by_key.get(key)
            if entries is not None:
                entries.discard(k)
                if not entries:
                    del self.by_key[key]
        else:
            self.rows[k] = (rec.partition, self._raw_key, rec)
            self.by_key.setdefault(key, set()).add(k)

    async def catch_up(self, engine: KsqlEngine) -> None:
        for p in range(self.partitions):
            while True:
                recs = await engine.backend.read(self.source.topic, p, self.positions[p], 1000)
                if not recs:
                    break
                for r in recs:
                    self._raw_key = r.key or b""
                    self.op.process_record(r)
                    self.positions[p] = r.offset + 1

    def snapshot(self, keys: list[Key] | None = None) -> list[Rec]:
        """All rows, or those of the given keys, in scan order."""
        if keys is None:
            entries = list(self.rows.values())
        else:
            wanted = {k for key in keys for k in self.by_key.get(freeze(key), ())}
            entries = [self.rows[k] for k in wanted]
        return [rec for _, _, rec in sorted(entries, key=lambda e: (e[0], e[1]))]


def freeze(value: Any) -> Any:
    """A hashable stand-in for a key (keys may hold arrays, maps and structs)."""
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    if isinstance(value, dict):
        return ("\0map", tuple((freeze(k), freeze(v)) for k, v in value.items()))
    return value


class _MaterializeInto(Operator):
    def __init__(self, table: _Materialized) -> None:
        super().__init__()
        self.table = table

    def process(self, rec: Rec, port: int = 0) -> None:
        self.table.apply(rec)


class Materializations:
    """The queryable tables of an engine: tables written by a running persistent query (CTAS)
    and source tables (CREATE SOURCE TABLE)."""

    def __init__(self, engine: KsqlEngine) -> None:
        self.engine = engine
        self._tables: dict[str, _Materialized] = {}

    def is_queryable(self, src: DataSource) -> bool:
        if src.kind != "TABLE":
            return False
        return src.is_source or (src.created_by is not None and src.created_by in self.engine.queries)

    async def rows(self, src: DataSource, keys: list[Key] | None = None) -> list[Rec]:
        """The table's current rows (only those of ``keys`` when given), in scan order."""
        m = self._tables.get(src.name)
        if m is None or m.source is not src:
            info = await self.engine.backend.describe_topic(src.topic)
            op = self.engine.serdes.source_op(src)
            op.open(TaskContext(f"materialize_{src.name}", _log_processing))
            m = self._tables[src.name] = _Materialized(src, op, info.partitions if info else 1)
        for name in [n for n in self._tables if self.engine.metastore.get_source(n) is None]:
            del self._tables[name]
        await m.catch_up(self.engine)
        return m.snapshot(keys)


def _log_processing(entry: ProcessingLogEntry) -> None:
    log.debug("processing log [%s]: %s", entry.query_id, entry.message)


# -- starting transient queries -------------------------------------------------------------------
def prepare(sql: str, config: Config, variables: dict[str, str] | None = None) -> nodes.Statement:
    """The one statement of a ``/query`` request, variables substituted."""
    texts = [t for t in split_statements(sql) if t.strip()]
    if len(texts) != 1:
        raise KsqlStatementException(f"Expected exactly one KSQL statement; found {len(texts)} instead", sql.strip())
    text = texts[0]
    if config.get_bool("ksql.variable.substitution.enable", True) and variables:
        text = substitute_variables(text, variables)
    stmts = parse(text)
    if len(stmts) != 1:
        raise KsqlStatementException(f"Expected exactly one KSQL statement; found {len(stmts)} instead", text)
    return stmts[0]


class TransientQueries:
    """Starts push and pull queries against an engine and keeps track of the running ones."""

    def __init__(self, engine: KsqlEngine, max_buffered_rows: int = DEFAULT_MAX_BUFFERED_ROWS) -> None:
        self.engine = engine
        self.max_buffered_rows = max_buffered_rows
        self.materialized = Materializations(engine)
        self.active: dict[str, QueryStream] = {}

    async def start(self, stmt: nodes.QueryStatement, overrides: dict[str, Any] | None = None) -> QueryStream:
        config = self.engine.config.with_overrides(overrides)
        try:
            if stmt.query.emit is None:
                stream = await self._start_pull(stmt.query, config)
            else:
                stream = await self._start_push(stmt.query, config)
        except KsqlStatementException:
            raise
        except KsqlException as e:
            raise KsqlStatementException(e.message, stmt.text) from e
        if not stream.done:
            self.active[stream.query_id] = stream
            stream.on_close(lambda: self.active.pop(stream.query_id, None))
        return stream

    async def close_all(self) -> None:
        for stream in list(self.active.values()):
            await stream.close()

    def _plan(self, query: nodes.Query, config: Config) -> QueryPlan:
        planner = Planner(self.engine.metastore, self.engine.serdes.with_config(config), lambda m: None, config.props)
        return planner.plan(query, None, False)

    def _stream(self, query_id: str, plan: QueryPlan, kind: str, marks: dict[str, str],
                limit: int | None) -> QueryStream:
        cols = []
        for n in _projection(plan):
            c = plan.schema.find(n)
            assert c is not None
            cols.append((n, c.type))
        return QueryStream(query_id, cols, marks, kind, limit, self.max_buffered_rows)

    # -- push ---------------------------------------------------------------------------------
    async def _start_push(self, query: nodes.Query, config: Config) -> QueryStream:
        plan = self._plan(query, config)
        qid = _transient_id(query)
        stream = self._stream(qid, plan, "push", {}, plan.limit)
        if stream.done:
            return stream
        reset = str(config.get("ksql.streams.auto.offset.reset") or "latest").lower()
        writer = self._tappable_writer(query, plan, reset)
        if writer is not None:
            self._tap(stream, plan, writer)
        else:
            await self._run_own_task(stream, plan, config, reset)
        return stream

    def _tappable_writer(self, query: nodes.Query, plan: QueryPlan, reset: str) -> SinkOp | None:
        """The sink of the running query that writes this query's source, when tapping it gives
        the same rows as reading the topic would."""
        if reset != "latest" or query.joins or len(plan.sources) != 1:
            return None
        if not all(isinstance(op, _TAPPABLE_OPS) for op in plan.operators):
            return None
        if _references(query, {ROWPARTITION, ROWOFFSET}):
            return None  # only known once the record is written
        src = plan.sources[0]
        if src.created_by is None or src.schema.headers:
            return None
        running = self.engine.queries.get(src.created_by)
        return running.sink if running is not None else None

    def _tap(self, stream: QueryStream, plan: QueryPlan, sink: SinkOp) -> None:
        (src_op,) = [op for ops in plan.source_ops.values() for op in ops]
        out = _PushOutput(stream, plan)
        assert plan.output is not None
        plan.output.to(out)
        ctx = TaskContext(stream.query_id, _log_processing)
        for op in [*plan.operators, out]:
            op.open(ctx)
        names = src_op.key_names + src_op.value_names

        def on_change(rec: Rec) -> None:
            if stream.done:
                return
            if stream.backlogged:
                stream.fail(
                    f"Push query {stream.query_id} was closed: its client fell more than "
                    f"{stream.max_buffered} rows behind. Consume rows faster or add a LIMIT.")
                return
            row = None
            if rec.row is not None:
                row = {n: rec.row.get(n) for n in names}
                if rec.window is not None:
                    row[WINDOWSTART], row[WINDOWEND] = rec.window
                row[ROWTIME] = rec.ts
            try:
                src_op.forward(Rec(rec.key, row, rec.ts, window=rec.window))
            except Exception as e:  # never let a client's query break the writer
                stream.fail(f"Error processing push query row: {e}")

        sink.taps.append(on_change)

        def detach() -> None:
            if on_change in sink.taps:
                sink.taps.remove(on_change)

        stream.on_close(detach)

    async def _run_own_task(self, stream: QueryStream, plan: QueryPlan, config: Config, reset: str,
                            until_end: bool = False) -> None:
        out = _PushOutput(stream, plan)
        assert plan.output is not None
        plan.output.to(out)
        partitions: dict[str, int] = {}
        for src in plan.sources:
            info = await self.engine.backend.describe_topic(src.topic)
            partitions[src.topic] = info.partitions if info else 1
        group = f"_confluent-ksql-{self.engine.config.service_id}transient_{stream.query_id}_{int(time.time() * 1000)}"
        task = QueryTask(stream.query_id, group, self.engine.backend, plan.source_ops, [*plan.operators, out],
                         _log_processing, partitions)
        await task.init_positions(reset)
        ends = await self.engine.backend.end_offsets(list(task.positions)) if until_end else None
        runner = asyncio.create_task(_drive(task, stream, ends), name=f"transient-{stream.query_id}")

        async def stop() -> None:
            runner.cancel()
            try:
                await runner
            except (asyncio.CancelledError, Exception):
                pass

        stream.on_close(stop)

    # -- pull ---------------------------------------------------------------------------------
    async def _start_pull(self, query: nodes.Query, config: Config) -> QueryStream:
        _check_pull(query)
        if query.limit is not None:
            if query.limit < 0:
                raise KsqlException("Pull queries don't support negative integers in the LIMIT clause. "
                                    "See https://cnfl.io/queries for more info.")
            if not config.get_bool("ksql.query.pull.limit.clause.enabled", True):
                raise KsqlException(
                    "LIMIT clause in pull queries is currently disabled. You can enable them by setting "
                    "ksql.query.pull.limit.clause.enabled=true." + _PULL_SUFFIX)
        plan = self._plan(query, config)
        src = plan.sources[0]
        if src.kind == "STREAM":
            stream = self._stream(_transient_id(query), plan, "stream_pull", {}, plan.limit)
            if not stream.done:
                await self._run_own_task(stream, plan, config, "earliest", until_end=True)
            return stream
        if not self.materialized.is_queryable(src):
            raise KsqlException(
                f"The `{src.name}` table isn't queryable. To derive a queryable table, you can do "
                f"'CREATE TABLE QUERYABLE_{src.name} AS SELECT * FROM {src.name}'. "
                "See https://cnfl.io/queries for more info.")
        return await self._pull_table(query, plan)

    async def _pull_table(self, query: nodes.Query, plan: QueryPlan) -> QueryStream:
        src = plan.sources[0]
        marks = dict.fromkeys([c.name for c in plan.schema.key], " KEY")
        if src.window is not None:
            marks.update(dict.fromkeys([WINDOWSTART, WINDOWEND], " KEY"))
        for c in src.schema.headers:
            marks[c.name] = f" HEADER('{c.header_key}')" if c.header_key is not None else " HEADERS"
        # rows are cut at LIMIT below: a table pull query ends without a final message
        stream = self._stream(f"query_{int(time.time() * 1000)}", plan, "pull", marks, None)
        (src_op,) = [op for ops in plan.source_ops.values() for op in ops]
        out = _PullOutput(plan, plan.limit)
        assert plan.output is not None
        plan.output.to(out)
        ctx = TaskContext(stream.query_id, _log_processing)
        for op in [*plan.operators, out]:
            op.open(ctx)
        # the WHERE clause still filters every row: the lookup only narrows which rows are read
        for rec in await self.materialized.rows(src, key_lookups(query.where, src)):
            if out.full:
                break
            src_op.forward(rec.with_(row=dict(rec.row) if rec.row is not None else None, old=None))
        for row in out.rows:
            stream.offer(row)
        stream.finish(None)
        return stream


async def _drive(task: QueryTask, stream: QueryStream, ends: dict[tuple[str, int], int] | None) -> None:
    """Run a transient query's own task until its stream is done (or forever, for push queries)."""
    try:
        while not stream.done:
            if stream.backlogged:
                await stream.wait_for_room()
                continue
            batch = await task.poll()
            if ends is not None:
                batch = [(t, r) for t, r in batch if r.offset < ends.get((t, r.partition), 0)]
            if not batch:
                if ends is not None:
                    stream.finish(QUERY_COMPLETED)
                    return
                await asyncio.sleep(IDLE_POLL_S)
                continue
            task.process_batch(batch)
            # nothing is committed for a transient query: drop what a commit would have written
            task.ctx.out.clear()
            for store in task.ctx.stores.values():
                store.take_changes()
            await asyncio.sleep(0)
    except asyncio.CancelledError:
        raise
    except Exception as e:
        log.exception("Transient query %s failed", stream.query_id)
        stream.fail(f"{type(e).__name__}: {e}")


def key_lookups(where: exp.Expression | None, src: DataSource) -> list[Key] | None:
    """The keys a pull query's WHERE pins down (``K = lit`` for every key column, all ANDed, or
    ``K IN (lit, ...)`` on a single key); None when it needs a scan."""
    if where is None:
        return None
    key_cols = src.schema.key
    conjuncts: list[exp.Expression] = []
    stack = [where]
    while stack:
        e = stack.pop()
        e = e.this if isinstance(e, exp.Paren) else e
        if isinstance(e, exp.And):
            stack += [e.this, e.expression]
        else:
            conjuncts.append(e)
    values: dict[str, list[Any]] = {}
    for c in conjuncts:
        if isinstance(c, exp.EQ):
            for col, lit in ((c.this, c.expression), (c.expression, c.this)):
                if isinstance(col, exp.Column) and not isinstance(lit, exp.Column):
                    v = _literal(lit)
                    if v is not _NOT_LITERAL:
                        values.setdefault(col.name, []).append(v)
                    break
        elif isinstance(c, exp.In) and isinstance(c.this, exp.Column):
            lits = [_literal(x) for x in c.expressions]
            if lits and all(v is not _NOT_LITERAL for v in lits):
                values.setdefault(c.this.name, []).append(lits)
    per_key: list[list[Any]] = []
    for col in key_cols:
        found = values.get(col.name)
        if not found or len(found) != 1:
            return None
        options = found[0] if isinstance(found[0], list) else [found[0]]
        coerced = [_as_key_value(v, col.type) for v in options]
        if any(v is _NOT_LITERAL for v in coerced):
            return None
        per_key.append(coerced)
    if not per_key:
        return None
    if len(per_key) == 1:
        return [(v,) for v in per_key[0]]
    if any(len(p) != 1 for p in per_key):
        return None
    return [tuple(p[0] for p in per_key)]


_NOT_LITERAL = object()


def _literal(node: exp.Expression) -> Any:
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        v = _literal(node.this)
        return _NOT_LITERAL if v is _NOT_LITERAL else -v
    if not isinstance(node, exp.Literal):
        return _NOT_LITERAL
    if node.is_string:
        return node.this
    text = node.this
    try:
        return int(text)
    except ValueError:
        try:
            return Decimal(text)
        except ArithmeticError:
            return _NOT_LITERAL


def _as_key_value(v: Any, t: SqlType) -> Any:
    """A literal as the key column holds it; _NOT_LITERAL when it would need a real cast."""
    b = t.base
    if b in (BaseType.INTEGER, BaseType.BIGINT) and isinstance(v, int):
        return v
    if b is BaseType.DOUBLE and isinstance(v, (int, Decimal)):
        return float(v)
    if b is BaseType.STRING and isinstance(v, str):
        return v
    if b is BaseType.DECIMAL and isinstance(v, (int, Decimal)) and t.scale is not None:
        return Decimal(v).quantize(Decimal(1).scaleb(-t.scale))
    return _NOT_LITERAL


def _transient_id(query: nodes.Query) -> str:
    alias = ""
    if query.from_ is not None:
        alias = query.from_.alias or query.from_.name
    return f"transient_{alias}_{random.getrandbits(63)}"


def _check_pull(query: nodes.Query) -> None:
    if query.joins:
        raise KsqlException("Pull queries don't support JOIN clauses." + _PULL_SUFFIX)
    if query.window is not None:
        raise KsqlException("Pull queries don't support WINDOW clauses." + _PULL_SUFFIX)
    if query.group_by:
        raise KsqlException("Pull queries don't support GROUP BY clauses." + _PULL_SUFFIX)
    if query.partition_by:
        raise KsqlException("Pull queries don't support PARTITION BY clauses." + _PULL_SUFFIX)
    for clause, nodes_ in (("SELECT", [i.expr for i in query.select if i.expr is not None]),
                           ("WHERE", [query.where] if query.where is not None else [])):
        bad = sorted({c.name for e in nodes_ for c in e.find_all(exp.Column) if c.name in (ROWPARTITION, ROWOFFSET)})
        if bad:
            cols = ", ".join(f"`{b}`" for b in bad)
            raise KsqlException(f"Pull queries don't support the following columns in {clause} clauses: {cols}")


def _references(query: nodes.Query, names: set[str]) -> bool:
    exprs = [i.expr for i in query.select if i.expr is not None]
    if query.where is not None:
        exprs.append(query.where)
    return any(c.name in names for e in exprs for c in e.find_all(exp.Column))

