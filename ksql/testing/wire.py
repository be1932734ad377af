"""Test-file records ↔ topic bytes.

Query-validation test files give records as they appear on the wire: a JSON value is the JSON
document itself, a DELIMITED value the text line, a KAFKA value the number or string the primitive
serializer writes. So inputs are encoded, and outputs decoded, per format and column type only.
"""

from __future__ import annotations

import base64
import json
import struct
from decimal import Decimal
from typing import Any

from ksql.catalog import DataSource
from ksql.sqltypes import BaseType, SqlType


def _dumps(v: Any) -> bytes:
    def default(o: Any) -> Any:
        if isinstance(o, Decimal):
            return _DecimalRaw(str(o))
        raise TypeError

    return _encode_json(v).encode()


class _DecimalRaw(str):
    pass


def _encode_json(v: Any) -> str:
    if isinstance(v, Decimal):
        return format(v, "f") if v == v.to_integral_value() and "E" in str(v) else str(v)
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(k) + ":" + _encode_json(x) for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ",".join(_encode_json(x) for x in v) + "]"
    return json.dumps(v)


def encode_primitive(v: Any, t: SqlType | None) -> bytes | None:
    if v is None:
        return None
    b = t.base if t is not None else None
    if b is BaseType.INTEGER:
        return struct.pack(">i", int(v))
    if b is BaseType.BIGINT or b is BaseType.TIMESTAMP:
        return struct.pack(">q", int(v))
    if b is BaseType.DOUBLE:
        return struct.pack(">d", float(v))
    if b is BaseType.BYTES:
        return base64.b64decode(v) if isinstance(v, str) else bytes(v)
    if b is None and isinstance(v, int) and not isinstance(v, bool):
        return struct.pack(">i", v) if -(2**31) <= v < 2**31 else struct.pack(">q", v)
    if isinstance(v, (dict, list)):
        return _dumps(v)
    return str(v).encode()


def decode_primitive(data: bytes | None, t: SqlType | None) -> Any:
    if data is None:
        return None
    b = t.base if t is not None else None
    try:
        if b is BaseType.INTEGER and len(data) == 4:
            return struct.unpack(">i", data)[0]
        if b in (BaseType.BIGINT, BaseType.TIMESTAMP) and len(data) == 8:
            return struct.unpack(">q", data)[0]
        if b is BaseType.DOUBLE and len(data) == 8:
            return struct.unpack(">d", data)[0]
        if b is BaseType.BYTES:
            return base64.b64encode(data).decode()
        return data.decode()
    except Exception:
        return base64.b64encode(data).decode()


def encode(value: Any, fmt: str, columns: list[tuple[str, SqlType]]) -> bytes | None:
    if value is None:
        return None
    if fmt == "JSON" or fmt == "JSON_SR":
        if isinstance(value, str) and len(columns) != 1:
            return value.encode()
        return _dumps(value)
    if fmt == "KAFKA":
        return encode_primitive(value, columns[0][1] if columns else None)
    if fmt == "NONE":
        return None if value is None else _dumps(value)
    # DELIMITED and anything else: the text as given
    if isinstance(value, str):
        return value.encode()
    return str(value).encode()


def decode(data: bytes | None, fmt: str, columns: list[tuple[str, SqlType]]) -> Any:
    if data is None:
        return None
    if fmt in ("JSON", "JSON_SR"):
        try:
            return json.loads(data, parse_float=Decimal)
        except ValueError:
            return data.decode(errors="replace")
    if fmt == "KAFKA":
        return decode_primitive(data, columns[0][1] if columns else None)
    if fmt == "NONE":
        return None
    return data.decode(errors="replace")


def window_bytes(start: int, end: int, session: bool) -> bytes:
    if session:
        return struct.pack(">qq", end, start)
    return struct.pack(">q", start)


def encode_key(key: Any, window: dict[str, Any] | None, src: DataSource | None) -> bytes | None:
    fmt = src.key_format.name if src is not None else "KAFKA"
    cols = [(c.name, c.type) for c in src.schema.key] if src is not None else []
    inner: bytes | None
    if src is None and isinstance(key, str):
        inner = key.encode()
    else:
        inner = encode(key, fmt, cols) if not (fmt == "KAFKA" and not cols and isinstance(key, str)) else key.encode()
    if window is not None:
        session = str(window.get("type", "time")).lower() == "session"
        return (inner or b"") + window_bytes(int(window["start"]), int(window["end"]), session)
    return inner


def decode_key(data: bytes | None, src: DataSource | None) -> tuple[Any, dict[str, Any] | None]:
    if src is None:
        return (data.decode(errors="replace") if data is not None else None), None
    fmt = src.key_format.name
    cols = [(c.name, c.type) for c in src.schema.key]
    if src.window is None or data is None:
        return decode(data, fmt, cols), None
    if src.window.kind == "SESSION":
        inner, end, start = data[:-16], *struct.unpack(">qq", data[-16:])
        return decode(inner, fmt, cols), {"start": start, "end": end, "type": "session"}
    inner, start = data[:-8], struct.unpack(">q", data[-8:])[0]
    size = src.window.size_ms or 0
    return decode(inner, fmt, cols), {"start": start, "end": start + size, "type": "time"}
