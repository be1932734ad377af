"""The schemas a test case's topics start with, registered as ksqlDB's test driver registers them.

Schemas come from the case's ``topics`` (``keySchema``/``valueSchema`` with their format,
``*SchemaId`` and ``*SchemaReferences``) and, where those give none, from the columns of the case's
CREATE STREAM/TABLE statements. Topics are visited in the order of the Java ``HashMap`` the driver
keeps them in, key schema before value schema, so automatically assigned ids match the ids cases
refer to (``VALUE_SCHEMA_ID=1``); schemas with explicit ids are registered first.
"""

from __future__ import annotations

import json
from typing import Any

from ksql.catalog import FormatInfo
from ksql.dialect import nodes, parse
from ksql.engine.config import Config
from ksql.engine.schemas import format_properties, source_format_properties, supports_inference
from ksql.formats.registry import get_format
from ksql.formats.sr import SCHEMA_ID, SchemaRegistryFormat
from ksql.schemaregistry.client import (
    AVRO,
    JSON,
    PROTOBUF,
    RegisteredSchema,
    SchemaReference,
    SchemaRegistryClient,
    subject_name,
)
from ksql.sqltypes import SqlType


def java_hash(s: str) -> int:
    """``String.hashCode``: over UTF-16 code units, as an unsigned 32-bit number."""
    h = 0
    data = s.encode("utf-16-be", "surrogatepass")
    for i in range(0, len(data), 2):
        h = (31 * h + (data[i] << 8 | data[i + 1])) & 0xFFFFFFFF
    return h


def java_hashmap_order(keys: list[str]) -> list[str]:
    """Iteration order of a ``java.util.HashMap`` filled with ``keys`` in this order."""
    capacity = 16
    while len(keys) > capacity * 0.75:
        capacity *= 2

    def bucket(k: str) -> int:
        h = java_hash(k)
        return (h ^ (h >> 16)) & (capacity - 1)

    return [k for _, _, k in sorted((bucket(k), i, k) for i, k in enumerate(keys))]


def _registered(schema: Any, fmt: str | None, references: list[dict[str, Any]] | None,
                pending: list[tuple[str, RegisteredSchema]]) -> RegisteredSchema:
    """A topic's schema as registered; its references go to ``pending`` (registered after it, each
    under a subject named like the reference, version 1)."""
    name = (fmt or "").upper()
    if name == PROTOBUF or (not name and isinstance(schema, str) and schema.lstrip().startswith("syntax")):
        kind = PROTOBUF
    elif name in ("JSON", "JSON_SR"):
        kind = JSON
    else:
        kind = AVRO
    text = schema if kind == PROTOBUF and isinstance(schema, str) else json.dumps(schema, separators=(",", ":"))
    refs = []
    for r in references or []:
        subject = str(r.get("subject") or r["name"])
        pending.append((subject, _registered(r.get("schema"), r.get("format"), None, pending)))
        refs.append(SchemaReference(str(r["name"]), subject, int(r.get("version") or 1)))
    return RegisteredSchema(text, kind, tuple(refs))


def _statement_schemas(stmt: nodes.CreateSource, config: Config, registry: SchemaRegistryClient
                       ) -> dict[str, RegisteredSchema]:
    """Key/value schemas of a CREATE statement's columns (none where its formats have no schema)."""
    props = stmt.properties
    topic = props.get("KAFKA_TOPIC")
    out: dict[str, RegisteredSchema] = {}
    if topic is None:
        return out
    fmt = props.get("FORMAT")
    key_format = str(props.get("KEY_FORMAT") or fmt or config.get("ksql.persistence.default.format.key") or "KAFKA")
    value_format = props.get("VALUE_FORMAT") or fmt or config.get("ksql.persistence.default.format.value")
    sides = (("keySchema", key_format, [c for c in stmt.columns if c.key], True),
             ("valueSchema", value_format,
              [c for c in stmt.columns if not c.key and not c.headers and c.header_key is None], False))
    for label, format_name, cols, is_key in sides:
        if format_name is None or not cols or not supports_inference(str(format_name)):
            continue
        which = "KEY" if is_key else "VALUE"
        info = FormatInfo(str(format_name).upper(),
                          {k: v for k, v in format_properties(props, which).items() if k != SCHEMA_ID})
        try:
            columns: list[tuple[str, SqlType]] = []
            for c in cols:
                if not isinstance(c.type, SqlType):
                    raise ValueError("custom types are resolved later")
                columns.append((c.name, c.type))
            f = get_format(info.name, source_format_properties(info, stmt.name, is_key), registry=registry)
            assert isinstance(f, SchemaRegistryFormat)
            wrap = props.get("WRAP_SINGLE_VALUE")
            wrap_single = None if is_key or wrap is None else str(wrap).lower() == "true"
            unwrapped = f.unwrapped_for(len(columns), is_key=is_key, wrap_single=wrap_single)
            out[label] = f.physical_for_columns(columns, is_key=is_key, unwrapped=unwrapped).registered
        except Exception:  # a statement the engine will reject: it reports the error itself
            continue
    return out


def seed_topic_schemas(registry: SchemaRegistryClient, case: dict[str, Any], statements: list[str],
                       config: Config) -> None:
    topics: dict[str, dict[str, Any]] = {}
    pending: list[tuple[str, RegisteredSchema]] = []
    for t in case.get("topics") or []:
        topics[t["name"]] = {
            "keySchema": None if t.get("keySchema") is None else _registered(
                t["keySchema"], t.get("keyFormat"), t.get("keySchemaReferences"), pending),
            "valueSchema": None if t.get("valueSchema") is None else _registered(
                t["valueSchema"], t.get("valueFormat"), t.get("valueSchemaReferences"), pending),
            "keySchemaId": t.get("keySchemaId"),
            "valueSchemaId": t.get("valueSchemaId"),
        }
    # schemas with explicit ids first, in the file's order
    for name, t in topics.items():
        for label, is_key in (("keySchema", True), ("valueSchema", False)):
            sid = t.get(f"{label}Id")
            if sid is not None and t[label] is not None:
                registry.register(subject_name(name, is_key), t[label], schema_id=int(sid))
    for sql in statements:
        try:
            parsed = parse(sql)
        except Exception:
            continue
        for stmt in parsed:
            if not isinstance(stmt, nodes.CreateSource):
                continue
            derived = _statement_schemas(stmt, config, registry)
            topic = stmt.properties.get("KAFKA_TOPIC")
            if topic is None:
                continue
            entry = topics.setdefault(str(topic), {"keySchema": None, "valueSchema": None})
            for label, schema in derived.items():
                if entry.get(label) is None:
                    entry[label] = schema
    for rec in [*(case.get("inputs") or []), *(case.get("outputs") or [])]:
        topics.setdefault(rec["topic"], {"keySchema": None, "valueSchema": None})
    for name in java_hashmap_order(list(topics)):
        t = topics[name]
        for label, is_key in (("keySchema", True), ("valueSchema", False)):
            if t.get(label) is not None:
                registry.register(subject_name(name, is_key), t[label])
    for subject, schema in pending:
        registry.register(subject, schema)
