"""AVRO: Avro binary payloads (``fastavro``) with schemas in the registry.

Schemas generated from columns follow ksqlDB: the value record is
``io.confluent.ksql.avro_schemas.KsqlDataSourceSchema`` (or the ``fullSchemaName`` property), a key
record ``io.confluent.ksql.avro_schemas.<Source>Key``; nested records are named after their path
(``<Parent>_<FIELD>``, ``_MapKey``/``_MapValue``); every level below the root is a ``["null", T]``
union with a null default; records carry ``connect.name``. DECIMAL is ``bytes`` with logical type
``decimal``, TIMESTAMP ``long``/``timestamp-millis``, DATE ``int``/``date``, TIME
``int``/``time-millis``.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar

import fastavro

from ksql.errors import KsqlException, SerializationError
from ksql.formats import _java
from ksql.formats.base import Column, SerdeFeature, has_non_string_map_key
from ksql.formats.connect import (
    DATE,
    DECIMAL,
    NO_DEFAULT,
    PRECISION_PARAM,
    TIME,
    TIMESTAMP,
    CField,
    CSchema,
    CType,
)
from ksql.formats.sr import PhysicalSchema, SchemaRegistryFormat
from ksql.schemaregistry.client import AVRO, RegisteredSchema

NAMESPACE = "io.confluent.ksql.avro_schemas"
DEFAULT_VALUE_NAME = f"{NAMESPACE}.KsqlDataSourceSchema"
UNION_NAME = "io.confluent.connect.avro.Union"

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PRIMITIVE_TYPES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
# logical types fastavro would turn into datetime objects: we keep the raw numbers
_TIME_LOGICAL = {"date", "time-millis", "time-micros", "timestamp-millis", "timestamp-micros",
                 "local-timestamp-millis", "local-timestamp-micros"}


def key_schema_name(source_name: str) -> str:
    """ksqlDB's key record name for a source: ``MY_SOURCE`` -> ``...avro_schemas.MySourceKey``."""
    camel = "".join(w[:1].upper() + w[1:].lower() for w in source_name.split("_"))
    return f"{NAMESPACE}.{camel}Key"


def _split(full: str) -> tuple[str | None, str]:
    ns, _, simple = full.rpartition(".")
    return (ns or None), simple


def _check_name(name: str) -> None:
    if _NAME_RE.fullmatch(name):
        return
    if not name or not _NAME_RE.fullmatch(name[0]):
        raise KsqlException(f"Schema is not compatible with Avro: Illegal initial character: {name}")
    raise KsqlException(f"Schema is not compatible with Avro: Illegal character in: {name}")


# -- Connect -> Avro ----------------------------------------------------------------------------


def connect_to_avro(cs: CSchema, full_name: str) -> Any:
    """The Avro schema (JSON) ksqlDB generates for a Connect schema; the root is never a union."""
    return _to_avro(cs, full_name, None, root=True)


