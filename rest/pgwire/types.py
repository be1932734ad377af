"""PostgreSQL types on the wire: OIDs, the ksql type → PostgreSQL type mapping, text and binary
encodings of result values, decodings of bound parameters.

ksql type   PostgreSQL type               value held by ksql (see ksql.sqltypes)
==========  ============================  ==========================================
BOOLEAN     bool (16)                     bool
INTEGER     int4 (23)                     int
BIGINT      int8 (20)                     int
DOUBLE      float8 (701)                  float
DECIMAL     numeric(p,s) (1700)           Decimal
STRING      text (25)                     str
BYTES       bytea (17)                    bytes
TIMESTAMP   timestamp (1114)              int ms since the epoch (UTC)
DATE        date (1082)                   int days since the epoch
TIME        time (1083)                   int ms since midnight
ARRAY/MAP/  jsonb (3802)                  list / dict, as JSON the way the REST API writes it
STRUCT
"""

from __future__ import annotations

import datetime as dt
import math
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from ksql.sqltypes import BaseType, SqlType
from rest.pgwire.errors import (
    INVALID_BINARY_REPRESENTATION,
    INVALID_TEXT_REPRESENTATION,
    NUMERIC_VALUE_OUT_OF_RANGE,
    PgError,
)
from rest.values import dumps, to_wire

# -- the builtin types ---------------------------------------------------------------------------
BOOL, BYTEA, CHAR, NAME, INT8, INT2, INT2VECTOR, INT4, REGPROC, TEXT, OID = 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26
XID, JSON, FLOAT4, FLOAT8, UNKNOWN, BPCHAR, VARCHAR = 28, 114, 700, 701, 705, 1042, 1043
DATE, TIME, TIMESTAMP, TIMESTAMPTZ, INTERVAL, NUMERIC = 1082, 1083, 1114, 1184, 1186, 1700
REGCLASS, REGTYPE, REGNAMESPACE, VOID, RECORD, UUID, JSONB, ACLITEM = 2205, 2206, 4089, 2278, 2249, 2950, 3802, 1033
OIDVECTOR, PG_NODE_TREE = 30, 194


@dataclass(frozen=True)
class PgType:
    oid: int
    name: str  # pg_type.typname
    display: str  # format_type()
    length: int  # typlen
    category: str  # typcategory
    array: int = 0  # oid of its array type
    element: int = 0  # for array types: the element type


def _types() -> dict[int, PgType]:
    base = [
        # oid, typname, format_type, typlen, category, array oid
        (BOOL, "bool", "boolean", 1, "B", 1000), (BYTEA, "bytea", "bytea", -1, "U", 1001),
        (CHAR, "char", '"char"', 1, "Z", 1002), (NAME, "name", "name", 64, "S", 1003),
        (INT8, "int8", "bigint", 8, "N", 1016), (INT2, "int2", "smallint", 2, "N", 1005),
        (INT2VECTOR, "int2vector", "int2vector", -1, "A", 1006), (INT4, "int4", "integer", 4, "N", 1007),
        (REGPROC, "regproc", "regproc", 4, "N", 1008), (TEXT, "text", "text", -1, "S", 1009),
        (OID, "oid", "oid", 4, "N", 1028), (XID, "xid", "xid", 4, "U", 1011),
        (OIDVECTOR, "oidvector", "oidvector", -1, "A", 1013), (PG_NODE_TREE, "pg_node_tree", "pg_node_tree", -1, "Z", 0),
        (JSON, "json", "json", -1, "U", 199), (FLOAT4, "float4", "real", 4, "N", 1021),
        (FLOAT8, "float8", "double precision", 8, "N", 1022), (UNKNOWN, "unknown", "unknown", -2, "X", 0),
        (ACLITEM, "aclitem", "aclitem", 12, "U", 1034),
        (BPCHAR, "bpchar", "character", -1, "S", 1014), (VARCHAR, "varchar", "character varying", -1, "S", 1015),
        (DATE, "date", "date", 4, "D", 1182), (TIME, "time", "time without time zone", 8, "D", 1183),
        (TIMESTAMP, "timestamp", "timestamp without time zone", 8, "D", 1115),
        (TIMESTAMPTZ, "timestamptz", "timestamp with time zone", 8, "D", 1185),
        (INTERVAL, "interval", "interval", 16, "T", 1187), (NUMERIC, "numeric", "numeric", -1, "N", 1231),
        (REGCLASS, "regclass", "regclass", 4, "N", 2210), (REGTYPE, "regtype", "regtype", 4, "N", 2211),
        (REGNAMESPACE, "regnamespace", "regnamespace", 4, "N", 4090), (VOID, "void", "void", 4, "P", 0),
        (RECORD, "record", "record", -1, "P", 2287), (UUID, "uuid", "uuid", 16, "U", 2951),
        (JSONB, "jsonb", "jsonb", -1, "U", 3807),
    ]
    out: dict[int, PgType] = {}
    for oid, name, display, length, cat, arr in base:
        out[oid] = PgType(oid, name, display, length, cat, arr)
        if arr:
            out[arr] = PgType(arr, "_" + name, display + "[]", -1, "A", 0, oid)
    return out


