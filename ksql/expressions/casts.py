"""CAST conversions: ``converter(src, dst)`` builds a function once per expression."""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ksql.errors import KsqlException
from ksql.expressions import values as V
from ksql.sqltypes import BaseType, SqlType

Converter = Callable[[Any], Any]

_B = BaseType
_NUM = (_B.INTEGER, _B.BIGINT, _B.DOUBLE, _B.DECIMAL)


class CastError(KsqlException):
    pass


def _to_int(bits: int) -> Callable[[Any], Any]:
    wrap = V.wrap32 if bits == 32 else V.wrap64

    def conv(v: Any) -> Any:
        if isinstance(v, float):
            if math.isnan(v):
                return 0
            if math.isinf(v):
                return (2 ** (bits - 1) - 1) if v > 0 else -(2 ** (bits - 1))
            lim = 2 ** (bits - 1)
            # Java's narrowing of double to int/long saturates
            t = int(v)
            return max(-lim, min(lim - 1, t))
        return wrap(int(v))

    return conv


def converter(src: SqlType, dst: SqlType) -> Converter | None:
    """Return a conversion function, ``None`` for identity; raise CastError if not allowed."""
    if src == dst or src.base is _B.NULL:
        return None
    s, d = src.base, dst.base
    if d is _B.STRING:
        return lambda v: V.to_java_string(v, src)
    if s in _NUM and d in _NUM:
        if d is _B.INTEGER:
            return _to_int(32)
        if d is _B.BIGINT:
            return _to_int(64)
        if d is _B.DOUBLE:
            return float
        # to DECIMAL
        if s is _B.DOUBLE:
            return lambda v: V.quantize(Decimal(repr(v)), dst)
        return lambda v: V.quantize(Decimal(v), dst)
    if s is _B.STRING:
        if d is _B.INTEGER:
            return lambda v: V.parse_int(v, 32)
        if d is _B.BIGINT:
            return lambda v: V.parse_int(v, 64)
        if d is _B.DOUBLE:
            return V.parse_double
        if d is _B.DECIMAL:
            return lambda v: V.quantize(V.parse_decimal(v), dst)
        if d is _B.BOOLEAN:
            return lambda v: v.strip().lower() == "true"
        if d is _B.TIMESTAMP:
            return V.parse_timestamp
        if d is _B.DATE:
            return V.parse_date
        if d is _B.TIME:
            return V.parse_time
        if d is _B.BYTES:
            pass
    if s is _B.TIMESTAMP and d is _B.DATE:
        return lambda v: v // 86_400_000
    if s is _B.TIMESTAMP and d is _B.TIME:
        return lambda v: v % 86_400_000
    if s is _B.DATE and d is _B.TIMESTAMP:
        return lambda v: v * 86_400_000
    if s is d and s in (_B.ARRAY, _B.MAP):
        return _elementwise(src, dst, converter)
    if s is _B.STRUCT and d is _B.STRUCT:
        # fields match by exact name (struct field names are case-sensitive)
        plans: list[tuple[str, str | None, Converter | None]] = []
        for name, ftype in dst.fields:
            sname = name if src.field_type(name) is not None else None
            if sname is None:
                plans.append((name, None, None))
            else:
                plans.append((name, sname, converter(src.field_type(sname), ftype)))  # type: ignore[arg-type]

        def conv(v: dict[str, Any]) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for name, sname, c in plans:
                if sname is None:
                    out[name] = None
                    continue
                x = v.get(sname)
                out[name] = x if x is None or c is None else c(x)
            return out

        return conv
    if s is d and s is _B.DECIMAL:
        return lambda v: V.quantize(v, dst)
    raise CastError(f"Cast of {src} to {dst} is not supported")


# -- implicit coercion (ksqlDB's SQL value coercer) ----------------------------------------------
#
# Lists of user expressions (IN lists, ARRAY and MAP constructors) are brought to one common type.
# Two rule sets exist: STRICT for expressions (numeric widening, STRING to the temporal types and
# BYTES, element-wise for structured types) and LAX for literals, which may also convert between
# STRING and BOOLEAN / numbers (``'10'`` into an INTEGER list, ``true`` into a STRING list).