def _to_avro(cs: CSchema, ctx: str, enclosing_ns: str | None, *, root: bool = False) -> Any:
    t = cs.type
    out: Any
    if t in (CType.INT8, CType.INT16, CType.INT32):
        logical = {DATE: "date", TIME: "time-millis"}.get(cs.name or "")
        out = {"type": "int", "connect.version": 1, "connect.name": cs.name, "logicalType": logical} if logical else "int"
    elif t is CType.INT64:
        out = ({"type": "long", "connect.version": 1, "connect.name": TIMESTAMP, "logicalType": "timestamp-millis"}
               if cs.name == TIMESTAMP else "long")
    elif t is CType.FLOAT32:
        out = "float"
    elif t is CType.FLOAT64:
        out = "double"
    elif t is CType.BOOLEAN:
        out = "boolean"
    elif t is CType.STRING:
        out = "string"
    elif t is CType.BYTES:
        out = ({"type": "bytes", "scale": cs.scale, "precision": cs.precision, "connect.version": 1,
                "connect.parameters": {"scale": str(cs.scale), PRECISION_PARAM: str(cs.precision)},
                "connect.name": DECIMAL, "logicalType": "decimal"} if cs.is_decimal else "bytes")
    elif t is CType.ARRAY:
        out = {"type": "array", "items": _to_avro(cs.value, ctx, enclosing_ns)}  # type: ignore[arg-type]
    elif t is CType.MAP:
        if cs.key is None or cs.key.type is not CType.STRING:
            raise KsqlException("Avro only supports MAPs with STRING keys")
        out = {"type": "map", "values": _to_avro(cs.value, f"{ctx}_MapValue", enclosing_ns),  # type: ignore[arg-type]
               "connect.name": ctx}
    else:
        full = cs.name or ctx
        ns, simple = _split(full)
        _check_name(simple)
        fields = []
        for f in cs.fields:
            fname = f.name.replace(".", "_")
            _check_name(fname)
            entry: dict[str, Any] = {"name": fname, "type": _to_avro(f.schema, f"{full}_{f.name}", ns)}
            if f.schema.optional:
                entry["default"] = None
            fields.append(entry)
        out = {"type": "record", "name": simple}
        if ns and ns != enclosing_ns:
            out["namespace"] = ns
        out["fields"] = fields
        out["connect.name"] = full
    if cs.optional and not root:
        return ["null", out]
    return out


# -- Avro -> Connect ------------------------------------------------------------------------------


class _Names:
    def __init__(self) -> None:
        self.types: dict[str, CSchema] = {}


def avro_to_connect(schema: Any) -> CSchema:
    return _to_connect(schema, _Names(), None)


def _full(name: str, ns: str | None) -> str:
    return name if "." in name or not ns else f"{ns}.{name}"


def _to_connect(s: Any, names: _Names, ns: str | None) -> CSchema:
    if isinstance(s, list):
        branches = [b for b in s if b != "null" and not (isinstance(b, dict) and b.get("type") == "null")]
        nullable = len(branches) != len(s)
        if len(branches) == 1:
            inner = _to_connect(branches[0], names, ns)
            inner.optional = nullable
            return inner
        fields = []
        for b in branches:
            cs = _to_connect(b, names, ns)
            label = _branch_name(b, cs)
            cs.optional = True
            fields.append(CField(label, cs))
        return CSchema(CType.STRUCT, nullable, UNION_NAME, fields=fields)
    if isinstance(s, str):
        if s in _PRIMITIVE_TYPES:
            return _primitive(s, None, {})
        ref = names.types.get(_full(s, ns)) or names.types.get(s)
        if ref is None:
            raise KsqlException(f"Unknown Avro type: {s}")
        return ref
    t = s.get("type")
    if isinstance(t, (list, dict)):
        return _to_connect(t, names, ns)
    if t in _PRIMITIVE_TYPES:
        return _primitive(t, s.get("logicalType"), s)
    if t == "record" or t == "error":
        full = _full(s["name"], s.get("namespace") or ns)
        rec = CSchema(CType.STRUCT, False, full)
        names.types[full] = rec
        rec_ns = _split(full)[0]
        for f in s.get("fields", []):
            fs = _to_connect(f["type"], names, rec_ns)
            rec.fields.append(CField(f["name"], fs, f.get("default", NO_DEFAULT)))
        return rec
    if t == "enum":
        full = _full(s["name"], s.get("namespace") or ns)
        names.types[full] = CSchema(CType.STRING, False)
        return names.types[full]
    if t == "fixed":
        full = _full(s["name"], s.get("namespace") or ns)
        fixed = _primitive("bytes", s.get("logicalType"), s)
        names.types[full] = fixed
        return fixed
    if t == "array":
        return CSchema(CType.ARRAY, False, value=_to_connect(s["items"], names, ns))
    if t == "map":
        return CSchema(CType.MAP, False, key=CSchema(CType.STRING, False), value=_to_connect(s["values"], names, ns))
    raise KsqlException(f"Unsupported Avro type: {t}")


