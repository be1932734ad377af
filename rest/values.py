"""Row values on the wire: SQL values → JSON the way ksqlDB's REST API writes them.

DECIMAL is a plain JSON number (never an exponent), BYTES base64, TIMESTAMP
``yyyy-MM-ddTHH:mm:ss.SSS`` (UTC), DATE ``yyyy-MM-dd``, TIME ``HH:mm[:ss]``, STRUCT and MAP
JSON objects, ARRAY a list. NaN and the infinities are quoted strings, as Jackson writes them.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
from decimal import Decimal
from typing import Any

import orjson

from ksql.sqltypes import BaseType, SqlType

_EPOCH = dt.datetime(1970, 1, 1)
_EPOCH_DATE = dt.date(1970, 1, 1)


def timestamp_text(ms: int) -> str:
    try:
        t = _EPOCH + dt.timedelta(milliseconds=ms)
    except OverflowError:
        return str(ms)
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}.{t.microsecond // 1000:03d}"


def date_text(days: int) -> str:
    try:
        return (_EPOCH_DATE + dt.timedelta(days=days)).isoformat()
    except OverflowError:
        return str(days)


def time_text(ms: int) -> str:
    # Java's LocalTime.toString with the millis dropped: seconds only when non-zero
    secs = (ms // 1000) % 86_400
    h, rem = divmod(secs, 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}" if s == 0 else f"{h:02d}:{m:02d}:{s:02d}"


def to_wire(value: Any, t: SqlType | None) -> Any:
    """The JSON-ready form of one value of SQL type ``t`` (Decimals stay Decimal: see ``dumps``)."""
    if value is None:
        return None
    b = t.base if t is not None else None
    if b is BaseType.TIMESTAMP and isinstance(value, int):
        return timestamp_text(value)
    if b is BaseType.DATE and isinstance(value, int):
        return date_text(value)
    if b is BaseType.TIME and isinstance(value, int):
        return time_text(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, list):
        elem = t.element if b is BaseType.ARRAY and t is not None else None
        return [to_wire(v, elem) for v in value]
    if isinstance(value, dict):
        if b is BaseType.STRUCT and t is not None:
            types = dict(t.fields)
            return {k: to_wire(v, types.get(k)) for k, v in value.items()}
        elem = t.element if b is BaseType.MAP and t is not None else None
        return {_map_key(k): to_wire(v, elem) for k, v in value.items()}
    return value


def _map_key(k: Any) -> str:
    if isinstance(k, str):
        return k
    if isinstance(k, bool):
        return "true" if k else "false"
    return str(k)


def row_to_wire(columns: list[Any], types: list[SqlType]) -> list[Any]:
    return [to_wire(v, t) for v, t in zip(columns, types, strict=False)]


def dumps(obj: Any) -> bytes:
    """JSON bytes of ``obj``; Decimals are written as plain numbers with their scale kept."""
    if not _has_decimal(obj):
        return orjson.dumps(obj)
    return _encode(obj).encode()


def _has_decimal(obj: Any) -> bool:
    if isinstance(obj, Decimal):
        return True
    if isinstance(obj, dict):
        return any(_has_decimal(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return any(_has_decimal(v) for v in obj)
    return False


def _encode(obj: Any) -> str:
    if isinstance(obj, Decimal):
        if not obj.is_finite():
            return '"' + str(obj) + '"'
        return format(obj, "f")
    if isinstance(obj, dict):
        return "{" + ",".join(orjson.dumps(str(k)).decode() + ":" + _encode(v) for k, v in obj.items()) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ",".join(_encode(v) for v in obj) + "]"
    return orjson.dumps(obj).decode()
