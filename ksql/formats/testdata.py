"""Records of ksqlDB's test files (QTT) to and from Kafka bytes.

The test files write a record's key and value in a JSON form that depends on the format: JSON keys
and values as the JSON document itself; DELIMITED keys and values as the CSV text; KAFKA keys and
values as the single primitive (numbers, strings, BYTES as base64 text); windowed keys as the inner
key plus a ``window`` object ``{"start": ms, "end": ms, "type": "time" | "session"}``. AVRO, PROTOBUF
and JSON_SR records are written as ksqlDB's test driver writes them: the JSON value is read against
the subject's latest registered schema (else the columns' schema) and serialized with its id.

Encoding does not validate against the schema (tests feed deliberately bad records); where a value
cannot take the column's wire form it is written as its text. Decoding returns the test form so the
runner can compare it with the expected record; JSON floating-point numbers decode as exact
``Decimal`` values.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from ksql.errors import KsqlException
from ksql.formats import _java
from ksql.formats.base import Column, Format
from ksql.formats.connect import CType, connect_to_spec, spec_to_connect
from ksql.formats.json import MISSING, JsonFormat, JsonParseError, dumps, loads
from ksql.formats.json_schema import JsonSchemaFormat
from ksql.formats.kafka import CODECS, KafkaFormat
from ksql.formats.registry import get_format
from ksql.formats.sr import PhysicalSchema, SchemaRegistryFormat, split_header, wire_header
from ksql.formats.windowed import deserialize_windowed, serialize_windowed
from ksql.sqltypes import BaseType, SqlType

FormatLike = str | Format
Window = dict[str, Any]  # {"start": ms, "end": ms, "type": "time" | "session"}


def _resolve(fmt: FormatLike, properties: Mapping[str, str] | None) -> Format:
    if isinstance(fmt, SchemaRegistryFormat):
        return type(fmt)({**fmt.properties, **properties}, registry=fmt.registry) if properties else fmt
    if isinstance(fmt, Format):
        return type(fmt)({**fmt.properties, **properties}) if properties else fmt
    return get_format(fmt, properties)


def _text(value: Any) -> str:
    """A non-string test value written where text is expected."""
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) is float:
        return _java.double_str(value)
    if type(value) is Decimal:
        return _java.decimal_plain(value)
    if type(value) is int:
        return str(value)
    return dumps(value)


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


# -- values (and non-windowed keys) -------------------------------------------------------------


def encode_test_value(
    json_value: Any,
    columns: Sequence[Column],
    fmt: FormatLike,
    *,
    is_key: bool = False,
    properties: Mapping[str, str] | None = None,
    topic: str | None = None,
    wrap_single: bool | None = None,
) -> bytes | None:
    """Bytes of a test record's ``value`` (or, with ``is_key``, non-windowed ``key``). Schema
    registry formats need ``fmt`` as a format instance holding the registry, and ``topic``;
    ``wrap_single`` is the source's WRAP_SINGLE_VALUE."""
    if json_value is None:
        return None
    f = _resolve(fmt, properties)
    if isinstance(f, SchemaRegistryFormat):
        return _registry_bytes(json_value, columns, f, is_key, topic, wrap_single)
    if isinstance(f, JsonFormat):
        return _utf8(dumps(json_value))
    if isinstance(f, KafkaFormat):
        return _kafka_bytes(json_value, columns)
    if type(json_value) is str:  # DELIMITED text, or a key that a keyless source ignores
        return _utf8(json_value)
    return _utf8(_text(json_value))


def _kafka_bytes(value: Any, columns: Sequence[Column]) -> bytes:
    if len(columns) == 1 and columns[0][1].base in CODECS:
        t = columns[0][1]
        try:
            return CODECS[t.base][0](_kafka_value(value, t))
        except (ValueError, TypeError, OverflowError, ArithmeticError, struct.error):
            pass  # not of the column's type: a deliberately bad record
    return _utf8(value if type(value) is str else _text(value))


def _kafka_value(value: Any, t: SqlType) -> Any:
    b, tv = t.base, type(value)
    if b in (BaseType.INTEGER, BaseType.BIGINT):
        if tv is bool:
            raise TypeError("boolean")
        if tv is str:
            return _java.parse_int(value, 32 if b is BaseType.INTEGER else 64)
        if tv in (float, Decimal) and value == int(value):
            return int(value)
        if tv is int:
            return value
        raise TypeError(tv.__name__)
    if b is BaseType.DOUBLE:
        if tv is str:
            return _java.parse_double(value)
        if tv in (int, float, Decimal):
            return float(value)
        raise TypeError(tv.__name__)
    if b is BaseType.STRING:
        return value if tv is str else _text(value)
    if b is BaseType.BYTES:
        if tv is str:
            return _java.b64decode(value)
        raise TypeError(tv.__name__)
    raise TypeError(str(t))


def _columns_physical(f: SchemaRegistryFormat, columns: Sequence[Column], is_key: bool,
                      wrap_single: bool | None) -> PhysicalSchema:
    unwrapped = f.unwrapped_for(len(columns), is_key=is_key, wrap_single=None if is_key else wrap_single)
    return f.physical_for_columns(columns, is_key=is_key, unwrapped=unwrapped)