def _branch_name(b: Any, cs: CSchema) -> str:
    if isinstance(b, dict) and b.get("name"):
        return str(b["name"]).rpartition(".")[2]
    if isinstance(b, dict):
        return str(b.get("type"))
    return str(b).rpartition(".")[2]


def _primitive(t: str, logical: str | None, s: dict[str, Any]) -> CSchema:
    connect_type = s.get("connect.type")
    if t == "int":
        if logical == "date":
            return CSchema(CType.INT32, False, DATE)
        if logical == "time-millis":
            return CSchema(CType.INT32, False, TIME)
        if connect_type == "int8":
            return CSchema(CType.INT8, False)
        if connect_type == "int16":
            return CSchema(CType.INT16, False)
        return CSchema(CType.INT32, False)
    if t == "long":
        if logical == "timestamp-millis":
            return CSchema(CType.INT64, False, TIMESTAMP)
        return CSchema(CType.INT64, False)
    if t == "bytes" and logical == "decimal":
        return CSchema(CType.BYTES, False, DECIMAL,
                       {"scale": str(s.get("scale", 0)), PRECISION_PARAM: str(s.get("precision", 64))})
    simple = {"boolean": CType.BOOLEAN, "float": CType.FLOAT32, "double": CType.FLOAT64,
              "bytes": CType.BYTES, "string": CType.STRING}
    if t in simple:
        return CSchema(simple[t], False)
    raise KsqlException(f"Unsupported Avro type: {t}")


def _without_time_logicals(s: Any) -> Any:
    """The schema fastavro reads and writes with: date/time logical types stay plain numbers."""
    if isinstance(s, list):
        return [_without_time_logicals(b) for b in s]
    if not isinstance(s, dict):
        return s
    out = {}
    for k, v in s.items():
        if k == "logicalType" and v in _TIME_LOGICAL:
            continue
        if k in ("type", "items", "values"):
            out[k] = _without_time_logicals(v)
        elif k == "fields":
            out[k] = [{**f, "type": _without_time_logicals(f["type"])} for f in v]
        else:
            out[k] = v
    return out


# -- payloads ---------------------------------------------------------------------------------------


class AvroSchema(PhysicalSchema):
    schema_type: ClassVar[str] = AVRO

    def __init__(self, schema: Any, text: str | None = None) -> None:
        connect = avro_to_connect(schema)
        name = connect.name if connect.type is CType.STRUCT and connect.name != UNION_NAME else None
        registered = RegisteredSchema(text if text is not None else json.dumps(schema, separators=(",", ":")), AVRO)
        super().__init__(registered, connect, name)
        self.json = schema
        self._plain = not _needs_datum(connect)
        # fastavro's values need no reshaping unless unions become structs or uuids strings
        self._plain_read = not _has_union(connect) and '"uuid"' not in self.registered.schema
        try:
            self._parsed = fastavro.parse_schema(_without_time_logicals(schema), _write_hint=False)
        except Exception as e:  # fastavro's SchemaParseException and friends
            raise KsqlException(f"Invalid Avro schema: {e}") from e

    def encode(self, value: Any) -> bytes:
        buf = io.BytesIO()
        try:
            fastavro.schemaless_writer(buf, self._parsed, value if self._plain else _datum(self.connect, value))
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as e:
            raise SerializationError(str(e) or type(e).__name__) from e
        return buf.getvalue()

    def decode(self, payload: bytes) -> Any:
        value = fastavro.schemaless_reader(io.BytesIO(payload), self._parsed, None)
        return value if self._plain_read else _from_datum(self.connect, value)


def _has_union(cs: CSchema) -> bool:
    if cs.name == UNION_NAME:
        return True
    if cs.type in (CType.ARRAY, CType.MAP):
        return _has_union(cs.value)  # type: ignore[arg-type]
    return any(_has_union(f.schema) for f in cs.fields)