_INTEGRAL_RANK = {_B.INTEGER: 0, _B.BIGINT: 1}
_LAX_TO_STRING = (_B.BOOLEAN, _B.INTEGER, _B.BIGINT, _B.DECIMAL, _B.DOUBLE, _B.TIMESTAMP, _B.TIME, _B.DATE)
_SAME_ONLY = (_B.BOOLEAN, _B.INTEGER, _B.BIGINT, _B.DOUBLE, _B.STRING, _B.TIMESTAMP, _B.TIME, _B.DATE, _B.BYTES)


def widen_decimal(a: SqlType, b: SqlType) -> SqlType:
    """DECIMAL wide enough for both (integral types count as DECIMAL(10,0) / DECIMAL(19,0))."""
    from ksql.sqltypes import decimal, decimal_of_integral

    da, db = decimal_of_integral(a), decimal_of_integral(b)
    scale = max(da.scale or 0, db.scale or 0)
    whole = max((da.precision or 0) - (da.scale or 0), (db.precision or 0) - (db.scale or 0))
    return decimal(whole + scale, scale)


def coerce_type(src: SqlType, dst: SqlType, lax: bool) -> SqlType | None:
    """The type able to hold values of ``src`` converted towards ``dst``, or None if not allowed."""
    from ksql.sqltypes import DOUBLE, STRING, array, map_of, struct

    s, d = src.base, dst.base
    if s is d and s in _SAME_ONLY:
        return dst
    if s in (_B.INTEGER, _B.BIGINT, _B.DECIMAL) and d is _B.DECIMAL:
        return widen_decimal(src, dst)
    if s in (_B.INTEGER, _B.BIGINT, _B.DECIMAL) and d is _B.DOUBLE:
        return DOUBLE
    if s is _B.INTEGER and d is _B.BIGINT:
        return dst
    if s is _B.STRING and d in (_B.TIMESTAMP, _B.TIME, _B.DATE, _B.BYTES):
        return dst
    if s is _B.ARRAY and d is _B.ARRAY:
        et = coerce_type(src.element, dst.element, lax)  # type: ignore[arg-type]
        return None if et is None else array(et)
    if s is _B.MAP and d is _B.MAP:
        kt = coerce_type(src.key, dst.key, lax)  # type: ignore[arg-type]
        vt = coerce_type(src.element, dst.element, lax)  # type: ignore[arg-type]
        return None if kt is None or vt is None else map_of(kt, vt)
    if s is _B.STRUCT and d is _B.STRUCT:
        fields: list[tuple[str, SqlType]] = []
        for name in dict.fromkeys([n for n, _ in src.fields] + [n for n, _ in dst.fields]):
            ft, tt = src.field_type(name), dst.field_type(name)
            if ft is None or tt is None:
                fields.append((name, tt if ft is None else ft))  # type: ignore[arg-type]
                continue
            common = coerce_type(ft, tt, lax)
            if common is None:
                return None
            fields.append((name, common))
        return struct(fields)
    if lax:
        if d is _B.STRING and s in _LAX_TO_STRING:
            return STRING
        if s is _B.STRING and d in (_B.BOOLEAN, _B.INTEGER, _B.BIGINT, _B.DECIMAL, _B.DOUBLE):
            return dst
    return None


_SQL_TRUE = {"true", "t", "yes", "y"}
_SQL_FALSE = {"false", "f", "no", "n"}


def parse_sql_boolean(text: str) -> bool | None:
    """ksqlDB's exact boolean spellings (case-insensitive): true/t/yes/y and false/f/no/n."""
    t = text.strip().lower()
    if t in _SQL_TRUE:
        return True
    if t in _SQL_FALSE:
        return False
    return None


