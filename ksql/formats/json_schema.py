"""JSON_SR: JSON payloads behind the Confluent header, with JSON Schemas in the registry.

Reading ignores the writer schema, as ksqlDB does: after the 5 header bytes the payload is read as
JSON against the columns. Generated schemas follow Confluent's JSON Schema converter:
``{"type": "object", "properties": {"COL": {"connect.index": 0, "oneOf": [{"type": "null"}, ...]}}}``
with ``connect.type`` on primitives and ``title`` naming Connect logical types.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, ClassVar

from ksql.errors import KsqlException
from ksql.formats.base import Column, Serde, SerdeFeature, Values
from ksql.formats.connect import (
    DATE,
    DECIMAL,
    PRECISION_PARAM,
    TIME,
    TIMESTAMP,
    CField,
    CSchema,
    CType,
)
from ksql.formats.json import JsonFormat, JsonSerde, dumps
from ksql.formats.sr import PhysicalSchema, RegistrySerde, SchemaRegistryFormat, split_header
from ksql.schemaregistry.client import JSON, RegisteredSchema

_LOGICAL = {DECIMAL: "bytes", TIMESTAMP: "int64", DATE: "int32", TIME: "int32"}


# -- Connect -> JSON Schema ------------------------------------------------------------------------


def connect_to_json_schema(cs: CSchema) -> dict[str, Any]:
    return _to_json(cs)


def _to_json(cs: CSchema) -> dict[str, Any]:
    t = cs.type
    out: dict[str, Any]
    if cs.name in _LOGICAL:
        out = {"type": "number" if cs.name == DECIMAL else "integer", "title": cs.name, "connect.version": 1,
               "connect.type": _LOGICAL[cs.name]}
        if cs.is_decimal:
            out["connect.parameters"] = {"scale": str(cs.scale), PRECISION_PARAM: str(cs.precision)}
    elif t in (CType.INT8, CType.INT16, CType.INT32, CType.INT64):
        out = {"type": "integer", "connect.type": t.value}
    elif t in (CType.FLOAT32, CType.FLOAT64):
        out = {"type": "number", "connect.type": t.value}
    elif t is CType.BOOLEAN:
        out = {"type": "boolean", "connect.type": "boolean"}
    elif t is CType.STRING:
        out = {"type": "string", "connect.type": "string"}
    elif t is CType.BYTES:
        out = {"type": "string", "connect.type": "bytes"}
    elif t is CType.ARRAY:
        out = {"type": "array", "items": _to_json(cs.value)}  # type: ignore[arg-type]
    elif t is CType.MAP:
        if cs.key is None or cs.key.type is not CType.STRING:
            raise KsqlException("JSON only supports MAP types with STRING keys")
        out = {"type": "object", "additionalProperties": _to_json(cs.value), "connect.type": "map"}  # type: ignore[arg-type]
    else:
        props = {}
        for i, f in enumerate(cs.fields):
            props[f.name] = {"connect.index": i, **_to_json(f.schema)}
        out = {"type": "object", "properties": props}
        if cs.name:
            out["title"] = cs.name
    if cs.optional:
        return {"oneOf": [{"type": "null"}, out]}
    return out


# -- JSON Schema -> Connect ------------------------------------------------------------------------


def json_schema_to_connect(s: Any) -> CSchema:
    return _to_connect(s, s if isinstance(s, dict) else {})


def _resolve(s: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = s.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        node: Any = root
        for part in ref[2:].split("/"):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        return node if isinstance(node, dict) else {}
    return s


def _to_connect(s: Any, root: dict[str, Any]) -> CSchema:
    if s is True or s == {}:
        raise KsqlException("Unsupported JSON schema: an unconstrained value")
    s = _resolve(s, root)
    for combiner in ("oneOf", "anyOf"):
        if combiner in s:
            branches = [b for b in s[combiner] if _resolve(b, root).get("type") != "null"]
            nullable = len(branches) != len(s[combiner])
            if len(branches) == 1:
                inner = _to_connect(branches[0], root)
                inner.optional = nullable
                return inner
            raise KsqlException("Unsupported JSON schema: a union of several types")
    t = s.get("type")
    optional = False
    if isinstance(t, list):
        rest = [x for x in t if x != "null"]
        optional = len(rest) != len(t)
        t = rest[0] if len(rest) == 1 else None
    cs = _typed(t, s, root)
    cs.optional = optional
    return cs


def _typed(t: Any, s: dict[str, Any], root: dict[str, Any]) -> CSchema:
    title = s.get("title")
    connect_type = s.get("connect.type")
    if title in _LOGICAL:
        params = {str(k): str(v) for k, v in (s.get("connect.parameters") or {}).items()}
        return CSchema(CType.BYTES if title == DECIMAL else CType.INT64 if title == TIMESTAMP else CType.INT32,
                       False, title, params)
    if t == "integer":
        return CSchema(CType(connect_type) if connect_type in ("int8", "int16", "int32") else CType.INT64, False)
    if t == "number":
        return CSchema(CType.FLOAT32 if connect_type == "float32" else CType.FLOAT64, False)
    if t == "boolean":
        return CSchema(CType.BOOLEAN, False)
    if t == "string":
        return CSchema(CType.BYTES if connect_type == "bytes" else CType.STRING, False)
    if t == "array":
        return CSchema(CType.ARRAY, False, value=_to_connect(s.get("items", {}), root))
    if t == "object" or "properties" in s:
        props = s.get("properties")
        extra = s.get("additionalProperties")
        if not props and isinstance(extra, dict):
            return CSchema(CType.MAP, False, key=CSchema(CType.STRING, False), value=_to_connect(extra, root))
        items = list((props or {}).items())
        items.sort(key=lambda kv: kv[1].get("connect.index", 1 << 30) if isinstance(kv[1], dict) else 1 << 30)
        fields = []
        for name, fs in items:
            field = _to_connect(fs, root)
            field.optional = True  # JSON properties may always be absent
            fields.append(CField(name, field))
        return CSchema(CType.STRUCT, False, title if isinstance(title, str) else None, fields=fields)
    raise KsqlException(f"Unsupported JSON schema type: {t}")


# -- format -----------------------------------------------------------------------------------------


class JsonSchemaPhysical(PhysicalSchema):
    schema_type: ClassVar[str] = JSON

    def __init__(self, schema: Any, text: str | None = None) -> None:
        connect = json_schema_to_connect(schema)
        super().__init__(RegisteredSchema(text if text is not None else json.dumps(schema, separators=(",", ":")),
                                          JSON), connect, connect.name)
        self.json = schema

    def encode(self, value: Any) -> bytes:
        return dumps(value).encode("utf-8", "surrogatepass")

    def decode(self, payload: bytes) -> Any:
        from ksql.formats.json import loads

        return loads(payload)


class JsonSchemaSerde(RegistrySerde):
    """Writes through the registered (or generated) schema; reads the JSON payload as JSON does."""

    def __init__(self, fmt: SchemaRegistryFormat, columns: Sequence[Column], *, is_key: bool,
                 unwrapped: bool, topic: str = "") -> None:
        super().__init__(fmt, columns, is_key=is_key, unwrapped=unwrapped, topic=topic)
        self._json: Serde = JsonSerde(columns, is_key=is_key, unwrapped=unwrapped, topic=topic)

    def deserialize(self, data: bytes | None) -> Values | None:
        if data is None:
            return None
        _, payload = split_header(data)
        return self._json.deserialize(payload)


class JsonSchemaFormat(SchemaRegistryFormat):
    name: ClassVar[str] = "JSON_SR"
    schema_type: ClassVar[str] = JSON
    features = frozenset({SerdeFeature.WRAP_SINGLES, SerdeFeature.UNWRAP_SINGLES})
    serializes_empty = True

    def _check_columns(self, columns: Sequence[Column], *, is_key: bool) -> None:
        JsonFormat()._check_columns(columns, is_key=is_key)

    def physical_for(self, cs: CSchema, *, is_key: bool) -> JsonSchemaPhysical:
        if cs.type is CType.STRUCT and self.full_schema_name():
            cs = CSchema(cs.type, cs.optional, self.full_schema_name(), fields=cs.fields)
        return JsonSchemaPhysical(connect_to_json_schema(cs))

    def parse(self, registered: RegisteredSchema) -> JsonSchemaPhysical:
        try:
            schema = json.loads(registered.schema)
        except ValueError as e:
            raise KsqlException(f"Invalid JSON schema: {e}") from e
        return JsonSchemaPhysical(schema, registered.schema)

    def _make_serde(self, columns: Sequence[Column], *, is_key: bool, unwrapped: bool, topic: str) -> Serde:
        return JsonSchemaSerde(self, columns, is_key=is_key, unwrapped=unwrapped, topic=topic)
