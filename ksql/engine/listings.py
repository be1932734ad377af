"""Read-only statements: SHOW/LIST, DESCRIBE, EXPLAIN — answered with ksqlDB's entities."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ksql.catalog import DataSource
from ksql.dialect import nodes
from ksql.engine.config import DEFAULTS
from ksql.errors import KsqlException
from ksql.functions import registry as reg
from ksql.schema import field_info, type_info

if TYPE_CHECKING:
    from ksql.engine.engine import ExecutionContext, KsqlEngine
    from ksql.engine.transient import QueryStream

Entity = dict[str, Any]


def _base(text: str, type_: str) -> Entity:
    return {"@type": type_, "statementText": text, "warnings": []}


def source_summary(src: DataSource) -> Entity:
    return {
        "type": src.kind,
        "name": src.name,
        "topic": src.topic,
        "keyFormat": src.key_format.name,
        "valueFormat": src.value_format.name,
        "isWindowed": src.window is not None,
    }


def running_query(engine: KsqlEngine, qid: str) -> Entity:
    q = engine.metastore.queries[qid]
    return {
        "queryString": q.sql,
        "sinks": [q.sink] if q.sink else [],
        "sinkKafkaTopics": [q.sink_topic] if q.sink_topic else [],
        "id": q.id,
        "statusCount": {q.state: 1},
        "queryType": "PERSISTENT",
        "state": q.state,
    }


def _push_query(stream: QueryStream) -> Entity:
    """A running transient push query as SHOW QUERIES lists it: no sinks, type PUSH."""
    return {
        "queryString": stream.statement,
        "sinks": [],
        "sinkKafkaTopics": [],
        "id": stream.query_id,
        "statusCount": {"RUNNING": 1},
        "queryType": "PUSH",
        "state": "RUNNING",
    }


async def source_description(engine: KsqlEngine, src: DataSource, extended: bool) -> Entity:
    info = await engine.backend.describe_topic(src.topic)
    return {
        "name": src.name,
        "windowType": src.window.kind if src.window else None,
        "readQueries": [running_query(engine, q) for q in engine.metastore.readers_of(src.name)],
        "writeQueries": [running_query(engine, q) for q in engine.metastore.writers_of(src.name)],
        "fields": [field_info(c) for c in src.schema.columns],
        "type": src.kind,
        "timestamp": src.timestamp_column or "",
        "statistics": "",
        "errorStats": "",
        "extended": extended,
        "keyFormat": src.key_format.name,
        "valueFormat": src.value_format.name,
        "topic": src.topic,
        "partitions": info.partitions if info else 0,
        "replication": info.replicas if info else 0,
        "statement": src.sql,
        "queryOffsetSummaries": [],
        "sourceConstraints": sorted(
            s.name for s in engine.metastore.sources.values()
            if s.name != src.name and src.name in _sources_read_by(engine, s)
        ),
        "clusterStatistics": [],
        "clusterErrorStats": [],
    }


def _sources_read_by(engine: KsqlEngine, sink: DataSource) -> list[str]:
    if sink.created_by is None or sink.created_by not in engine.metastore.queries:
        return []
    return engine.metastore.queries[sink.created_by].sources


async def show(engine: KsqlEngine, stmt: nodes.Show, ctx: ExecutionContext) -> Entity:
    what = stmt.what
    ms = engine.metastore
    if what in ("STREAMS", "TABLES"):
        kind = what[:-1]
        sources = sorted((s for s in ms.sources.values() if s.kind == kind), key=lambda s: s.name)
        if stmt.extended:
            e = _base(stmt.text, "source_descriptions")
            e["sourceDescriptions"] = [await source_description(engine, s, True) for s in sources]
            return e
        e = _base(stmt.text, what.lower())
        e[what.lower()] = [source_summary(s) for s in sources]
        return e
    if what == "QUERIES":
        e = _base(stmt.text, "queries")
        e["queries"] = [running_query(engine, q) for q in ms.queries]
        if engine.transient is not None:
            e["queries"] += [_push_query(s) for s in engine.transient.running_push_queries()]
        return e
    if what == "TOPICS":
        topics = await engine.backend.list_topics()
        e = _base(stmt.text, "kafka_topics")
        e["topics"] = [
            {"name": t.name, "replicaInfo": [t.replicas] * t.partitions}
            for t in sorted(topics, key=lambda t: t.name)
            if stmt.all or not (t.name.startswith("_") or t.name.startswith("__"))
        ]
        return e
    if what == "PROPERTIES":
        return _properties(engine, stmt, ctx)
    if what == "FUNCTIONS":
        e = _base(stmt.text, "function_names")
        fns = [{"name": n, "type": "SCALAR", "category": f.category} for n, f in reg.SCALAR_FUNCTIONS.items()]
        fns += [{"name": n, "type": "AGGREGATE", "category": f.category} for n, f in reg.AGGREGATE_FUNCTIONS.items()]
        fns += [{"name": n, "type": "TABLE", "category": f.category} for n, f in reg.TABLE_FUNCTIONS.items()]
        e["functions"] = sorted(fns, key=lambda f: f["name"])
        return e
    if what == "TYPES":
        e = _base(stmt.text, "type_list")
        e["types"] = {n: type_info(t) for n, t in sorted(ms.types.items())}
        return e
    if what == "VARIABLES":
        e = _base(stmt.text, "variables")
        e["variables"] = [{"name": k, "value": v} for k, v in ctx.variables.items()]
        return e
    raise KsqlException(f"SHOW {what} is not supported")


# per-query settings (the rest apply to the whole server); streams settings without their prefix
_QUERY_LEVEL = {
    "auto.offset.reset", "buffered.records.per.partition", "cache.max.bytes.buffering", "max.task.idle.ms",
    "task.timeout.ms", "ksql.fail.on.deserialization.error", "ksql.timestamp.throw.on.invalid",
    "ksql.nested.error.set.null", "ksql.query.error.max.queue.size", "ksql.query.retry.backoff.initial.ms",
    "ksql.query.retry.backoff.max.ms", "ksql.cast.strings.preserve.nulls",
}


def _property_text(v: Any) -> str:
    # values as Java's config maps print them
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _properties(engine: KsqlEngine, stmt: nodes.Show, ctx: ExecutionContext) -> Entity:
    """SHOW PROPERTIES: every setting under its full name (``auto.offset.reset`` is listed as
    ``ksql.streams.auto.offset.reset``); overwritten = what this session changed from the server's
    value, default = still the default value."""
    server = {k: _property_text(v) for k, v in engine.config.props.items() if v is not None}
    merged = {k: _property_text(v) for k, v in engine.config.with_overrides(ctx.overrides).props.items()
              if v is not None}
    defaults = {k: _property_text(v) for k, v in DEFAULTS.items()}

    def level(name: str) -> str:
        bare = name.removeprefix("ksql.streams.")
        return "QUERY" if bare in _QUERY_LEVEL or bare.startswith("ksql.query.pull.") else "SERVER"

    e = _base(stmt.text, "properties")
    e["properties"] = [{"name": k, "scope": "KSQL", "value": v, "editable": True, "level": level(k)}
                       for k, v in sorted(merged.items())]
    e["overwrittenProperties"] = [k for k, v in sorted(merged.items()) if server.get(k) != v]
    e["defaultProperties"] = [k for k, v in sorted(merged.items()) if defaults.get(k) == v]
    return e


async def describe(engine: KsqlEngine, stmt: nodes.Describe, ctx: ExecutionContext) -> Entity:
    if stmt.what == "FUNCTION":
        return _describe_function(stmt)
    if stmt.what in ("STREAMS", "TABLES"):
        kind = stmt.what[:-1]
        e = _base(stmt.text, "source_descriptions")
        e["sourceDescriptions"] = [
            await source_description(engine, s, stmt.extended)
            for s in sorted(engine.metastore.sources.values(), key=lambda s: s.name) if s.kind == kind
        ]
        return e
    assert stmt.name is not None
    src = engine.metastore.get_source(stmt.name)
    if src is None:
        raise KsqlException(f"Could not find STREAM/TABLE '{stmt.name}' in the Metastore")
    e = _base(stmt.text, "sourceDescription")
    e["sourceDescription"] = await source_description(engine, src, stmt.extended)
    return e


def _describe_function(stmt: nodes.Describe) -> Entity:
    name = (stmt.name or "").upper()
    fn: Any = reg.SCALAR_FUNCTIONS.get(name) or reg.AGGREGATE_FUNCTIONS.get(name) or reg.TABLE_FUNCTIONS.get(name)
    if fn is None:
        raise KsqlException(f"Can't find any functions with the name '{name}'")
    kind = "SCALAR" if name in reg.SCALAR_FUNCTIONS else ("AGGREGATE" if name in reg.AGGREGATE_FUNCTIONS else "TABLE")
    variants = []
    for ov in fn.overloads:
        ret = ov.returns
        variants.append({
            "arguments": [{"name": f"arg{i}", "type": str(p), "description": "", "isVariadic": False}
                          for i, p in enumerate(ov.params)],
            "returnType": str(ret) if not callable(ret) or hasattr(ret, "base") else "ANY",
            "description": getattr(ov, "description", "") or fn.description,
            "argumentTypes": [str(p) for p in ov.params],
        })
    e = _base(stmt.text, "describe_function")
    e.update({"name": name, "description": fn.description, "author": "Confluent", "version": "",
              "path": "internal", "type": kind, "functions": variants})
    return e


async def explain(engine: KsqlEngine, stmt: nodes.Explain, ctx: ExecutionContext) -> Entity:
    if stmt.query_id is None:
        raise KsqlException("EXPLAIN of a statement is not supported yet; EXPLAIN a query id instead")
    qid = stmt.query_id.upper() if stmt.query_id.upper() in engine.queries else stmt.query_id
    running = engine.queries.get(qid)
    if running is None:
        raise KsqlException(f"Query with id:{stmt.query_id} does not exist, use SHOW QUERIES to view the full set of queries.")
    plan = running.plan
    info = running.info
    e = _base(stmt.text, "queryDescription")
    e["queryDescription"] = {
        "id": info.id,
        "statementText": info.sql,
        "windowType": plan.window.kind if plan.window else None,
        "fields": [field_info(c) for c in plan.schema.columns],
        "sources": info.sources,
        "sinks": [info.sink] if info.sink else [],
        "topology": " -> ".join(type(o).__name__ for o in plan.operators),
        "executionPlan": " -> ".join(type(o).__name__ for o in plan.operators),
        "overriddenProperties": {},
        "ksqlHostQueryStatus": {},
        "queryType": "PERSISTENT",
        "queryErrors": [],
        "tasksMetadata": [],
        "state": info.state,
        "consumerGroupId": running.task.group,
    }
    return e