_NUMBER_RE = __import__("re").compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def decimal_type_of(value: Decimal) -> SqlType:
    """The DECIMAL type of a value: its digits and scale, at least one digit left of the point."""
    from ksql.sqltypes import decimal

    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    if exponent > 0:
        digits = tuple(digits) + (0,) * exponent
        exponent = 0
    scale = -exponent
    precision = scale + 1 if abs(value) < 1 else len(digits)
    return decimal(max(precision, 1), scale)


def string_numeric_type(text: str) -> SqlType:
    """The numeric type a numeric string literal reads as; ValueError if it is not a number."""
    from ksql.sqltypes import BIGINT, INTEGER

    body = text.strip()
    if not _NUMBER_RE.fullmatch(body):
        raise ValueError(text)
    value = Decimal(body)
    if not any(c in text for c in ".eE"):
        n = int(value)
        if -(2**31) < n < 2**31 - 1:
            return INTEGER
        if -(2**63) < n < 2**63 - 1:
            return BIGINT
    return decimal_type_of(value)


def coerce_value(v: Any, src: SqlType, dst: SqlType) -> Any:
    """Convert a literal's value to ``dst`` under the LAX rules; raise ValueError if it can't."""
    if v is None or src == dst:
        return v
    s, d = src.base, dst.base
    if d is _B.STRING:
        if s is _B.DOUBLE:
            return V.java_double_str(v)
        return V.to_java_string(v, src)
    if s is _B.STRING:
        text = v.strip()
        if d is _B.BOOLEAN:
            b = parse_sql_boolean(text)
            if b is None:
                raise ValueError(v)
            return b
        if d in (_B.INTEGER, _B.BIGINT):
            if not V._INT_RE.match(text):
                raise ValueError(v)
            n = int(text)
            bits = 32 if d is _B.INTEGER else 64
            if not -(2 ** (bits - 1)) <= n < 2 ** (bits - 1):
                raise ValueError(v)
            return n
        if d is _B.DOUBLE:
            return V.parse_double(text)
        if d is _B.DECIMAL:
            if not _NUMBER_RE.fullmatch(text):
                raise ValueError(v)
            return V.quantize(Decimal(text), dst)
    conv = coercer(src, dst)
    return v if conv is None else conv(v)


def _elementwise(
    src: SqlType, dst: SqlType, convert: Callable[[SqlType, SqlType], Converter | None]
) -> Converter | None:
    """Lift an element conversion over ARRAY elements or MAP keys and values (NULLs stay NULL)."""
    if src.base is _B.ARRAY:
        inner = convert(src.element, dst.element)  # type: ignore[arg-type]
        if inner is None:
            return None
        return lambda v: [None if x is None else inner(x) for x in v]
    kc = convert(src.key, dst.key)  # type: ignore[arg-type]
    vc = convert(src.element, dst.element)  # type: ignore[arg-type]
    if kc is None and vc is None:
        return None
    kf = kc or (lambda x: x)
    vf = vc or (lambda x: x)
    return lambda v: {(None if k is None else kf(k)): (None if x is None else vf(x)) for k, x in v.items()}


def coercer(src: SqlType, dst: SqlType) -> Converter | None:
    """Runtime conversion of an expression's value to the common type chosen by coercion."""
    if src == dst or src.base is _B.NULL:
        return None
    s, d = src.base, dst.base
    if s is _B.STRING and d is _B.BYTES:
        return lambda v: __import__("base64").b64decode(v.strip())
    if s is d and s in (_B.ARRAY, _B.MAP):
        return _elementwise(src, dst, coercer)
    if s is _B.STRUCT and d is _B.STRUCT:
        plans = [
            (name, src.field_type(name) is not None,
             None if src.field_type(name) is None else coercer(src.field_type(name), ftype))  # type: ignore[arg-type]
            for name, ftype in dst.fields
        ]

        def conv(v: dict[str, Any]) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for name, present, c in plans:
                x = v.get(name) if present else None
                out[name] = x if x is None or c is None else c(x)
            return out

        return conv
    return converter(src, dst)
