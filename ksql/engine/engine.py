"""The engine: executes statements against the metastore and runs persistent queries.

Test runner, REST server and shell all drive this class. Statements that change the catalog or start
queries are appended to the command topic, so a restarted engine replays them and comes back with
the same streams, tables and queries (resuming from committed offsets).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from ksql import functions  # noqa: F401  (registers the built-in functions)
from ksql.catalog import DataSource, MetaStore, PersistentQueryInfo, WindowInfo
from ksql.dialect import nodes, parse, substitute_variables
from ksql.engine.config import Config
from ksql.engine.schemas import SchemaInjector
from ksql.errors import KsqlException, KsqlStatementException, ParseFailedException
from ksql.expressions.compiler import ExpressionCompiler, Scope
from ksql.planner.planner import Planner, QueryPlan, cast_literals_for_sink, format_create_as
from ksql.planner.serde import SerdeFactory
from ksql.runtime.aggregate import AggregateOp
from ksql.runtime.operators import SinkOp
from ksql.runtime.task import ProcessingLogEntry, QueryTask
from ksql.schema import (
    HEADER,
    KEY,
    ROWOFFSET,
    ROWPARTITION,
    SYSTEM_COLUMN_NAMES,
    VALUE,
    Column,
    LogicalSchema,
)
from ksql.schemaregistry.client import SchemaRegistryClient, registry_from_config
from ksql.sqltypes import BYTES, STRING, BaseType, array, struct
from ksql.topics.base import Record, TopicBackend

# the one type a HEADERS column may have
_HEADERS_TYPE = array(struct([("KEY", STRING), ("VALUE", BYTES)]))

log = logging.getLogger("ksql.engine")

Entity = dict[str, Any]


@dataclass
class RunningQuery:
    info: PersistentQueryInfo
    plan: QueryPlan
    task: QueryTask
    sink: SinkOp | None


@dataclass
class ExecutionContext:
    """Per-request state: property overrides and variables set by SET/DEFINE inside the request."""

    overrides: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)


class KsqlEngine:
    def __init__(self, backend: TopicBackend, config: Config | None = None,
                 on_processing_log: Callable[[ProcessingLogEntry], None] | None = None,
                 persist_commands: bool = True, state: Any = None,
                 schema_registry: SchemaRegistryClient | None = None) -> None:
        self.backend = backend
        self.state = state  # state.manager.StateManager: stores persisted with changelogs; None: memory only
        self.config = config or Config()
        self.metastore = MetaStore()
        self.queries: dict[str, RunningQuery] = {}
        self.query_counter = 0
        self.command_seq = 0
        self.processing_log: list[ProcessingLogEntry] = []
        self._on_plog = on_processing_log
        self.persist_commands = persist_commands
        self.replaying = False
        # AVRO/PROTOBUF/JSON_SR need a registry: the given one, else `ksql.schema.registry.url`'s
        self.schema_registry = schema_registry if schema_registry is not None else registry_from_config(self.config)
        self.schemas = SchemaInjector(self.schema_registry)
        self.serdes = SerdeFactory(self.config, self.schema_registry)
        self.command_statuses: dict[str, dict[str, Any]] = {}
        # the server's transient queries (ksql.engine.transient.TransientQueries registers itself):
        # SHOW QUERIES lists its push queries and TERMINATE <transient id> ends one
        self.transient: Any = None

    # -- command topic --------------------------------------------------------------------------
    @property
    def command_topic(self) -> str:
        return f"_confluent-ksql-{self.config.service_id}_command_topic"

    async def start(self) -> None:
        """Create the command topic if needed and replay it (restores catalog and queries)."""
        if not self.persist_commands:
            return
        if await self.backend.describe_topic(self.command_topic) is None:
            # ksqlDB's command topic: one partition, never compacted, kept forever
            replicas = max(self.config.get_int("ksql.internal.topic.replicas", 1), 1)
            await self.backend.create_topic(self.command_topic, 1, replicas,
                                            {"cleanup.policy": "delete", "retention.ms": "-1"})
            return
        self.replaying = True
        try:
            offset = 0
            while True:
                recs = await self.backend.read(self.command_topic, 0, offset, 1000)
                if not recs:
                    break
                for r in recs:
                    offset = r.offset + 1
                    cmd = orjson.loads(r.value) if r.value else None
                    if not cmd:
                        continue
                    try:
                        ctx = ExecutionContext(dict(cmd.get("streamsProperties") or {}))
                        for stmt in parse(cmd["statement"]):
                            await self._execute_one(stmt, ctx)
                    except KsqlException as e:
                        log.warning("Skipping command at offset %d on replay: %s", r.offset, e)
                    self.command_seq = offset
        finally:
            self.replaying = False

    async def _record_command(self, stmt: nodes.Statement, ctx: ExecutionContext, command_id: str) -> int:
        seq = self.command_seq
        self.command_seq += 1
        if self.persist_commands and not self.replaying:
            value = orjson.dumps({"statement": stmt.text, "streamsProperties": ctx.overrides})
            await self.backend.produce(self.command_topic, [Record(command_id.encode(), value, int(time.time() * 1000))])
        return seq

    # -- processing log -------------------------------------------------------------------------
    def _plog(self, entry: ProcessingLogEntry) -> None:
        self.processing_log.append(entry)
        if len(self.processing_log) > 10_000:
            del self.processing_log[:5_000]
        # ksqlDB's processing log: one logger per query, errors only
        logging.getLogger(f"processing.{entry.query_id}").error(entry.message)
        if self._on_plog is not None:
            self._on_plog(entry)

    # -- statements -----------------------------------------------------------------------------
    async def execute(self, sql: str, overrides: dict[str, Any] | None = None,
                      variables: dict[str, str] | None = None) -> list[Entity]:
        ctx = ExecutionContext(dict(overrides or {}), dict(variables or {}))
        entities: list[Entity] = []
        for offset, text in _split(sql):
            # parse errors give positions in the whole script, as ksqlDB's do
            stmt = self._prepare(text, ctx, _padding(sql, offset))
            result = await self._execute_one(stmt, ctx)
            if result is not None:
                entities.append(result)
        return entities

    def _prepare(self, text: str, ctx: ExecutionContext, padding: str = "") -> nodes.Statement:
        if Config(ctx.overrides).get_bool("ksql.variable.substitution.enable", True):
            text = substitute_variables(text, ctx.variables)
        stmts = parse(padding + text)
        if len(stmts) != 1:
            raise KsqlStatementException("Expected exactly one statement", text)
        return stmts[0]

    async def _execute_one(self, stmt: nodes.Statement, ctx: ExecutionContext) -> Entity | None:
        handler = _HANDLERS.get(type(stmt))
        if handler is None:
            raise KsqlStatementException(f"Statement type not supported: {type(stmt).__name__}", stmt.text)
        try:
            result: Entity | None = await handler(self, stmt, ctx)
        except KsqlStatementException:
            raise
        except KsqlException as e:
            raise KsqlStatementException(e.message, stmt.text) from e
        if result is not None and "commandId" in result:
            # what GET /status/{commandId} reports, for commands replayed at startup too
            self.command_statuses[result["commandId"]] = result["commandStatus"]
        return result

    def _config(self, ctx: ExecutionContext) -> Config:
        return self.config.with_overrides(ctx.overrides)

    # -- CREATE STREAM/TABLE --------------------------------------------------------------------
    async def _create_source(self, stmt: nodes.CreateSource, ctx: ExecutionContext) -> Entity:
        kind = stmt.kind
        label = kind.lower()
        existing = self.metastore.get_source(stmt.name)
        if stmt.or_replace and (stmt.source or existing is not None and existing.is_source):
            raise KsqlException(f"Cannot add {label} '{stmt.name}': CREATE OR REPLACE is not supported on source {label}s.")
        if existing is not None and (taken := _name_taken(stmt, existing)) is not None:
            return taken
        config = self._config(ctx)
        stmt = self.schemas.inject_create(stmt, config)  # columns from the schema registry
        props = dict(stmt.properties)
        schema = self._schema_from_columns(stmt, kind)
        key_fmt, value_fmt = self.serdes.formats_from_props(props, config, schema, is_create=True,
                                                            kind=kind)
        try:
            window = _window_from_props(props)
        except KsqlException as e:  # WITH-clause validation: ksqlDB fails the statement's preparation
            raise ParseFailedException(e.message, stmt.text) from e
        topic = props.get("KAFKA_TOPIC")
        partitions = props.get("PARTITIONS")
        if topic is None:
            if partitions is None:
                raise KsqlException('Missing required property "KAFKA_TOPIC" which has no default value.')
            topic = stmt.name
        info = await self.backend.describe_topic(topic)
        if info is None:
            if partitions is None:
                raise KsqlException(
                    f"Topic '{topic}' does not exist. If you want to create a new topic for the {label} "
                    "please re-run the statement providing the required 'PARTITIONS' configuration in the WITH "
                    "clause (and optionally 'REPLICAS'). For example: "
                    f"CREATE {kind} {stmt.name} (...) WITH (KAFKA_TOPIC='{topic}', PARTITIONS=2, ...);"
                )
            await self.backend.create_topic(topic, int(partitions), int(props.get("REPLICAS", 1) or 1))
        elif partitions is not None and int(partitions) != info.partitions:
            raise KsqlException(
                f"A Kafka topic with the name '{topic}' already exists, with different partition/replica "
                f"configuration than required. KSQL expects {partitions} partitions (topic has "
                f"{info.partitions}), and 1 replication factor (topic has 1)."
            )
        ts_col, ts_fmt = self._timestamp_props(props, schema)
        src = DataSource(stmt.name, kind, schema, topic, key_fmt, value_fmt, stmt.text, ts_col, ts_fmt, window,
                         is_source=stmt.source)
        self.serdes.validate(src)
        self.schemas.register_source(src)
        command_id = f"{label}/`{stmt.name}`/create"
        seq = await self._record_command(stmt, ctx, command_id)
        self.metastore.sources[stmt.name] = src
        return _status(stmt.text, command_id, f"{kind.capitalize()} created", seq)

    def _schema_from_columns(self, stmt: nodes.CreateSource, kind: str) -> LogicalSchema:
        cols: list[Column] = []
        seen: set[str] = set()
        for c in stmt.columns:
            if c.name in SYSTEM_COLUMN_NAMES:
                raise KsqlException(f"'{c.name}' is a reserved column name. You cannot use it as a name for a column.")
            if c.name in seen:
                raise KsqlException(f"Duplicate column names: {c.name}")
            seen.add(c.name)
            t = self.metastore.resolve_type(c.type)
            if c.key:
                if kind == "STREAM" and c.primary:
                    raise KsqlException(
                        f"Column `{c.name}` is a 'PRIMARY KEY' column: please use 'KEY' for streams.\n"
                        "Tables have PRIMARY KEYs, which are unique and NON NULL.\n"
                        "Streams have KEYs, which have no uniqueness or NON NULL constraints."
                    )
                if kind == "TABLE" and not c.primary:
                    raise KsqlException(
                        f"Column `{c.name}` is a 'KEY' column: please use 'PRIMARY KEY' for tables.\n"
                        "Tables have PRIMARY KEYs, which are unique and NON NULL.\n"
                        "Streams have KEYs, which have no uniqueness or NON NULL constraints."
                    )
                cols.append(Column(c.name, t, KEY))
            elif c.headers or c.header_key is not None:
                if c.header_key is not None and t.base is not BaseType.BYTES:
                    raise KsqlException(
                        f"Invalid type for HEADER('{c.header_key}') column: expected BYTES, got {t}")
                if c.headers and t != _HEADERS_TYPE:
                    raise KsqlException(f"Invalid type for HEADERS column: expected {_HEADERS_TYPE}, got {t}")
                cols.append(Column(c.name, t, HEADER, c.header_key))
            else:
                cols.append(Column(c.name, t, VALUE))
        key_cols = [c for c in cols if c.namespace == KEY]
        others = [c for c in cols if c.namespace != KEY]
        if kind == "TABLE" and not key_cols:
            raise KsqlException("Tables require a PRIMARY KEY. Please define the PRIMARY KEY.")
        return LogicalSchema(key_cols + others)

    def _timestamp_props(self, props: dict[str, Any], schema: LogicalSchema) -> tuple[str | None, str | None]:
        ts = props.get("TIMESTAMP")
        if ts is None:
            return None, None
        name = str(ts).upper() if not str(ts).startswith("`") else str(ts).strip("`")
        col = schema.find(name) or schema.find(str(ts))
        if col is None:
            raise KsqlException(f"The TIMESTAMP column set in the WITH clause does not exist in the schema: '{name}'")
        fmt = props.get("TIMESTAMP_FORMAT")
        if col.type.base not in (BaseType.BIGINT, BaseType.TIMESTAMP) and not (
            col.type.base is BaseType.STRING and fmt is not None
        ):
            raise KsqlException(
                f"Timestamp column, `{col.name}`, should be LONG(INT64), TIMESTAMP, or a String with a "
                "timestamp_format specified"
            )
        return col.name, fmt

    # -- CSAS / CTAS / INSERT INTO ------------------------------------------------------------
    async def _create_as_select(self, stmt: nodes.CreateAsSelect, ctx: ExecutionContext) -> Entity:
        kind = stmt.kind
        label = kind.lower()
        existing = self.metastore.get_source(stmt.name)
        if existing is not None and (taken := _name_taken(stmt, existing)) is not None:
            return taken
        config = self._config(ctx)
        plan = self._plan(stmt.query, stmt.name, ctx, sink_timestamp=stmt.properties.get("TIMESTAMP"))
        if plan.kind != kind:
            other = plan.kind
            raise KsqlException(
                f"Invalid result type. Your SELECT query produces a {other}. "
                f"Please use CREATE {other} AS SELECT statement instead."
            )
        if stmt.query.limit is not None:
            raise KsqlException(f"CREATE {kind} AS SELECT statements don't support LIMIT clause.")
        props = dict(stmt.properties)
        first = plan.sources[0]
        key_fmt, value_fmt = self.serdes.sink_formats(props, config, plan, first)
        topic = props.get("KAFKA_TOPIC") or (str(config.get("ksql.output.topic.name.prefix") or "") + stmt.name)
        src_info = await self.backend.describe_topic(first.topic)
        partitions = int(props.get("PARTITIONS") or (src_info.partitions if src_info else 1))
        ts_col, ts_fmt = self._timestamp_props(props, plan.schema)
        sink = DataSource(stmt.name, kind, plan.schema, topic, key_fmt, value_fmt, stmt.text, ts_col, ts_fmt,
                          plan.window)
        try:
            self.serdes.validate(sink)
        except KsqlStatementException:
            raise
        except KsqlException as e:  # quoted as ksqlDB's engine quotes the analyzed statement
            raise KsqlStatementException(e.message, format_create_as(stmt, plan)) from e
        self.schemas.register_sink(sink)
        info = await self.backend.describe_topic(topic)
        if info is None:
            await self.backend.create_topic(topic, partitions, int(props.get("REPLICAS", 1) or 1))
        prefix = "CSAS" if kind == "STREAM" else "CTAS"
        query_id = self._query_id(prefix, stmt.name, props)
        command_id = f"{label}/`{stmt.name}`/create"
        seq = await self._record_command(stmt, ctx, command_id)
        sink.created_by = query_id
        self.metastore.sources[stmt.name] = sink
        await self._start_query(query_id, stmt.text, plan, sink, prefix, ctx)
        return _status(stmt.text, command_id, f"Created query with ID {query_id}", seq, query_id)

    def _plan(self, query: nodes.Query, sink_name: str | None, ctx: ExecutionContext,
              persistent: bool = True, sink_timestamp: Any = None) -> QueryPlan:
        planner = Planner(self.metastore, self.serdes.with_config(self._config(ctx)), lambda m: None,
                          self._config(ctx).props)
        planner.sink_timestamp = None if sink_timestamp is None else str(sink_timestamp)
        return planner.plan(query, sink_name, persistent)

    def _query_id(self, prefix: str, name: str | None, props: dict[str, Any]) -> str:
        explicit = props.get("QUERY_ID")
        n = self.query_counter
        self.query_counter += 1
        if explicit:
            qid = str(explicit).upper()
            if not re.fullmatch(r"[A-Za-z0-9_]+", qid):
                raise KsqlException(f"Query IDs may contain only alphanumeric characters and '_'. Got: '{qid}'")
            if qid in self.queries:
                raise KsqlException(f"Query ID '{qid}' already exists.")
            return qid
        return f"{prefix}_{name}_{n}" if name else f"{prefix}_{n}"

    async def _start_query(self, query_id: str, sql: str, plan: QueryPlan, sink: DataSource, kind: str,
                           ctx: ExecutionContext) -> None:
        sink_op = self.serdes.sink_op(sink, plan)
        if sink.window is not None:  # windowed keys go to their inner key's partition
            sink_info = await self.backend.describe_topic(sink.topic)
            sink_op.partitions = sink_info.partitions if sink_info else 0
        assert plan.output is not None
        plan.output.to(sink_op)
        operators = plan.operators + [sink_op]
        partitions: dict[str, int] = {}
        for src in plan.sources:
            info = await self.backend.describe_topic(src.topic)
            partitions[src.topic] = info.partitions if info else 1
        group = f"_confluent-ksql-{self.config.service_id}query_{query_id}"
        task = QueryTask(query_id, group, self.backend, plan.source_ops, operators, self._plog, partitions)
        reset = str(self._config(ctx).get("ksql.streams.auto.offset.reset") or "latest")
        await task.init_positions(reset)
        sink_op.cache = self._config(ctx).get_int("ksql.streams.cache.max.bytes.buffering", 0) > 0
        if sink_op.cache:
            for op in plan.operators:
                if isinstance(op, AggregateOp):
                    op.enable_cache()
        task.max_buffered_bytes = self._config(ctx).get_int("ksql.streams.cache.max.bytes.buffering", 0)
        task.commit_interval_ms = self._config(ctx).get_int("ksql.streams.commit.interval.ms", 2000)
        if self.state is not None:
            await task.restore(self.state)
        query = PersistentQueryInfo(query_id, sql, sink.name, sink.topic, [s.name for s in plan.sources], kind)
        self.metastore.queries[query_id] = query
        self.queries[query_id] = RunningQuery(query, plan, task, sink_op)

    async def _insert_into(self, stmt: nodes.InsertInto, ctx: ExecutionContext) -> Entity:
        target = self.metastore.get_source(stmt.target)
        if target is None:
            where = stmt.target_position
            raise KsqlException(f"Exception while preparing statement: Line: {where[0]}, Col: {where[1]}: "
                                f"Source `{stmt.target}` does not exist." if where else
                                f"Source `{stmt.target}` does not exist.")
        if target.is_source:
            raise KsqlException(f"Cannot insert into read-only {target.kind.lower()}: {target.name}")
        plan = self._plan(cast_literals_for_sink(stmt.query, target), stmt.target, ctx)
        if plan.kind != target.kind or target.kind == "TABLE":
            raise KsqlException(
                f"Incompatible data sink and query result. Data sink ({target.name}) type is {target.kind} "
                f"but select query result is {plan.kind}."
            )
        if [(c.name, c.type, c.namespace) for c in plan.schema.columns] != [
            (c.name, c.type, c.namespace) for c in target.schema.columns if c.namespace != HEADER
        ]:
            raise KsqlException(
                "Incompatible schema between results and sink.\n"
                f"Result schema is {_schema_text(plan.schema)}\nSink schema is {_schema_text(target.schema)}"
            )
        query_id = self._query_id("INSERTQUERY", None, stmt.properties)
        command_id = f"{target.kind.lower()}/`{target.name}`/create"
        seq = await self._record_command(stmt, ctx, command_id)
        await self._start_query(query_id, stmt.text, plan, target, "INSERT", ctx)
        return _status(stmt.text, command_id, f"Created query with ID {query_id}", seq, query_id)

    async def _insert_values(self, stmt: nodes.InsertValues, ctx: ExecutionContext) -> Entity | None:
        target = self.metastore.get_source(stmt.target)
        if target is None:
            raise KsqlException(
                f"Cannot insert values into an unknown stream/table: `{stmt.target}`" + self._did_you_mean(stmt.target))
        if target.window is not None:
            raise KsqlException("Cannot insert values into windowed stream/table")
        if target.is_source:
            raise KsqlException(f"Cannot insert values into read-only {target.kind.lower()}: {target.name}")
        schema = target.schema
        if stmt.columns is not None and len(stmt.columns) != len(stmt.values):
            raise KsqlException("Failed to prepare statement: Expected number columns and values to match: "
                                f"{len(stmt.columns)}, {len(stmt.values)}")
        names = stmt.columns if stmt.columns is not None else [c.name for c in schema.columns]
        for n in names:
            if n in (ROWPARTITION, ROWOFFSET):
                raise KsqlException(f"Inserting into column `{n}` is not allowed.")
        headers = [n for n in names if (col := schema.find(n)) is not None and col.namespace == HEADER]
        if headers:
            raise KsqlException(f"Cannot insert into HEADER columns: {', '.join(headers)}")
        if stmt.columns is not None:
            for n in names:
                if schema.find(n) is None and n not in ("ROWTIME",):
                    raise KsqlException(f"Column name {n} does not exist.")
        if len(names) != len(stmt.values):
            raise KsqlException(
                f"Failed to prepare statement: Expected a value for each column. Expected Columns: {names}. "
                f"Got {[v.sql() for v in stmt.values]}"
            )
        compiler = ExpressionCompiler(Scope({}))
        row: dict[str, Any] = {}
        for n, v in zip(names, stmt.values, strict=True):
            c = compiler.compile(v, safe=False)
            col = schema.find(n)
            value = c.fn({})
            if col is not None and value is not None:
                value = self.serdes.coerce(value, c.type, col.type, n)
            row[n] = value
        ts = row.pop("ROWTIME", None)
        if ts is None:
            ts = int(time.time() * 1000)
        key = [row.get(c.name) for c in schema.key]
        values = [row.get(c.name) for c in schema.value]
        kb, vb = self.serdes.encode_row(target, key, values)
        await self.backend.produce(target.topic, [Record(kb, vb, ts)])
        return None

    def _did_you_mean(self, name: str) -> str:
        """A hint when a source exists under the same name in another case."""
        for other in self.metastore.sources:
            if other != name and other.upper() == name.upper():
                if other == other.upper():
                    return f"\nDid you mean {other}? Hint: try removing double quotes from the source name."
                return (f'\nDid you mean "{other}"? Hint: wrap the source name in double quotes to make it '
                        "case-sensitive.")
        return ""

    # -- DROP / TERMINATE ---------------------------------------------------------------------
    async def _drop(self, stmt: nodes.Drop, ctx: ExecutionContext) -> Entity | None:
        if stmt.kind == "TYPE":
            if stmt.name not in self.metastore.types:
                if stmt.if_exists:
                    return _status(stmt.text, f"type/{stmt.name}/drop", f"Type '{stmt.name}' does not exist", -1)
                raise KsqlException(f"Type {stmt.name} does not exist.")
            seq = await self._record_command(stmt, ctx, f"type/{stmt.name}/drop")
            del self.metastore.types[stmt.name]
            return _status(stmt.text, f"type/{stmt.name}/drop", f"Dropped type '{stmt.name}'", seq)
        src = self.metastore.get_source(stmt.name)
        label = stmt.kind.capitalize()
        if src is None:
            if stmt.if_exists:
                return _status(stmt.text, f"{stmt.kind.lower()}/{stmt.name}/drop",
                               f"Source {stmt.name} does not exist.", -1)
            raise KsqlException(f"{label} {stmt.name} does not exist.")
        if src.kind != stmt.kind:
            raise KsqlException(
                f"Incompatible data source type is {src.kind}, but statement was DROP {stmt.kind}")
        if stmt.delete_topic and src.is_source:
            raise KsqlException(f"Cannot delete topic for read-only source: {src.name}")
        readers = [q for q in self.metastore.readers_of(src.name) if q in self.queries]
        writers = [q for q in self.metastore.writers_of(src.name) if q != src.created_by]
        if readers or writers:
            msg = f"Cannot drop {src.name}."
            if readers:
                msg += f"\nThe following queries read from this source: [{', '.join(sorted(readers))}]."
            if writers:
                msg += f"\nThe following queries write into this source: [{', '.join(sorted(writers))}]."
            msg += f"\nYou need to terminate them before dropping {src.name}."
            raise KsqlException(msg)
        seq = await self._record_command(stmt, ctx, f"{stmt.kind.lower()}/{stmt.name}/drop")
        if src.created_by and src.created_by in self.queries:
            await self._terminate_query(src.created_by)
        del self.metastore.sources[src.name]
        if stmt.delete_topic:
            await self.backend.delete_topic(src.topic)
        return _status(stmt.text, f"{stmt.kind.lower()}/{stmt.name}/drop",
                       f"Source `{src.name}` (topic: {src.topic}) was dropped.", seq)

    # -- ALTER STREAM/TABLE ---------------------------------------------------------------------
    async def _alter(self, stmt: nodes.AlterSource, ctx: ExecutionContext) -> Entity:
        src = self.metastore.get_source(stmt.name)
        if src is None:
            raise KsqlException(f"Source {stmt.name} does not exist.")
        if src.kind != stmt.kind:
            raise KsqlException(
                f"Incompatible data source type is {src.kind}, but statement was ALTER {stmt.kind}")
        label = src.kind.lower()
        if src.is_source:
            raise KsqlException(
                f"Cannot alter {label} '{src.name}': ALTER operations are not supported on source {label}s.")
        if src.created_by is not None:
            raise KsqlException("ALTER command is not supported for CREATE ... AS statements.")
        columns = list(src.schema.columns)
        for c in stmt.columns:
            if src.schema.find(c.name) is not None or any(x.name == c.name for x in columns):
                raise KsqlException(
                    f"Cannot add column `{c.name}` to schema. A column with the same name already exists.")
            columns.append(Column(c.name, self.metastore.resolve_type(c.type), VALUE))
        altered = replace(src, schema=LogicalSchema(columns))
        self.serdes.validate(altered)
        command_id = f"{label}/{src.name}/alter"
        seq = await self._record_command(stmt, ctx, command_id)
        self.metastore.sources[src.name] = altered
        return _status(stmt.text, command_id, f"{src.kind.capitalize()} {src.name} altered.", seq)

    async def _terminate_query(self, query_id: str) -> None:
        running = self.queries.pop(query_id, None)
        self.metastore.queries.pop(query_id, None)
        if running is not None and self.state is not None and not self.replaying:
            self.state.destroy_query(query_id)

    async def _terminate(self, stmt: nodes.Terminate, ctx: ExecutionContext) -> Entity:
        if stmt.query_id is None:
            seq = await self._record_command(stmt, ctx, "terminate/ALL/execute")
            for qid in list(self.queries):
                await self._terminate_query(qid)
            return _status(stmt.text, "terminate/ALL/execute", "Query terminated.", seq)
        qid = stmt.query_id.upper() if stmt.query_id.upper() in self.queries else stmt.query_id
        if qid not in self.queries and self.transient is not None and not self.replaying:
            ended = await self.transient.terminate(stmt.query_id)
            if ended is not None:  # not distributed: no command, no status
                return {"@type": "terminate_query", "statementText": stmt.text, "queryId": ended,
                        "wasTerminated": True, "warnings": []}
        if qid not in self.queries:
            raise KsqlException(f"Unknown queryId: {stmt.query_id}")
        seq = await self._record_command(stmt, ctx, f"terminate/{qid}/execute")
        await self._terminate_query(qid)
        return _status(stmt.text, f"terminate/{qid}/execute", "Query terminated.", seq)

    # -- types, properties, variables -----------------------------------------------------------
    async def _create_type(self, stmt: nodes.CreateType, ctx: ExecutionContext) -> Entity:
        if stmt.name in self.metastore.types:
            if stmt.if_not_exists:
                return _warning(stmt.text, f"A type with the same name already exists: {stmt.name}")
            raise KsqlException(
                f"Cannot register custom type '{stmt.name}' since it is already registered with type: "
                f"{self.metastore.types[stmt.name]}")
        t = self.metastore.resolve_type(stmt.type)
        seq = await self._record_command(stmt, ctx, f"type/{stmt.name}/create")
        self.metastore.types[stmt.name] = t
        return _status(stmt.text, f"type/{stmt.name}/create",
                       f"Registered custom type with name '{stmt.name}' and SQL type {t}", seq)

    async def _set(self, stmt: nodes.SetProperty, ctx: ExecutionContext) -> None:
        ctx.overrides[stmt.name] = stmt.value
        return None

    async def _unset(self, stmt: nodes.UnsetProperty, ctx: ExecutionContext) -> None:
        ctx.overrides.pop(stmt.name, None)
        return None

    async def _define(self, stmt: nodes.Define, ctx: ExecutionContext) -> None:
        ctx.variables[stmt.name] = stmt.value
        return None

    async def _undefine(self, stmt: nodes.Undefine, ctx: ExecutionContext) -> Entity | None:
        if stmt.name not in ctx.variables:
            return _warning(stmt.text, f"Cannot undefine variable '{stmt.name}' which was never defined")
        del ctx.variables[stmt.name]
        return None

    # -- queries that belong on /query ------------------------------------------------------------
    async def _select(self, stmt: nodes.QueryStatement, ctx: ExecutionContext) -> Entity:
        raise KsqlException(
            "The following statement types should be issued to the websocket endpoint '/query':\n"
            "\t* PRINT\n\t* SELECT"
        )

    # -- listings (filled in by ksql.engine.listings) -------------------------------------------
    async def _show(self, stmt: nodes.Show, ctx: ExecutionContext) -> Entity:
        from ksql.engine import connectors, listings

        if "CONNECTOR" in stmt.what:
            return await connectors.show(self, stmt, ctx)
        return await listings.show(self, stmt, ctx)

    async def _describe(self, stmt: nodes.Describe, ctx: ExecutionContext) -> Entity:
        from ksql.engine import connectors, listings

        if stmt.what == "CONNECTOR":
            return await connectors.describe(self, stmt, ctx)
        return await listings.describe(self, stmt, ctx)

    async def _create_connector(self, stmt: nodes.CreateConnector, ctx: ExecutionContext) -> Entity:
        from ksql.engine import connectors

        return await connectors.create(self, stmt, ctx)

    async def _drop_connector(self, stmt: nodes.DropConnector, ctx: ExecutionContext) -> Entity:
        from ksql.engine import connectors

        return await connectors.drop(self, stmt, ctx)

    async def _explain(self, stmt: nodes.Explain, ctx: ExecutionContext) -> Entity:
        from ksql.engine import listings

        return await listings.explain(self, stmt, ctx)

    async def _assert(self, stmt: nodes.Assert, ctx: ExecutionContext) -> Entity:
        if stmt.what == "TOPIC":
            exists = await self.backend.describe_topic(stmt.name) is not None
            if exists != stmt.exists:
                raise KsqlException(f"Topic {stmt.name} {'does not exist' if stmt.exists else 'exists'}")
            return {"@type": "assert_topic", "statementText": stmt.text, "topicName": stmt.name,
                    "exists": exists, "warnings": []}
        return self.schemas.assert_schema(stmt)

    # -- running -------------------------------------------------------------------------------
    async def run_until_idle(self, max_rounds: int = 50) -> None:
        """Process all available input of every query (queries in creation order), repeatedly
        until nothing moves: the deterministic driver used by the test runner."""
        for _ in range(max_rounds):
            moved = 0
            for q in list(self.queries.values()):
                if q.info.id in self.queries:
                    moved += await q.task.run_until_idle()
            if not moved:
                return

    async def close(self) -> None:
        for q in self.queries.values():
            await q.task.commit()
        if self.state is not None:
            self.state.close_all()
        await self.backend.close()


def _split(sql: str) -> list[tuple[int, str]]:
    from ksql.dialect.tokenizer import split_statements_at

    return split_statements_at(sql)


def _padding(sql: str, offset: int) -> str:
    from ksql.dialect.tokenizer import position_padding

    return position_padding(sql, offset)


def _window_from_props(props: dict[str, Any]) -> WindowInfo | None:
    from ksql.engine.durations import parse_duration

    wt = props.get("WINDOW_TYPE")
    if wt is None:
        if props.get("WINDOW_SIZE") is not None:
            raise KsqlException("WINDOW_SIZE set without WINDOW_TYPE")
        return None
    kind = str(wt).upper()
    if kind not in ("TUMBLING", "HOPPING", "SESSION"):
        raise KsqlException(f"Invalid value {wt} for property WINDOW_TYPE")
    size = props.get("WINDOW_SIZE")
    if kind == "SESSION":
        if size is not None:
            raise KsqlException("'WINDOW_SIZE' should not be set for SESSION windows.")
        return WindowInfo(kind, None)
    if size is None:
        raise KsqlException(f"'WINDOW_SIZE' must be set for {kind} windows.")
    return WindowInfo(kind, parse_duration(str(size), "WINDOW_SIZE"))


def _schema_text(schema: LogicalSchema) -> str:
    """A schema as ksqlDB prints it in messages: back-quoted names, ``KEY`` / header markers."""
    parts = []
    for c in schema.columns:
        suffix = ""
        if c.namespace == KEY:
            suffix = " KEY"
        elif c.namespace == HEADER:
            suffix = f" HEADER('{c.header_key}')" if c.header_key is not None else " HEADERS"
        parts.append(f"`{c.name}` {c.type}{suffix}")
    return ", ".join(parts)


def _status(text: str, command_id: str, message: str, seq: int, query_id: str | None = None) -> Entity:
    return {
        "@type": "currentStatus",
        "statementText": text,
        "commandId": command_id,
        "commandStatus": {"status": "SUCCESS", "message": message, "queryId": query_id},
        "commandSequenceNumber": seq,
        "warnings": [],
    }


def _name_taken(stmt: nodes.CreateSource | nodes.CreateAsSelect, existing: DataSource) -> Entity | None:
    """CREATE of a name in use: a warning with IF NOT EXISTS, an error unless OR REPLACE."""
    label = stmt.kind.lower()
    if stmt.if_not_exists:
        return _warning(stmt.text, f"Cannot add {label} `{stmt.name}`: A {label} with the same name already exists.")
    if not stmt.or_replace:
        raise KsqlException(
            f"Cannot add {label} '{stmt.name}': A {existing.kind.lower()} with the same name already exists")
    return None


def _warning(text: str, message: str) -> Entity:
    return {"@type": "warning_entity", "statementText": text, "message": message, "warnings": []}


_HANDLERS: dict[type, Callable[..., Any]] = {
    nodes.CreateSource: KsqlEngine._create_source,
    nodes.CreateAsSelect: KsqlEngine._create_as_select,
    nodes.InsertInto: KsqlEngine._insert_into,
    nodes.InsertValues: KsqlEngine._insert_values,
    nodes.Drop: KsqlEngine._drop,
    nodes.AlterSource: KsqlEngine._alter,
    nodes.Terminate: KsqlEngine._terminate,
    nodes.CreateType: KsqlEngine._create_type,
    nodes.SetProperty: KsqlEngine._set,
    nodes.UnsetProperty: KsqlEngine._unset,
    nodes.Define: KsqlEngine._define,
    nodes.Undefine: KsqlEngine._undefine,
    nodes.QueryStatement: KsqlEngine._select,
    nodes.Show: KsqlEngine._show,
    nodes.Describe: KsqlEngine._describe,
    nodes.Explain: KsqlEngine._explain,
    nodes.Assert: KsqlEngine._assert,
    nodes.CreateConnector: KsqlEngine._create_connector,
    nodes.DropConnector: KsqlEngine._drop_connector,
}