def _needs_datum(cs: CSchema) -> bool:
    """Whether values of ``cs`` need reshaping for fastavro (decimals, multi-type unions)."""
    if cs.is_decimal or cs.name == UNION_NAME:
        return True
    if cs.type in (CType.ARRAY, CType.MAP):
        return _needs_datum(cs.value)  # type: ignore[arg-type]
    return any(_needs_datum(f.schema) for f in cs.fields)


def _datum(cs: CSchema, v: Any) -> Any:
    """A Connect value as fastavro writes it (decimals at the schema's scale)."""
    if v is None:
        return None
    t = cs.type
    if t is CType.BYTES and cs.is_decimal:
        return _java.rescale(v if isinstance(v, Decimal) else Decimal(str(v)), cs.scale)
    if t is CType.ARRAY:
        return [_datum(cs.value, x) for x in v]  # type: ignore[arg-type]
    if t is CType.MAP:
        return {k: _datum(cs.value, x) for k, x in v.items()}  # type: ignore[arg-type]
    if t is CType.STRUCT:
        if cs.name == UNION_NAME:
            return next((_datum(f.schema, v[f.name]) for f in cs.fields if v.get(f.name) is not None), None)
        return {f.name: _datum(f.schema, v.get(f.name)) for f in cs.fields}
    return v


def _from_datum(cs: CSchema, v: Any) -> Any:
    if v is None:
        return None
    t = cs.type
    if t is CType.ARRAY:
        return [_from_datum(cs.value, x) for x in v]  # type: ignore[arg-type]
    if t is CType.MAP:
        return {k: _from_datum(cs.value, x) for k, x in v.items()}  # type: ignore[arg-type]
    if t is CType.STRUCT:
        if cs.name == UNION_NAME:
            return _union_value(cs, v)
        return {f.name: _from_datum(f.schema, v.get(f.name)) for f in cs.fields}
    if t is CType.STRING and not isinstance(v, str):
        return str(v)  # uuid logical type
    return v


_PY_TYPES: dict[CType, tuple[type, ...]] = {
    CType.BOOLEAN: (bool,), CType.INT32: (int,), CType.INT64: (int,), CType.FLOAT32: (float,),
    CType.FLOAT64: (float,), CType.STRING: (str,), CType.BYTES: (bytes, Decimal), CType.ARRAY: (list,),
    CType.MAP: (dict,), CType.STRUCT: (dict,),
}


def _union_value(cs: CSchema, v: Any) -> dict[str, Any]:
    out: dict[str, Any] = {f.name: None for f in cs.fields}
    for f in cs.fields:
        types = _PY_TYPES.get(f.schema.type, ())
        if isinstance(v, types) and not (isinstance(v, bool) and bool not in types):
            out[f.name] = _from_datum(f.schema, v)
            break
    return out


# -- format -----------------------------------------------------------------------------------------


class AvroFormat(SchemaRegistryFormat):
    name: ClassVar[str] = "AVRO"
    schema_type: ClassVar[str] = AVRO
    features = frozenset({SerdeFeature.WRAP_SINGLES, SerdeFeature.UNWRAP_SINGLES})

    def _check_columns(self, columns: Sequence[Column], *, is_key: bool) -> None:
        if any(has_non_string_map_key(t) for _, t in columns):
            raise KsqlException("Avro only supports MAPs with STRING keys")
        super()._check_columns(columns, is_key=is_key)

    def physical_for(self, cs: CSchema, *, is_key: bool) -> AvroSchema:
        return AvroSchema(connect_to_avro(cs, self.full_schema_name() or DEFAULT_VALUE_NAME))

    def parse(self, registered: RegisteredSchema) -> AvroSchema:
        try:
            schema = json.loads(registered.schema)
        except ValueError as e:
            raise KsqlException(f"Invalid Avro schema: {e}") from e
        return AvroSchema(schema, registered.schema)
