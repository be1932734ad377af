"""Transient queries: push queries (``EMIT CHANGES``) and pull queries, as streams of client rows.

A push query whose source is written by a running persistent query, and which only filters and
projects, subscribes to that query's output in process: one tap on the writer's sink builds each
change once and hands it to every such push query, so a thousand clients cost no consumer and
read nothing twice. Any other push query runs its own query task, from ``auto.offset.reset``
(default latest), in its own consumer group. A pull query on a table answers from the table's
materialization (``ksql.engine.pull``); on a stream it reads the topic from the beginning to the
end offsets current when it started.

The REST server and the shell consume a :class:`QueryStream`: a header, then events (rows, then
an end or a failure), taken one by one or in batches. A subscriber's buffer is bounded: the
writer never waits for a client, and a client that falls ``max_buffered`` rows behind loses its
pending rows, gets an error event and is cut off (:attr:`QueryStream.cut_off`). A query with its
own task just waits for its client instead.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from ksql.catalog import DataSource
from ksql.dialect import nodes, parse, split_statements, substitute_variables
from ksql.engine.background import cancel_and_wait
from ksql.engine.config import Config
from ksql.engine.pull import Materializations, freeze, key_access, with_window_bounds_resolved
from ksql.errors import KsqlException, KsqlStatementException
from ksql.expressions.compiler import expr_sql
from ksql.planner.planner import Planner, QueryPlan
from ksql.runtime.operators import FilterOp, FlatMapOp, Operator, ProjectOp, SinkOp, SourceOp
from ksql.runtime.records import Rec
from ksql.runtime.task import ProcessingLogEntry, QueryTask, TaskContext
from ksql.schema import ROWOFFSET, ROWPARTITION, ROWTIME, WINDOWEND, WINDOWSTART
from ksql.sqltypes import SqlType

if TYPE_CHECKING:
    from ksql.engine.engine import KsqlEngine

log = logging.getLogger("ksql.transient")

LIMIT_REACHED = "Limit Reached"
QUERY_COMPLETED = "Query Completed"
DEFAULT_MAX_BUFFERED_ROWS = 10_000
DEFAULT_MAX_PUSH_QUERIES = 100  # ksqlDB's ksql.max.push.queries
MAX_BATCH = 1_000  # events handed to a client at once
IDLE_POLL_S = 0.01

# operators a push query may run on top of another query's sink: stateless, one input, and none
# changes the row it is given (every subscriber of a sink is handed the same row)
_TAPPABLE_OPS = (SourceOp, FilterOp, ProjectOp, FlatMapOp)

_PULL_SUFFIX = " See https://cnfl.io/queries for more info.\nAdd EMIT CHANGES if you intended to issue a push query."
_WHERE_ERROR = "Error in WHERE expression: "


class PushQueryLimitError(KsqlException):
    """More push queries than ``ksql.max.push.queries`` would be running."""


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

    Producers call :meth:`offer`, :meth:`finish`, :meth:`fail` and :meth:`overflow`
    synchronously; the client takes :meth:`events` or :meth:`batches` and must call
    :meth:`close` when it is gone (that releases the query: subscription dropped, task cancelled).
    """

    def __init__(self, query_id: str, columns: list[tuple[str, SqlType]], marks: dict[str, str],
                 kind: str, limit: int | None, max_buffered: int = DEFAULT_MAX_BUFFERED_ROWS) -> None:
        self.query_id = query_id
        self.columns = columns
        self.marks = marks  # column -> " KEY" / " HEADER('k')" / " HEADERS" in the header schema
        self.kind = kind  # push | pull | stream_pull
        self.statement = ""  # the SELECT as the client sent it (SHOW QUERIES lists it)
        self.marks_first = False  # header schema: marked columns first (see header_schema)
        self.limit = limit
        self.max_buffered = max_buffered
        self.rows_offered = 0
        self.done = False  # no more events will be added
        self.closed = False  # released: the client is gone or the query was closed
        # set when the client fell too far behind a shared writer: whoever serves the client
        # gives it a moment to take the error event, then drops the connection
        self.cut_off = asyncio.Event()
        self._events: collections.deque[Event] = collections.deque()
        self._ended = False  # the final event has been taken
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
        """`` `K` INTEGER KEY, `V` STRING``: key (and header) marks only on table pull queries.
        With ``marks_first`` (a table pull query's ``SELECT *``) the schema is the table's: key
        columns, then header columns, then the rest, while rows keep the projection's order."""
        cols = self.columns
        if self.marks_first:
            rank = {" KEY": 0}
            cols = sorted(cols, key=lambda c: rank.get(self.marks.get(c[0], ""), 1 if c[0] in self.marks else 2))
        return ", ".join(f"`{n}` {t}{self.marks.get(n, '')}" for n, t in cols)

    # -- producer side ------------------------------------------------------------------------
    @property
    def backlogged(self) -> bool:
        return len(self._events) >= self.max_buffered

    @property
    def buffered(self) -> int:
        return len(self._events)

    def offer(self, columns: list[Any], tombstone: bool = False) -> None:
        if self.done:
            return
        self._events.append(ResultRow(columns, tombstone))
        self.rows_offered += 1
        if self.limit is not None and self.rows_offered >= self.limit:
            self.finish(LIMIT_REACHED)
        self._wakeup.set()

    def finish(self, message: str | None) -> None:
        self._end(QueryEnd(message))

    def fail(self, message: str) -> None:
        self._end(QueryFailure(message))

    def overflow(self, message: str) -> None:
        """The client fell too far behind: its pending rows are dropped (freeing them at once),
        the failure is its next event, and it is to be cut off."""
        if self.done:
            return
        self._events.clear()
        self._end(QueryFailure(message))
        self.cut_off.set()

    def _end(self, ev: Event) -> None:
        if self.done:
            return
        self.done = True
        self._events.append(ev)
        self._wakeup.set()

    async def wait_for_room(self) -> None:
        while self.backlogged and not self.closed:
            self._drained.clear()
            await self._drained.wait()

    # -- client side --------------------------------------------------------------------------
    async def next_batch(self, max_events: int = MAX_BATCH) -> list[Event]:
        """The events available now, waiting for at least one; ``[]`` once the stream is over.
        A batch ends with the final event (an end or a failure) when it holds it."""
        while not self._events:
            if self._ended or self.closed:
                return []
            self._wakeup.clear()
            await self._wakeup.wait()
        events = self._events
        n = min(len(events), max_events)
        batch = [events.popleft() for _ in range(n)]
        if len(events) <= self.max_buffered // 2:
            self._drained.set()
        if not isinstance(batch[-1], ResultRow):
            self._ended = True
            events.clear()
        return batch

    async def batches(self) -> AsyncIterator[list[Event]]:
        while batch := await self.next_batch():
            yield batch

    async def events(self) -> AsyncIterator[Event]:
        async for batch in self.batches():
            for ev in batch:
                yield ev

    def on_close(self, fn: Callable[[], Any]) -> None:
        self._cleanups.append(fn)

    async def terminate(self) -> None:
        """End the query from the server side (TERMINATE): the client still gets the rows already
        queued and then a normal end, while the query's resources are released now."""
        self.finish(QUERY_COMPLETED)
        await self.close(keep_pending=True)

    async def close(self, keep_pending: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        self.done = True
        if not keep_pending:
            self._events.clear()
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


def _log_processing(entry: ProcessingLogEntry) -> None:
    log.debug("processing log [%s]: %s", entry.query_id, entry.message)


# -- a persistent query's output, shared by its push queries ------------------------------------
class SinkSubscribers:
    """The push queries reading one persistent query's output. One tap on its sink turns each
    change into a source-shaped row once; every subscriber gets that same row (its operators
    never change the row they are given), synchronously, while the writer runs."""

    def __init__(self, sink: SinkOp, names: list[str], on_empty: Callable[[], Any]) -> None:
        self.sink = sink
        self.names = names
        self.subscribers: list[Callable[[Rec], None]] = []
        self._on_empty = on_empty
        sink.taps.append(self._on_change)

    def _on_change(self, rec: Rec) -> None:
        row = None
        ts = rec.ts
        if rec.row is not None:
            src = rec.row
            if self.sink.timestamp_fn is not None:
                ts = self.sink.timestamp_fn(src)  # the record's timestamp, as the sink wrote it
            row = {n: src.get(n) for n in self.names}
            if rec.window is not None:
                row[WINDOWSTART], row[WINDOWEND] = rec.window
            row[ROWTIME] = ts
        shared = Rec(rec.key, row, ts, window=rec.window)
        for fn in self.subscribers:
            fn(shared)

    def add(self, fn: Callable[[Rec], None]) -> None:
        self.subscribers = [*self.subscribers, fn]  # copy on write: the tap may be iterating

    def remove(self, fn: Callable[[Rec], None]) -> None:
        self.subscribers = [f for f in self.subscribers if f is not fn]
        if not self.subscribers:
            if self._on_change in self.sink.taps:
                self.sink.taps.remove(self._on_change)
            self._on_empty()


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
        engine.transient = self  # SHOW QUERIES lists the push queries, TERMINATE ends them
        # (id(sink), row columns) -> the push queries reading that sink
        self.subscriptions: dict[tuple[int, tuple[str, ...]], SinkSubscribers] = {}

    @property
    def push_queries(self) -> int:
        return sum(1 for s in self.active.values() if s.kind == "push")

    async def start(self, stmt: nodes.QueryStatement, overrides: dict[str, Any] | None = None) -> QueryStream:
        config = self.engine.config.with_overrides(overrides)
        try:
            if stmt.query.emit is None:
                stream = await self._start_pull(stmt.query, config)
            else:
                limit = config.get_int("ksql.max.push.queries", DEFAULT_MAX_PUSH_QUERIES)
                if self.push_queries >= limit:
                    raise PushQueryLimitError("Maximum number of push queries exceeded")
                stream = await self._start_push(stmt.query, config)
        except (KsqlStatementException, PushQueryLimitError):
            raise
        except KsqlException as e:
            raise KsqlStatementException(e.message, stmt.text) from e
        stream.statement = stmt.text
        if not stream.done:
            self.active[stream.query_id] = stream
            stream.on_close(lambda: self.active.pop(stream.query_id, None))
        return stream

    def running_push_queries(self) -> list[QueryStream]:
        """The push queries SHOW QUERIES lists (scalable push queries are not the engine's: not listed)."""
        return [s for s in self.active.values()
                if s.kind == "push" and not s.closed and not s.query_id.startswith("SCALABLE_PUSH_QUERY_")]

    async def terminate(self, query_id: str) -> str | None:
        """End the transient query ``query_id`` (ids compare case-insensitively, as ksqlDB's do);
        its id, or None when there is no such query."""
        wanted = query_id.upper()
        for stream in list(self.active.values()):
            if stream.query_id.upper() == wanted and not stream.closed:
                await stream.terminate()
                return stream.query_id
        return None

    async def close_all(self) -> None:
        for stream in list(self.active.values()):
            await stream.close()
        self.materialized.close()

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
        raw = str(config.get("ksql.streams.auto.offset.reset") or "latest")
        reset = raw.strip().lower()
        if reset not in ("earliest", "latest", "none"):
            raise KsqlException(f"Invalid value {raw} for configuration auto.offset.reset: String must be one of: "
                                "latest, earliest, none")
        writer = self._tappable_writer(query, plan, reset)
        # served from a persistent query's output with push v2 on: a scalable push query
        scalable = writer is not None and config.get_bool("ksql.query.push.v2.enabled", False)
        qid = f"SCALABLE_PUSH_QUERY_{uuid.uuid4()}" if scalable else _transient_id(query)
        stream = self._stream(qid, plan, "push", {}, plan.limit)
        if stream.done:
            return stream
        if writer is not None:
            self._tap(stream, plan, writer, skip_null_keys=scalable)
        else:
            await self._run_own_task(stream, plan, config, reset)
        return stream

    def _tappable_writer(self, query: nodes.Query, plan: QueryPlan, reset: str) -> SinkOp | None:
        """The sink of the running query that writes this query's source, when tapping it gives
        the same rows as reading the topic would."""
        if reset == "earliest" or query.joins or len(plan.sources) != 1:
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

    def _tap(self, stream: QueryStream, plan: QueryPlan, sink: SinkOp, skip_null_keys: bool = False) -> None:
        """Subscribe ``stream`` to ``sink``. ``skip_null_keys``: scalable push queries drop rows
        whose key is null (keyed sources)."""
        (src_op,) = [op for ops in plan.source_ops.values() for op in ops]
        out = _PushOutput(stream, plan)
        assert plan.output is not None
        plan.output.to(out)
        ctx = TaskContext(stream.query_id, _log_processing)
        for op in [*plan.operators, out]:
            op.open(ctx)
        skip_null_keys = skip_null_keys and bool(src_op.key_names)
        forward = src_op.forward

        def on_change(rec: Rec) -> None:
            if stream.done:
                return
            if skip_null_keys and all(k is None for k in rec.key):
                return
            if stream.backlogged:
                stream.overflow(
                    f"Push query {stream.query_id} was closed: its client fell more than "
                    f"{stream.max_buffered} rows behind. Consume rows faster or add a LIMIT.")
                return
            try:
                forward(rec)
            except Exception as e:  # never let a client's query break the writer
                stream.fail(f"Error processing push query row: {e}")

        names = src_op.key_names + src_op.value_names
        k = (id(sink), tuple(names))
        subs = self.subscriptions.get(k)
        if subs is None or subs.sink is not sink:
            subs = SinkSubscribers(sink, names, lambda: self.subscriptions.pop(k, None))
            self.subscriptions[k] = subs
        subs.add(on_change)
        stream.on_close(lambda: subs.remove(on_change))

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
            await cancel_and_wait(runner)
            if not runner.cancelled():
                runner.exception()  # retrieved: its failure has been reported to the stream

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
        where = with_window_bounds_resolved(query.where)
        if where is not query.where:
            query = dataclasses.replace(query, where=where)
        plan = self._plan_pull(query, config)
        src = plan.sources[0]
        if src.kind == "STREAM":
            stream = self._stream(_transient_id(query), plan, "stream_pull", {}, plan.limit)
            if not stream.done:
                await self._run_own_task(stream, plan, config, "earliest", until_end=True)
            return stream
        if not self.materialized.is_queryable(src):
            raise KsqlException(
                f"The `{src.name}` table isn't queryable. To derive a queryable table, you can do "
                f"'CREATE TABLE QUERYABLE_{src.name} AS SELECT * FROM {src.name}'." + _PULL_SUFFIX)
        keys = key_access(query.where, src, config)
        stream = await self._pull_table(plan, src, keys)
        stream.marks_first = len(query.select) == 1 and query.select[0].expr is None
        return stream

    def _plan_pull(self, query: nodes.Query, config: Config) -> QueryPlan:
        try:
            return self._plan(query, config)
        except KsqlException as e:
            where = query.where
            if where is None or not e.message.startswith(_WHERE_ERROR):
                raise
            if any(True for _ in where.find_all(exp.Between)) and "Cannot compare" in e.message:
                # ksqlDB type-checks BETWEEN once rewritten as two comparisons, when it compiles them
                raise KsqlException("Invalid expression: " + e.message[len(_WHERE_ERROR):]) from e
            # a pull query's WHERE errors name the clause they are about
            raise KsqlException(f"{e.message}\nStatement: {expr_sql(where)}") from e

    async def _pull_table(self, plan: QueryPlan, src: DataSource, keys: list[Any] | None) -> QueryStream:
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
        for rec in await self.materialized.rows(src, keys):
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