def _registry_bytes(value: Any, columns: Sequence[Column], f: SchemaRegistryFormat, is_key: bool,
                    topic: str | None, wrap_single: bool | None) -> bytes:
    from ksql.schemaregistry.client import subject_name

    if not f.needs_registry:  # PROTOBUF_NOSR: the columns' message, no header
        physical = _columns_physical(f, columns, is_key, wrap_single)
        return physical.encode(_connect_value(value, physical, is_key))
    assert f.registry is not None
    subject = subject_name(topic or "", is_key)
    latest = f.registry.latest(subject)
    if latest is not None:
        schema_id, physical = latest.id, f.physical_by_id(latest.id)
    else:
        physical = _columns_physical(f, columns, is_key, wrap_single)
        schema_id = f.registry.register(subject, physical.registered)
    payload = physical.encode(_connect_value(value, physical, is_key))
    return wire_header(schema_id) + physical.prefix() + payload


def _connect_value(value: Any, physical: PhysicalSchema, is_key: bool) -> Any:
    try:
        return spec_to_connect(value, physical.connect)
    except (AttributeError, TypeError, ValueError) as e:  # the test value does not fit the schema
        raise KsqlException(f"Failed to serialize {'key' if is_key else 'value'}: {value!r} does not fit "
                            f"schema {physical.registered.schema}: {e}") from e


def _registry_json(data: bytes, columns: Sequence[Column], f: SchemaRegistryFormat, is_key: bool,
                   wrap_single: bool | None) -> Any:
    if not f.needs_registry:
        physical = _columns_physical(f, columns, is_key, wrap_single)
        value = physical.decode(data)
    else:
        schema_id, payload = split_header(data)
        physical = f.physical_by_id(schema_id)
        value = physical.decode(payload)
    if isinstance(f, JsonSchemaFormat):
        return None if value is MISSING else value
    spec = connect_to_spec(value, physical.connect)
    if physical.connect.type is CType.STRUCT and isinstance(spec, dict):
        # ksqlDB's test driver shows empty top-level BYTES fields as null
        spec = {k: None if v == "" and _is_bytes(physical, k) else v for k, v in spec.items()}
    return spec


def _is_bytes(physical: PhysicalSchema, name: str) -> bool:
    field = physical.connect.field_named(name)
    return field is not None and field.schema.type is CType.BYTES and not field.schema.is_decimal


def decode_to_test_json(
    data: bytes | None,
    columns: Sequence[Column],
    fmt: FormatLike,
    *,
    is_key: bool = False,
    properties: Mapping[str, str] | None = None,
    wrap_single: bool | None = None,
) -> Any:
    """The test-file form of a record's ``value`` bytes (or, with ``is_key``, non-windowed key)."""
    if data is None:
        return None
    f = _resolve(fmt, properties)
    if isinstance(f, SchemaRegistryFormat):
        try:
            return _registry_json(data, columns, f, is_key, wrap_single)
        except Exception:  # not in the format: show what was written
            return data.decode("utf-8", "replace")
    if isinstance(f, JsonFormat):
        try:
            value = loads(data)
        except JsonParseError:
            return data.decode("utf-8", "replace")
        return None if value is MISSING else value
    if isinstance(f, KafkaFormat) and len(columns) == 1 and columns[0][1].base in CODECS:
        t = columns[0][1]
        try:
            value = CODECS[t.base][1](data)
        except Exception:  # wrong width: show what was written
            return data.decode("utf-8", "replace")
        return _java.b64encode(value) if t.base is BaseType.BYTES else value
    return data.decode("utf-8", "replace")


# -- keys, windowed or not -------------------------------------------------------------------------


def _is_session(window_type: str) -> bool:
    return window_type.upper() == "SESSION"


def encode_test_key(
    json_key: Any,
    columns: Sequence[Column],
    fmt: FormatLike,
    *,
    properties: Mapping[str, str] | None = None,
    window: Window | None = None,
    topic: str | None = None,
) -> bytes | None:
    """Bytes of a test record's ``key``; with ``window`` (the record's ``window`` object) the
    windowed layout around the inner key."""
    inner = encode_test_value(json_key, columns, fmt, is_key=True, properties=properties, topic=topic)
    if window is None:
        return inner
    return serialize_windowed(
        inner, int(window["start"]), int(window["end"]), session=_is_session(str(window.get("type", "time")))
    )


def decode_test_key(
    data: bytes | None,
    columns: Sequence[Column],
    fmt: FormatLike,
    *,
    properties: Mapping[str, str] | None = None,
    window_type: str | None = None,
    window_size: int | None = None,
) -> tuple[Any, Window | None]:
    """``(key, window)`` in test-file form. ``window_type`` is the source's (``TUMBLING``,
    ``HOPPING``, ``SESSION``; ``None`` if not windowed); time windows need ``window_size`` (ms)."""
    if window_type is None or data is None:
        return decode_to_test_json(data, columns, fmt, is_key=True, properties=properties), None
    session = _is_session(window_type)
    inner, start, end = deserialize_windowed(data, session, window_size)
    key = decode_to_test_json(inner or None, columns, fmt, is_key=True, properties=properties)
    return key, {"start": start, "end": end, "type": "session" if session else "time"}


__all__ = [
    "decode_test_key",
    "decode_to_test_json",
    "encode_test_key",
    "encode_test_value",
]