TYPES: dict[int, PgType] = _types()
BY_NAME: dict[str, PgType] = {t.name: t for t in TYPES.values()}
# spellings a cast may use -> typname
ALIASES = {
    "integer": "int4", "int": "int4", "smallint": "int2", "bigint": "int8", "real": "float4",
    "double precision": "float8", "double": "float8", "float": "float8", "boolean": "bool", "decimal": "numeric",
    "character varying": "varchar", "character": "bpchar", "char": "bpchar", '"char"': "char", "string": "text",
    "timestamp without time zone": "timestamp", "timestamp with time zone": "timestamptz",
    "time without time zone": "time", "bytes": "bytea",
}


def type_by_name(name: str) -> PgType | None:
    n = name.lower().strip()
    if n.endswith("[]"):
        elem = type_by_name(n[:-2])
        return TYPES.get(elem.array) if elem is not None and elem.array else None
    if n.startswith("pg_catalog."):
        n = n[len("pg_catalog."):]
    return BY_NAME.get(ALIASES.get(n, n))


def format_type(oid: int, typmod: int = -1) -> str | None:
    t = TYPES.get(oid)
    if t is None:
        return None
    if typmod >= 0:
        if oid == NUMERIC and typmod >= 4:
            return f"numeric({(typmod - 4) >> 16},{(typmod - 4) & 0xFFFF})"
        if oid in (VARCHAR, BPCHAR) and typmod >= 4:
            return f"{t.display}({typmod - 4})"
    return t.display


# -- text encodings ------------------------------------------------------------------------------
_EPOCH = dt.datetime(1970, 1, 1)
_EPOCH_DATE = dt.date(1970, 1, 1)
_PG_EPOCH_MS = 946_684_800_000  # 2000-01-01, the binary formats' epoch
_PG_EPOCH_DAYS = 10_957


