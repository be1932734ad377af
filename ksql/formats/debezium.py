"""DEBEZIUM: reads Debezium change events (JSON converter) natively.

Debezium writes one record per row change. Its value is an envelope ``{"before", "after", "op",
"source", "ts_ms"}``, or just the row when the ``ExtractNewRecordState`` transform flattened it; with
``schemas.enable=true`` either is wrapped as ``{"schema": ..., "payload": ...}``. Its key is a JSON
object of the primary-key columns, e.g. ``{"id": 1}``.

What a source sees depends on the columns it declares:

* **Row columns** (the table's own columns, e.g. ``id INT PRIMARY KEY, name STRING``): creates, snapshot
  reads and updates give the new row (``after``); deletes (``op: "d"``, a flattened record with
  ``__deleted: "true"`` or ``__op: "d"``) and Kafka tombstones give a null value, so a TABLE drops the
  row and every aggregate over it retracts the old values.
* **Envelope columns** (the source declares a column named ``BEFORE`` or ``AFTER``): every event is a
  row of its envelope fields, so a STREAM can select ``before->score``, ``after->score`` and ``op``.

Connect logical types are honoured when the schema travels with the payload (``MicroTimestamp``,
``NanoTimestamp``, ``ZonedTimestamp``, ``Decimal`` bytes, ``MicroTime``). Without a schema a DECIMAL
column also accepts Debezium's base64 bytes (scaled by the declared scale), and a TIMESTAMP column an
ISO-8601 text; integer timestamps are taken as milliseconds (``time.precision.mode=connect``).

Writing produces Kafka Connect JSON (``{"schema", "payload"}``, keys as structs of the key columns), so
that Connect sink connectors (e.g. Debezium's JDBC sink with ``schemas.enable=true``) can write a table's
changes into a database; this format reads it back. A query over a DEBEZIUM source writes plain JSON
unless its sink names a format.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

from ksql.errors import SerializationError
from ksql.formats import json as _json
from ksql.formats.base import Column, Format, Serde, Values
from ksql.sqltypes import BaseType, SqlType

ENVELOPE_COLUMNS = frozenset({"BEFORE", "AFTER"})
_ROW_OPS = frozenset({"c", "r", "u"})


def unwrap_connect(node: Any) -> tuple[Any, dict[str, Any] | None]:
    """``{"schema": s, "payload": p}`` -> ``(p, s)``; anything else passes through without a schema."""
    if type(node) is dict and len(node) == 2 and "payload" in node and "schema" in node:
        schema = node["schema"]
        return node["payload"], schema if type(schema) is dict else None
    return node, None


def is_envelope(node: Any) -> bool:
    return type(node) is dict and "op" in node and ("after" in node or "before" in node)


def _decimal_from_bytes(text: str, scale: int) -> Decimal:
    unscaled = int.from_bytes(base64.b64decode(text, validate=True), "big", signed=True)
    return Decimal(unscaled).scaleb(-scale)


def _iso_millis(text: str) -> int:
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:  # a zone-less text is UTC, as Debezium writes timestamps
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def apply_logical_types(value: Any, schema: dict[str, Any] | None) -> Any:
    """Convert Connect/Debezium logical-type values into what our JSON readers take."""
    if schema is None or value is None:
        return value
    name = schema.get("name")
    if name:
        if name == "org.apache.kafka.connect.data.Decimal" and type(value) is str:
            scale = int((schema.get("parameters") or {}).get("scale", 0))
            return _decimal_from_bytes(value, scale)
        if name in ("io.debezium.time.MicroTimestamp", "io.debezium.time.MicroTime") and type(value) is int:
            return value // 1000
        if name in ("io.debezium.time.NanoTimestamp", "io.debezium.time.NanoTime") and type(value) is int:
            return value // 1_000_000
        if name == "io.debezium.time.ZonedTimestamp" and type(value) is str:
            return _iso_millis(value)
    if schema.get("type") == "struct" and type(value) is dict:
        fields = {f.get("field"): f for f in schema.get("fields") or () if type(f) is dict}
        return {k: apply_logical_types(v, fields.get(k)) for k, v in value.items()}
    if schema.get("type") == "array" and type(value) is list:
        return [apply_logical_types(v, schema.get("items")) for v in value]
    return value


def _lenient_reader(t: SqlType) -> Callable[[Any], Any]:
    """The JSON reader, also taking Debezium's schema-less encodings of DECIMAL and TIMESTAMP."""
    read = _json.reader(t)
    if t.base is BaseType.DECIMAL:
        scale = t.scale or 0

        def read_decimal(v: Any) -> Any:
            if type(v) is str:
                try:
                    Decimal(v)
                except ArithmeticError:
                    try:
                        v = _decimal_from_bytes(v, scale)
                    except ValueError:
                        pass  # neither a number nor base64: the JSON reader words the error
            return read(v)

        return read_decimal
    if t.base is BaseType.TIMESTAMP:

        def read_timestamp(v: Any) -> Any:
            if type(v) is str and not v.lstrip("-").isdigit():
                try:
                    v = _iso_millis(v)
                except ValueError:
                    pass
            return read(v)

        return read_timestamp
    return read


_CONNECT_TYPES = {
    BaseType.BOOLEAN: ("boolean", None), BaseType.INTEGER: ("int32", None), BaseType.BIGINT: ("int64", None),
    BaseType.DOUBLE: ("double", None), BaseType.STRING: ("string", None), BaseType.BYTES: ("bytes", None),
    BaseType.TIMESTAMP: ("int64", "org.apache.kafka.connect.data.Timestamp"),
    BaseType.DATE: ("int32", "org.apache.kafka.connect.data.Date"),
    BaseType.TIME: ("int32", "org.apache.kafka.connect.data.Time"),
}


