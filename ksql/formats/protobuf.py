"""PROTOBUF (schemas in the registry) and PROTOBUF_NOSR (schema from the columns, no header).

Translation follows Confluent's Protobuf converter as ksqlDB configures it: messages are structs,
``repeated`` fields arrays, ``map<K, V>`` maps, enums strings, unsigned 32-bit and all 64-bit
integers BIGINT, ``google.protobuf.Timestamp`` / ``google.type.Date`` / ``google.type.TimeOfDay`` /
``confluent.type.Decimal`` the SQL TIMESTAMP / DATE / TIME / DECIMAL, wrapper messages nullable
primitives. Unset scalar fields read as their defaults (0, "", false), unset messages as NULL; NULL
primitives are written as unset unless the ``nullableRepresentation`` property (WITH
``VALUE_PROTOBUF_NULLABLE_REPRESENTATION``) asks for ``optional`` fields or wrapper messages.

Schemas generated from columns are named ``ConnectDefault1`` (nested structs ``ConnectDefault2``,
...) unless ``fullSchemaName`` names the root message.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar

from ksql.errors import KsqlException, SerializationError
from ksql.formats.base import Column, Serde, SerdeFeature, Values, has_non_string_map_key
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
from ksql.formats.protobuf_schema import (
    LEN,
    ProtoField,
    ProtoMessage,
    ProtoSchema,
    ProtoSchemaError,
    decode_scalar,
    encode_scalar,
    read_fields,
    read_message_indexes,
    wire_type,
    write_message_indexes,
    write_tag,
)
from ksql.formats.sr import FULL_SCHEMA_NAME, SCHEMA_ID, PhysicalSchema, RegistrySerde, SchemaRegistryFormat
from ksql.schemaregistry.client import PROTOBUF, RegisteredSchema

NULLABLE_REPRESENTATION = "nullableRepresentation"
UNWRAP_PRIMITIVES = "unwrapPrimitives"
DEFAULT_NAME_PREFIX = "ConnectDefault"

_TIMESTAMP_MSG = "google.protobuf.Timestamp"
_DATE_MSG = "google.type.Date"
_TIME_MSG = "google.type.TimeOfDay"
_DECIMAL_MSG = "confluent.type.Decimal"
_WRAPPERS = {
    "google.protobuf.DoubleValue": "double", "google.protobuf.FloatValue": "float",
    "google.protobuf.Int64Value": "int64", "google.protobuf.UInt64Value": "uint64",
    "google.protobuf.Int32Value": "int32", "google.protobuf.UInt32Value": "uint32",
    "google.protobuf.BoolValue": "bool", "google.protobuf.StringValue": "string",
    "google.protobuf.BytesValue": "bytes",
}
_SCALAR_CONNECT = {
    "int32": CType.INT32, "sint32": CType.INT32, "sfixed32": CType.INT32,
    "int64": CType.INT64, "sint64": CType.INT64, "sfixed64": CType.INT64,
    "uint32": CType.INT64, "fixed32": CType.INT64, "uint64": CType.INT64, "fixed64": CType.INT64,
    "float": CType.FLOAT32, "double": CType.FLOAT64, "bool": CType.BOOLEAN, "string": CType.STRING,
    "bytes": CType.BYTES,
}
_DEFAULTS: dict[str, Any] = {"float": 0.0, "double": 0.0, "bool": False, "string": "", "bytes": b""}
_EPOCH = datetime.date(1970, 1, 1)


# -- .proto -> Connect ----------------------------------------------------------------------------


def message_to_connect(msg: ProtoMessage, optional: bool = False, _stack: tuple[str, ...] = ()) -> CSchema:
    if msg.full_name in _stack:
        raise KsqlException(f"Recursive protobuf message {msg.full_name} is not supported")
    stack = (*_stack, msg.full_name)
    cs = CSchema(CType.STRUCT, optional, msg.full_name)
    groups: dict[str, CField] = {}
    for f in msg.fields:
        fs = field_to_connect(f, stack)
        if f.oneof is not None and not _synthetic_oneof(f):
            group = groups.get(f.oneof)
            if group is None:
                group = CField(f"{f.oneof}_0", CSchema(CType.STRUCT, True, f.oneof))
                groups[f.oneof] = group
                cs.fields.append(group)
            fs.optional = True
            group.schema.fields.append(CField(f.name, fs))
            continue
        # an unset proto3 scalar reads as its default: a row without the field writes that
        default = NO_DEFAULT if fs.optional or f.repeated else _absent(f)
        cs.fields.append(CField(f.name, fs, default))
    return cs


def _synthetic_oneof(f: ProtoField) -> bool:
    # proto3 `optional` fields: no real oneof
    return f.label == "optional" and f.oneof is None


def field_to_connect(f: ProtoField, stack: tuple[str, ...] = ()) -> CSchema:
    if f.is_map:
        key = _value_schema(ProtoField("key", 1, f.key_type or "string"), stack)
        value = _value_schema(ProtoField("value", 2, f.type, None, None, {}, None, f.message, f.enum), stack)
        return CSchema(CType.MAP, True, key=key, value=value)
    elem = _value_schema(f, stack)
    if f.repeated:
        elem.optional = False
        return CSchema(CType.ARRAY, True, value=elem)
    if f.label == "optional" and f.message is None:
        elem.optional = True
    return elem


def _value_schema(f: ProtoField, stack: tuple[str, ...]) -> CSchema:
    if f.enum is not None:
        return CSchema(CType.STRING, False)
    if f.message is not None:
        name = f.message.full_name
        if name == _TIMESTAMP_MSG:
            return CSchema(CType.INT64, True, TIMESTAMP)
        if name == _DATE_MSG:
            return CSchema(CType.INT32, True, DATE)
        if name == _TIME_MSG:
            return CSchema(CType.INT32, True, TIME)
        if name == _DECIMAL_MSG:
            params = _field_meta(f)
            return CSchema(CType.BYTES, True, DECIMAL, {
                "scale": params.get("scale", "0"), PRECISION_PARAM: params.get("precision", "64")})
        if name in _WRAPPERS:
            return CSchema(_SCALAR_CONNECT[_WRAPPERS[name]], True)
        return message_to_connect(f.message, True, stack)
    return CSchema(_SCALAR_CONNECT[f.type], False)


def _field_meta(f: ProtoField) -> dict[str, str]:
    meta = f.options.get("(confluent.field_meta)") or {}
    out: dict[str, str] = {}
    params = meta.get("params") if isinstance(meta, dict) else None
    if isinstance(params, dict):
        params = [params]
    for p in params or []:
        if isinstance(p, dict) and "key" in p:
            out[str(p["key"])] = str(p.get("value", ""))
    return out


# -- payloads <-> Connect values ------------------------------------------------------------------


def _entry_fields(f: ProtoField) -> tuple[ProtoField, ProtoField]:
    return (ProtoField("key", 1, f.key_type or "string"),
            ProtoField("value", 2, f.type, None, None, {}, None, f.message, f.enum))


def decode_message(msg: ProtoMessage, data: bytes | memoryview) -> dict[str, Any]:
    raw = read_fields(data, msg)
    out: dict[str, Any] = {}
    for f in msg.fields:
        values = raw.get(f.number)
        v: Any
        if f.is_map:
            key_f, value_f = _entry_fields(f)
            entry = ProtoMessage("Entry", "Entry", [key_f, value_f])
            v = {}
            for blob in values or []:
                kv = read_fields(blob, entry)
                v[_single(key_f, kv.get(1))] = _single(value_f, kv.get(2))
        elif f.repeated:
            v = [_convert(f, x) for x in values or []]
        elif values:
            v = _convert(f, values[-1])
        else:
            v = _absent(f)
        if f.oneof is not None and not _synthetic_oneof(f):
            # a oneof reads as a struct of its members; unset members (and an unset oneof) are NULL
            group = out.get(f"{f.oneof}_0")
            if values:
                group = group or {}
                group[f.name] = v
            out[f"{f.oneof}_0"] = group
            continue
        out[f.name] = v
    return out


def _single(f: ProtoField, values: list[Any] | None) -> Any:
    return _convert(f, values[-1]) if values else _absent(f)


def _absent(f: ProtoField) -> Any:
    """What an unset field reads as: NULL for messages and proto3 `optional` fields, else its default."""
    if f.message is not None or f.label == "optional":
        return None
    if f.enum is not None:
        return next(iter(f.enum.values), "")
    return _DEFAULTS.get(f.type, 0)


def _convert(f: ProtoField, raw: Any) -> Any:
    if f.enum is not None:
        return f.enum.name_of(decode_scalar("enum", raw))
    if f.message is None:
        return decode_scalar(f.type, raw)
    sub = decode_message(f.message, raw)
    name = f.message.full_name
    if name == _TIMESTAMP_MSG:
        return int(sub["seconds"]) * 1000 + int(sub["nanos"]) // 1_000_000
    if name == _DATE_MSG:
        return (datetime.date(sub["year"], sub["month"], sub["day"]) - _EPOCH).days
    if name == _TIME_MSG:
        return ((sub["hours"] * 60 + sub["minutes"]) * 60 + sub["seconds"]) * 1000 + sub["nanos"] // 1_000_000
    if name == _DECIMAL_MSG:
        unscaled = int.from_bytes(sub["value"], "big", signed=True) if sub["value"] else 0
        return Decimal(unscaled).scaleb(-int(sub["scale"]))
    if name in _WRAPPERS:
        return sub["value"]
    return sub


def encode_message(msg: ProtoMessage, value: dict[str, Any]) -> bytes:
    out = bytearray()
    for f in msg.fields:
        if f.oneof is not None and not _synthetic_oneof(f):
            group = value.get(f"{f.oneof}_0")
            v = group.get(f.name) if isinstance(group, dict) else value.get(f.name)
        else:
            v = value.get(f.name)
        if v is None:
            continue
        _encode_field(out, f, v)
    return bytes(out)


def _encode_field(out: bytearray, f: ProtoField, v: Any) -> None:
    if f.is_map:
        key_f, value_f = _entry_fields(f)
        for k, x in v.items():
            entry = bytearray()
            _encode_field(entry, key_f, k)
            if x is not None:
                _encode_field(entry, value_f, x)
            write_tag(out, f.number, LEN)
            encode_scalar(out, "bytes", entry)
        return
    if f.repeated:
        wt = wire_type(f)
        if wt != LEN:  # packed
            body = bytearray()
            for x in v:
                if x is None:
                    raise SerializationError(f"Array element of field {f.name} cannot be null in protobuf")
                encode_scalar(body, _scalar_name(f), _scalar_value(f, x))
            write_tag(out, f.number, LEN)
            encode_scalar(out, "bytes", body)
            return
        for x in v:
            if x is None:
                raise SerializationError(f"Array element of field {f.name} cannot be null in protobuf")
            _encode_one(out, f, x)
        return
    _encode_one(out, f, v)


def _scalar_name(f: ProtoField) -> str:
    return "enum" if f.enum is not None else f.type


def _scalar_value(f: ProtoField, v: Any) -> Any:
    if f.enum is not None:
        if isinstance(v, str):
            if v not in f.enum.values:
                raise SerializationError(f"Unknown enum value {v} for field {f.name}")
            return f.enum.values[v]
        return int(v)
    return v


def _encode_one(out: bytearray, f: ProtoField, v: Any) -> None:
    if f.message is None:
        write_tag(out, f.number, wire_type(f))
        encode_scalar(out, _scalar_name(f), _scalar_value(f, v))
        return
    name = f.message.full_name
    sub: dict[str, Any]
    if name == _TIMESTAMP_MSG:
        seconds, millis = divmod(int(v), 1000)
        sub = {"seconds": seconds, "nanos": millis * 1_000_000}
    elif name == _DATE_MSG:
        day = _EPOCH + datetime.timedelta(days=int(v))
        sub = {"year": day.year, "month": day.month, "day": day.day}
    elif name == _TIME_MSG:
        ms = int(v)
        sub = {"hours": ms // 3_600_000, "minutes": ms // 60_000 % 60, "seconds": ms // 1000 % 60,
               "nanos": ms % 1000 * 1_000_000}
    elif name == _DECIMAL_MSG:
        d = v if isinstance(v, Decimal) else Decimal(str(v))
        sign, digits, exp = d.as_tuple()
        unscaled = int("".join(map(str, digits)) or "0") * (-1 if sign else 1)
        scale = -int(exp)
        size = max(1, (unscaled.bit_length() + 8) // 8)
        sub = {"value": unscaled.to_bytes(size, "big", signed=True), "precision": len(digits), "scale": scale}
    elif name in _WRAPPERS:
        sub = {"value": v}
    else:
        sub = v
    write_tag(out, f.number, LEN)
    encode_scalar(out, "bytes", encode_message(f.message, sub))


# -- Connect -> .proto ------------------------------------------------------------------------------

_PROTO_SCALAR = {CType.INT8: "int32", CType.INT16: "int32", CType.INT32: "int32", CType.INT64: "int64",
                 CType.FLOAT32: "float", CType.FLOAT64: "double", CType.BOOLEAN: "bool",
                 CType.STRING: "string", CType.BYTES: "bytes"}
_WRAPPER_OF = {"double": "DoubleValue", "float": "FloatValue", "int64": "Int64Value", "int32": "Int32Value",
               "bool": "BoolValue", "string": "StringValue", "bytes": "BytesValue"}


class _Writer:
    def __init__(self, nullable: str | None) -> None:
        self.nullable = (nullable or "").lower()
        self.counter = 0
        self.imports: set[str] = set()

    def name(self, cs: CSchema) -> str:
        self.counter += 1
        if cs.name and not cs.name.startswith(DEFAULT_NAME_PREFIX):
            return cs.name.rpartition(".")[2]
        return f"{DEFAULT_NAME_PREFIX}{self.counter}"

    def message(self, cs: CSchema, name: str, indent: str) -> list[str]:
        lines = [f"{indent}message {name} {{"]
        nested: list[list[str]] = []
        for number, f in enumerate(cs.fields, start=1):
            decl = self.field(f, number, indent + "  ", nested)
            lines.append(f"{indent}  {decl};")
        if nested:
            lines.append("")
        for block in nested:
            lines.extend(block)
        lines.append(f"{indent}}}")
        return lines

    def field(self, f: CField, number: int, indent: str, nested: list[list[str]]) -> str:
        cs = f.schema
        if cs.type is CType.ARRAY:
            elem = cs.value
            assert elem is not None
            if elem.type in (CType.ARRAY, CType.MAP):
                raise KsqlException("PROTOBUF format does not support nested arrays and maps in arrays")
            return f"repeated {self.type_of(elem, indent, nested, in_container=True)} {f.name} = {number}"
        if cs.type is CType.MAP:
            assert cs.key is not None and cs.value is not None
            if cs.key.type is not CType.STRING:
                raise KsqlException("PROTOBUF format only supports MAP types with STRING keys")
            if cs.value.type in (CType.ARRAY, CType.MAP):
                raise KsqlException("PROTOBUF format does not support nested arrays and maps in maps")
            value_type = self.type_of(cs.value, indent, nested, in_container=True)
            return f"map<string, {value_type}> {f.name} = {number}"
        type_name = self.type_of(cs, indent, nested)
        label = "optional " if self.nullable == "optional" and type_name in _WRAPPER_OF else ""
        if self.nullable == "wrapper" and type_name in _WRAPPER_OF:
            self.imports.add("google/protobuf/wrappers.proto")
            type_name = f"google.protobuf.{_WRAPPER_OF[type_name]}"
        decl = f"{label}{type_name} {f.name} = {number}"
        if cs.is_decimal:
            decl += (f' [(confluent.field_meta) = {{ params: [ {{ key: "precision", value: "{cs.precision}" }}, '
                     f'{{ key: "scale", value: "{cs.scale}" }} ] }}]')
        return decl

    def type_of(self, cs: CSchema, indent: str, nested: list[list[str]], in_container: bool = False) -> str:
        if cs.name == TIMESTAMP:
            self.imports.add("google/protobuf/timestamp.proto")
            return _TIMESTAMP_MSG
        if cs.name == DATE:
            self.imports.add("google/type/date.proto")
            return _DATE_MSG
        if cs.name == TIME:
            self.imports.add("google/type/timeofday.proto")
            return _TIME_MSG
        if cs.is_decimal:
            self.imports.add("confluent/type/decimal.proto")
            if not in_container:
                self.imports.add("confluent/meta.proto")
            return _DECIMAL_MSG
        if cs.type is CType.STRUCT:
            name = self.name(cs)
            nested.append(self.message(cs, name, indent))
            return name
        return _PROTO_SCALAR[cs.type]


def connect_to_proto(cs: CSchema, full_name: str | None, nullable: str | None) -> str:
    """The proto3 schema text ksqlDB registers for a Connect schema (a struct)."""
    if cs.type is not CType.STRUCT:
        cs = CSchema(CType.STRUCT, False, fields=[CField("ROWVAL", cs)])
    w = _Writer(nullable)
    package = ""
    if full_name and not full_name.startswith(DEFAULT_NAME_PREFIX):
        package, _, root = full_name.rpartition(".")
    else:
        w.counter = 1
        root = f"{DEFAULT_NAME_PREFIX}1"
    body = w.message(cs, root, "")
    lines = ['syntax = "proto3";']
    if package:
        lines.append(f"package {package};")
    lines.append("")
    if w.imports:
        lines += [f'import "{i}";' for i in sorted(w.imports)] + [""]
    return "\n".join(lines + body) + "\n"


# -- formats ----------------------------------------------------------------------------------------


class ProtobufPhysical(PhysicalSchema):
    schema_type: ClassVar[str] = PROTOBUF

    def __init__(self, registered: RegisteredSchema, dependencies: dict[str, str] | None,
                 full_name: str | None, *, framed: bool = True) -> None:
        try:
            self.proto = ProtoSchema(registered.schema, dependencies)
            self.root, self.indexes = self.proto.message(full_name)
        except ProtoSchemaError:
            raise
        super().__init__(registered, message_to_connect(self.root), self.root.full_name)
        self.framed = framed

    def prefix(self) -> bytes:
        return write_message_indexes(self.indexes) if self.framed else b""

    def encode(self, value: Any) -> bytes:
        try:
            return encode_message(self.root, value)
        except (ValueError, TypeError, OverflowError, AttributeError) as e:
            raise SerializationError(str(e)) from e

    def decode(self, payload: bytes) -> Any:
        if not self.framed:
            return decode_message(self.root, payload)
        indexes, pos = read_message_indexes(payload)
        msg = self.root if indexes == self.indexes else self.proto.by_indexes(indexes)
        return decode_message(msg, memoryview(payload)[pos:])

    def definitions(self) -> list[str]:
        return list(self.proto.file.type_names)


class ProtobufFormat(SchemaRegistryFormat):
    name: ClassVar[str] = "PROTOBUF"
    schema_type: ClassVar[str] = PROTOBUF
    features = frozenset({SerdeFeature.WRAP_SINGLES})
    supported_properties = frozenset({FULL_SCHEMA_NAME, SCHEMA_ID, NULLABLE_REPRESENTATION, UNWRAP_PRIMITIVES})

    def _check_columns(self, columns: Sequence[Column], *, is_key: bool) -> None:
        if any(has_non_string_map_key(t) for _, t in columns):
            raise KsqlException("PROTOBUF format only supports MAP types with STRING keys")
        super()._check_columns(columns, is_key=is_key)

    def physical_for(self, cs: CSchema, *, is_key: bool) -> ProtobufPhysical:
        text = connect_to_proto(cs, self.full_schema_name(), self.properties.get(NULLABLE_REPRESENTATION))
        return ProtobufPhysical(RegisteredSchema(text, PROTOBUF), None, None, framed=self.framed)

    framed: ClassVar[bool] = True

    def parse(self, registered: RegisteredSchema) -> ProtobufPhysical:
        deps = self.registry.referenced_texts(registered) if self.registry is not None else {}
        return ProtobufPhysical(registered, deps, self.full_schema_name(), framed=self.framed)


class _NoSrSerde(RegistrySerde):
    """PROTOBUF_NOSR: the bare message, written and read with the columns' schema."""

    def serialize(self, values: Sequence[Any] | None) -> bytes | None:
        if values is None:
            return None
        self._check_count(values)
        try:
            return self.writer.encode(self.connect_value(values))
        except (KsqlException, ValueError, TypeError, KeyError, AttributeError, OverflowError) as e:
            raise SerializationError(f"Error serializing message to topic: {self.topic}. {e}") from e

    def deserialize(self, data: bytes | None) -> Values | None:
        if data is None:
            return None
        try:
            return self.to_columns(self.writer.connect, self.writer.decode(data))
        except (KsqlException, ValueError, TypeError, KeyError, IndexError, EOFError) as e:
            raise SerializationError(
                f"Failed to deserialize {self.target} from topic: {self.topic}. {e}") from e


class ProtobufNoSrFormat(ProtobufFormat):
    name: ClassVar[str] = "PROTOBUF_NOSR"
    needs_registry: ClassVar[bool] = False
    framed: ClassVar[bool] = False
    supported_properties = frozenset({NULLABLE_REPRESENTATION})

    def _make_serde(self, columns: Sequence[Column], *, is_key: bool, unwrapped: bool, topic: str) -> Serde:
        return _NoSrSerde(self, columns, is_key=is_key, unwrapped=unwrapped, topic=topic)