def float_text(v: float) -> str:
    """float8out: shortest round-trip digits, exponent below 1e-4 and from 1e15."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    if v == 0:
        return "-0" if math.copysign(1, v) < 0 else "0"
    r = repr(v)
    a = abs(v)
    if 1e-4 <= a < 1e15:
        if "e" in r:
            r = format(Decimal(r), "f")
        return r[:-2] if r.endswith(".0") else r
    sign, digits, exp = Decimal(r).as_tuple()
    ds = "".join(map(str, digits)).rstrip("0") or "0"
    e = exp + len(digits) - 1  # type: ignore[operator]
    mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
    return f"{'-' if sign else ''}{mant}e{'-' if e < 0 else '+'}{abs(e):02d}"


def _datetime_text(t: dt.datetime) -> str:
    s = f"{t.year:04d}-{t.month:02d}-{t.day:02d} {t.hour:02d}:{t.minute:02d}:{t.second:02d}"
    return s + _fraction(t.microsecond)


def _time_text(t: dt.time) -> str:
    return f"{t.hour:02d}:{t.minute:02d}:{t.second:02d}" + _fraction(t.microsecond)


def _fraction(us: int) -> str:
    return ("." + f"{us:06d}".rstrip("0")) if us else ""


def _ms_datetime(ms: int) -> dt.datetime:
    try:
        return _EPOCH + dt.timedelta(milliseconds=ms)
    except OverflowError:
        raise PgError("22008", f"timestamp out of range: {ms} ms since the epoch") from None


def _days_date(days: int) -> dt.date:
    try:
        return _EPOCH_DATE + dt.timedelta(days=days)
    except OverflowError:
        raise PgError("22008", f"date out of range: {days} days since the epoch") from None


def bytea_text(b: bytes) -> str:
    return "\\x" + b.hex()


def array_text(values: list[Any], elem: Callable[[Any], str]) -> str:
    parts = []
    for v in values:
        if v is None:
            parts.append("NULL")
        elif isinstance(v, list):
            parts.append(array_text(v, elem))
        else:
            s = elem(v)
            if s == "" or s.upper() == "NULL" or any(c in s for c in '{},"\\ \t\n'):
                s = '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
            parts.append(s)
    return "{" + ",".join(parts) + "}"


def _bool_text(v: Any) -> str:
    if isinstance(v, str):
        return "t" if v.lower() in ("t", "true", "1", "on", "yes") else "f"
    return "t" if v else "f"


def _generic_text(v: Any) -> str:
    if isinstance(v, bool):
        return "t" if v else "f"
    if isinstance(v, float):
        return float_text(v)
    if isinstance(v, Decimal):
        return format(v, "f")
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytea_text(bytes(v))
    if isinstance(v, dt.datetime):
        return _datetime_text(v)
    if isinstance(v, dt.time):
        return _time_text(v)
    if isinstance(v, (list, dict)):
        return dumps(v).decode()
    return str(v)


def _json_text(v: Any) -> str:
    return v if isinstance(v, str) else dumps(v).decode()


def _as_list(v: Any) -> list[Any]:
    if isinstance(v, str):  # arrays come out of the catalog database as JSON text
        v = orjson.loads(v) if v else []
    return list(v)


_TEXT_BY_OID: dict[int, Callable[[Any], str]] = {
    BOOL: _bool_text,
    FLOAT4: lambda v: float_text(float(v)),
    FLOAT8: lambda v: float_text(float(v)),
    JSON: _json_text,
    JSONB: _json_text,
    INT2: lambda v: str(int(v)), INT4: lambda v: str(int(v)), INT8: lambda v: str(int(v)),
    OID: lambda v: str(int(v)),
}


def text_of(oid: int) -> Callable[[Any], str]:
    """Value → text format of a (catalog or command) value of type ``oid``."""
    t = TYPES.get(oid)
    if t is not None and t.element:
        elem = text_of(t.element)
        return lambda v: array_text(_as_list(v), elem)
    return _TEXT_BY_OID.get(oid, _generic_text)


# -- binary encodings ----------------------------------------------------------------------------
_I16, _I32, _U32, _I64 = struct.Struct("!h"), struct.Struct("!i"), struct.Struct("!I"), struct.Struct("!q")
_F32, _F64 = struct.Struct("!f"), struct.Struct("!d")
_NUMERIC_HEAD = struct.Struct("!hhHh")
_NUMERIC_NAN, _NUMERIC_PINF, _NUMERIC_NINF, _NUMERIC_NEG = 0xC000, 0xD000, 0xF000, 0x4000


def numeric_binary(d: Decimal) -> bytes:
    if d.is_nan():
        return _NUMERIC_HEAD.pack(0, 0, _NUMERIC_NAN, 0)
    if d.is_infinite():
        return _NUMERIC_HEAD.pack(0, 0, _NUMERIC_NINF if d < 0 else _NUMERIC_PINF, 0)
    sign, digit_tuple, exp = d.as_tuple()
    assert isinstance(exp, int)
    digits = "".join(map(str, digit_tuple))
    dscale = max(0, -exp)
    if exp > 0:
        digits += "0" * exp
        exp = 0
    int_len = len(digits) + exp
    if int_len < 0:
        digits = "0" * -int_len + digits
        int_len = 0
    ip, fp = digits[:int_len], digits[int_len:]
    ip = ip.rjust((len(ip) + 3) // 4 * 4, "0")
    fp = fp.ljust((len(fp) + 3) // 4 * 4, "0")
    groups = [int(ip[i:i + 4]) for i in range(0, len(ip), 4)] + [int(fp[i:i + 4]) for i in range(0, len(fp), 4)]
    weight = len(ip) // 4 - 1
    while groups and groups[0] == 0:
        groups.pop(0)
        weight -= 1
    while groups and groups[-1] == 0:
        groups.pop()
    if not groups:
        weight = 0
    head = _NUMERIC_HEAD.pack(len(groups), weight, _NUMERIC_NEG if sign else 0, dscale)
    return head + struct.pack(f"!{len(groups)}h", *groups)


def numeric_from_binary(b: bytes) -> Decimal:
    n, weight, sign, dscale = _NUMERIC_HEAD.unpack_from(b)
    if sign == _NUMERIC_NAN:
        return Decimal("NaN")
    if sign in (_NUMERIC_PINF, _NUMERIC_NINF):
        return Decimal("-Infinity" if sign == _NUMERIC_NINF else "Infinity")
    groups = struct.unpack_from(f"!{n}h", b, 8)
    value = Decimal(0)
    for i, g in enumerate(groups):
        value += Decimal(g).scaleb(4 * (weight - i))
    value = value.quantize(Decimal(1).scaleb(-dscale)) if n else Decimal(0).quantize(Decimal(1).scaleb(-dscale))
    return -value if sign == _NUMERIC_NEG else value


def _datetime_binary(t: dt.datetime) -> bytes:
    if t.tzinfo is not None:
        t = t.astimezone(dt.UTC).replace(tzinfo=None)
    delta = t - dt.datetime(2000, 1, 1)
    return _I64.pack((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds)


def _time_binary(t: dt.time) -> bytes:
    return _I64.pack(((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond)


def _text_binary(v: Any) -> bytes:
    return _generic_text(v).encode()


def _array_binary(elem_oid: int) -> Callable[[Any], bytes]:
    elem = binary_of(elem_oid)

    def enc(v: Any) -> bytes:
        items = _as_list(v)
        has_null = any(x is None for x in items)
        parts = [_I32.pack(1 if items else 0), _I32.pack(1 if has_null else 0), _U32.pack(elem_oid)]
        if items:
            parts += [_I32.pack(len(items)), _I32.pack(1)]
        for x in items:
            if x is None:
                parts.append(_I32.pack(-1))
            else:
                b = elem(x)
                parts += [_I32.pack(len(b)), b]
        return b"".join(parts)

    return enc


_BINARY_BY_OID: dict[int, Callable[[Any], bytes]] = {
    BOOL: lambda v: b"\x01" if _bool_text(v) == "t" else b"\x00",
    CHAR: lambda v: str(v).encode()[:1],
    INT2: lambda v: _I16.pack(int(v)), INT4: lambda v: _I32.pack(int(v)), INT8: lambda v: _I64.pack(int(v)),
    OID: lambda v: _U32.pack(int(v)), REGPROC: lambda v: _U32.pack(int(v)), XID: lambda v: _U32.pack(int(v)),
    FLOAT4: lambda v: _F32.pack(float(v)), FLOAT8: lambda v: _F64.pack(float(v)),
    NUMERIC: lambda v: numeric_binary(v if isinstance(v, Decimal) else Decimal(str(v))),
    BYTEA: lambda v: bytes(v) if isinstance(v, (bytes, bytearray, memoryview)) else str(v).encode(),
    JSONB: lambda v: b"\x01" + _json_text(v).encode(), JSON: lambda v: _json_text(v).encode(),
    TIMESTAMP: _datetime_binary, TIMESTAMPTZ: _datetime_binary, TIME: _time_binary,
    DATE: lambda v: _I32.pack((v - dt.date(2000, 1, 1)).days),
    UUID: lambda v: uuid.UUID(str(v)).bytes,
}


def binary_of(oid: int) -> Callable[[Any], bytes]:
    t = TYPES.get(oid)
    if t is not None and t.element:
        return _array_binary(t.element)
    return _BINARY_BY_OID.get(oid, _text_binary)


# -- ksql columns --------------------------------------------------------------------------------
Encoder = Callable[[Any], bytes]


@dataclass(frozen=True)
class ColumnType:
    """How a ksql column appears to PostgreSQL clients."""

    oid: int
    length: int
    typmod: int
    text: Encoder
    binary: Encoder


def _utf8(v: Any) -> bytes:
    return v.encode() if isinstance(v, str) else str(v).encode()


def _int_text(v: Any) -> bytes:
    return str(v).encode()


def _json_encoder(t: SqlType) -> Encoder:
    return lambda v: dumps(to_wire(v, t))


def column_type(t: SqlType) -> ColumnType:
    b = t.base
    if b is BaseType.BOOLEAN:
        return ColumnType(BOOL, 1, -1, lambda v: b"t" if v else b"f", lambda v: b"\x01" if v else b"\x00")
    if b is BaseType.INTEGER:
        return ColumnType(INT4, 4, -1, _int_text, _I32.pack)
    if b is BaseType.BIGINT:
        return ColumnType(INT8, 8, -1, _int_text, _I64.pack)
    if b is BaseType.DOUBLE:
        return ColumnType(FLOAT8, 8, -1, lambda v: float_text(v).encode(), _F64.pack)
    if b is BaseType.DECIMAL:
        typmod = ((t.precision or 0) << 16 | (t.scale or 0)) + 4 if t.precision is not None else -1
        return ColumnType(NUMERIC, -1, typmod, lambda v: format(v, "f").encode(), numeric_binary)
    if b is BaseType.BYTES:
        return ColumnType(BYTEA, -1, -1, lambda v: bytea_text(v).encode(), bytes)
    if b is BaseType.TIMESTAMP:
        return ColumnType(TIMESTAMP, 8, -1, lambda v: _datetime_text(_ms_datetime(v)).encode(),
                          lambda v: _I64.pack((v - _PG_EPOCH_MS) * 1000))
    if b is BaseType.DATE:
        return ColumnType(DATE, 4, -1, lambda v: _days_date(v).isoformat().encode(),
                          lambda v: _I32.pack(v - _PG_EPOCH_DAYS))
    if b is BaseType.TIME:
        return ColumnType(TIME, 8, -1, lambda v: _ms_time_text(v).encode(), lambda v: _I64.pack(v * 1000))
    if b in (BaseType.ARRAY, BaseType.MAP, BaseType.STRUCT):
        enc = _json_encoder(t)
        return ColumnType(JSONB, -1, -1, enc, lambda v: b"\x01" + enc(v))
    return ColumnType(TEXT, -1, -1, _utf8, _utf8)  # STRING, and the type of a bare NULL


def _ms_time_text(ms: int) -> str:
    secs, milli = divmod(ms, 1000)
    h, rem = divmod(secs, 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}:{s:02d}" + _fraction(milli * 1000)


# -- parameters ----------------------------------------------------------------------------------
_INT_RANGES = {INT2: (-(2**15), 2**15 - 1), INT4: (-(2**31), 2**31 - 1), INT8: (-(2**63), 2**63 - 1),
               OID: (0, 2**32 - 1)}
_TRUE = {"t", "true", "y", "yes", "on", "1"}
_FALSE = {"f", "false", "n", "no", "off", "0"}


def _bad(oid: int, text: str) -> PgError:
    name = TYPES[oid].display if oid in TYPES else str(oid)
    return PgError(INVALID_TEXT_REPRESENTATION, f'invalid input syntax for type {name}: "{text}"')


def decode_text(oid: int, s: str) -> Any:
    """A parameter sent in text format, as a Python value of its PostgreSQL type."""
    t = TYPES.get(oid)
    if t is not None and t.element:
        return parse_array(s, lambda x: decode_text(t.element, x))
    try:
        if oid in _INT_RANGES:
            v = int(s.strip())
            lo, hi = _INT_RANGES[oid]
            if not lo <= v <= hi:
                raise PgError(NUMERIC_VALUE_OUT_OF_RANGE, f'value "{s}" is out of range for type {t.display}')  # type: ignore[union-attr]
            return v
        if oid in (FLOAT4, FLOAT8):
            return float(s)
        if oid == NUMERIC:
            d = Decimal(s.strip())
            return d
        if oid == BOOL:
            low = s.strip().lower()
            if low in _TRUE or low in _FALSE:
                return low in _TRUE
            raise _bad(oid, s)
        if oid == BYTEA:
            return bytes.fromhex(s[2:]) if s.startswith("\\x") else s.encode()
        if oid == DATE:
            return dt.date.fromisoformat(s.strip())
        if oid == TIME:
            return dt.time.fromisoformat(s.strip())
        if oid in (TIMESTAMP, TIMESTAMPTZ):
            ts = dt.datetime.fromisoformat(_iso_offset(s.strip()))
            if ts.tzinfo is not None:
                ts = ts.astimezone(dt.UTC).replace(tzinfo=None)
            return ts
    except (ValueError, InvalidOperation):
        raise _bad(oid, s) from None
    return s


def _iso_offset(s: str) -> str:
    # PostgreSQL writes offsets as +HH; Python wants +HH:MM
    if len(s) > 3 and s[-3] in "+-" and s[-2:].isdigit() and ":" not in s[-3:]:
        return s + ":00"
    return s


def parse_array(s: str, elem: Callable[[str], Any]) -> list[Any]:
    """PostgreSQL array text ``{1,2,"a b",NULL}`` (one dimension)."""
    s = s.strip()
    if not (s.startswith("{") and s.endswith("}")):
        raise PgError(INVALID_TEXT_REPRESENTATION, f'malformed array literal: "{s}"')
    out: list[Any] = []
    i, n = 1, len(s) - 1
    while i < n:
        if s[i] == '"':
            j, buf = i + 1, []
            while j < n and s[j] != '"':
                if s[j] == "\\":
                    j += 1
                buf.append(s[j])
                j += 1
            out.append(elem("".join(buf)))
            i = j + 1
        else:
            j = s.find(",", i)
            j = n if j < 0 else j
            tok = s[i:j].strip()
            out.append(None if tok.upper() == "NULL" else elem(tok))
            i = j
        if i < n and s[i] == ",":
            i += 1
    return out


def decode_binary(oid: int, b: bytes) -> Any:
    try:
        return _decode_binary(oid, b)
    except (struct.error, ValueError, UnicodeDecodeError, IndexError):
        raise PgError(INVALID_BINARY_REPRESENTATION,
                      f"incorrect binary data format in bind parameter of type {oid}") from None


def _decode_binary(oid: int, b: bytes) -> Any:
    t = TYPES.get(oid)
    if t is not None and t.element:
        ndim, _, elem_oid = struct.unpack_from("!iiI", b)
        if ndim == 0:
            return []
        if ndim != 1:
            raise ValueError("multi-dimensional arrays")
        (size,) = struct.unpack_from("!i", b, 12)
        pos, out = 20, []  # type: tuple[int, list[Any]]
        for _ in range(size):
            (ln,) = struct.unpack_from("!i", b, pos)
            pos += 4
            if ln < 0:
                out.append(None)
            else:
                out.append(_decode_binary(elem_oid, b[pos:pos + ln]))
                pos += ln
        return out
    if oid == BOOL:
        return b != b"\x00"
    if oid == INT2:
        return _I16.unpack(b)[0]
    if oid == INT4:
        return _I32.unpack(b)[0]
    if oid == INT8:
        return _I64.unpack(b)[0]
    if oid in (OID, REGPROC, XID, REGCLASS, REGTYPE, REGNAMESPACE):
        return _U32.unpack(b)[0]
    if oid == FLOAT4:
        return _F32.unpack(b)[0]
    if oid == FLOAT8:
        return _F64.unpack(b)[0]
    if oid == NUMERIC:
        return numeric_from_binary(b)
    if oid == BYTEA:
        return bytes(b)
    if oid == DATE:
        return dt.date(2000, 1, 1) + dt.timedelta(days=_I32.unpack(b)[0])
    if oid == TIME:
        return (dt.datetime(2000, 1, 1) + dt.timedelta(microseconds=_I64.unpack(b)[0])).time()
    if oid in (TIMESTAMP, TIMESTAMPTZ):
        return dt.datetime(2000, 1, 1) + dt.timedelta(microseconds=_I64.unpack(b)[0])
    if oid == JSONB:
        return b[1:].decode()
    if oid == UUID:
        return str(uuid.UUID(bytes=bytes(b)))
    return b.decode()