def connect_schema(t: SqlType, optional: bool = True) -> dict[str, Any]:
    """The Kafka Connect JSON schema of a SQL type (what JsonConverter expects with schemas on)."""
    b = t.base
    out: dict[str, Any]
    if b in _CONNECT_TYPES:
        kind, name = _CONNECT_TYPES[b]
        out = {"type": kind}
        if name:
            out["name"] = name
    elif b is BaseType.DECIMAL:
        # Connect's Decimal; the payload is a JSON number, which JsonConverter reads (KIP-481), as do we
        out = {"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal",
               "parameters": {"scale": str(t.scale or 0), "connect.decimal.precision": str(t.precision or 0)}}
    elif b is BaseType.ARRAY:
        out = {"type": "array", "items": connect_schema(t.element)}  # type: ignore[arg-type]
    elif b is BaseType.MAP:
        out = {"type": "map", "keys": connect_schema(t.key, False),  # type: ignore[arg-type]
               "values": connect_schema(t.element)}  # type: ignore[arg-type]
    else:
        out = connect_schema_of_row(t.fields)
    out["optional"] = optional
    return out


def connect_schema_of_row(columns: Sequence[Column], optional: bool = True) -> dict[str, Any]:
    fields = [{**connect_schema(ct, optional), "field": name} for name, ct in columns]
    return {"type": "struct", "fields": fields, "optional": optional}


class _FieldsReader:
    """A JSON object -> column values, names matched exactly, then case-insensitively."""

    def __init__(self, columns: Sequence[Column]) -> None:
        self.plan = [(name, name.upper(), _lenient_reader(t)) for name, t in columns]

    def __call__(self, obj: dict[str, Any]) -> list[Any]:
        upper: dict[str, Any] | None = None
        out = []
        for name, uname, read in self.plan:
            if name in obj:
                node = obj[name]
            else:
                if upper is None:
                    upper = {k.upper(): x for k, x in obj.items()}
                node = upper.get(uname)
            try:
                out.append(read(node))
            except _json._CoercionError as err:
                err.path = f".{name}{err.path}"
                raise
        return out


class DebeziumSerde(Serde):
    def __init__(self, columns: Sequence[Column], *, is_key: bool, topic: str = "") -> None:
        super().__init__(columns, is_key=is_key, topic=topic)
        self._fields = _FieldsReader(self.columns)
        self._envelope = not is_key and any(n.upper() in ENVELOPE_COLUMNS for n, _ in self.columns)
        # writing: Connect JSON, the schema computed once, the payload as a JSON object of the columns
        self._writer = _json.JsonSerde(columns, is_key=is_key, unwrapped=False, topic=topic)
        schema = connect_schema_of_row(self.columns, optional=not is_key)
        self._prefix = b'{"schema":' + _json.dumps(schema).encode() + b',"payload":'

    def serialize(self, values: Sequence[Any] | None) -> bytes | None:
        payload = self._writer.serialize(values)
        return None if payload is None else self._prefix + payload + b"}"

    def deserialize(self, data: bytes | None) -> Values | None:
        if data is None:
            return None
        try:
            node, schema = unwrap_connect(_json.loads(data))
            node = apply_logical_types(node, schema)
            if node is None:
                return None
            if self.is_key:
                return self._key(node)
            return self._value(node)
        except _json._CoercionError as e:
            raise SerializationError(
                f"Failed to deserialize {self.target} from topic: {self.topic}. {e.message}, path: ${e.path}"
            ) from None
        except (_json.JsonParseError, ValueError) as e:
            raise SerializationError(f"Failed to deserialize {self.target} from topic: {self.topic}. {e}") from None

    def _key(self, node: Any) -> Values:
        if type(node) is dict and not (len(self.columns) == 1 and self.columns[0][1].base is BaseType.STRUCT):
            return self._fields(node)
        if len(self.columns) != 1:
            raise _json._CoercionError(f"Can't convert type. sourceType: {_json.node_name(node)}, "
                                       f"requiredType: STRUCT")
        return [self._fields.plan[0][2](node)]

    def _value(self, node: Any) -> Values | None:
        if type(node) is not dict:
            raise _json._CoercionError(f"Can't convert type. sourceType: {_json.node_name(node)}, "
                                       "requiredType: a Debezium change event")
        if self._envelope:
            return self._fields(node)
        if is_envelope(node):
            op = node.get("op")
            if op == "d":
                return None  # the row is gone
            if op not in _ROW_OPS or node.get("after") is None:
                raise _json._CoercionError(f"Change event with op '{op}' carries no row")
            node = node["after"]
            if type(node) is not dict:
                raise _json._CoercionError("The 'after' field of a change event is not an object")
            return self._fields(node)
        # flattened by ExtractNewRecordState (delete.handling.mode=rewrite / add.fields=op)
        deleted = node.get("__deleted")
        if deleted is True or (type(deleted) is str and deleted.lower() == "true") or node.get("__op") == "d":
            return None
        return self._fields(node)


class DebeziumFormat(Format):
    name: ClassVar[str] = "DEBEZIUM"
    serializes_empty = True

    def _unwrapped(self, n_columns: int, *, is_key: bool, wrap_single: bool | None) -> bool:
        return False  # objects are matched by field name; a bare single key is accepted too

    def _make_serde(self, columns: Sequence[Column], *, is_key: bool, unwrapped: bool, topic: str) -> Serde:
        return DebeziumSerde(columns, is_key=is_key, topic=topic)
