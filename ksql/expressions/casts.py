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
    if s is _B.ARRAY and d is _B.ARRAY:
        inner = converter(src.element, dst.element)  # type: ignore[arg-type]
        if inner is None:
            return None
        return lambda v: [None if x is None else inner(x) for x in v]
    if s is _B.MAP and d is _B.MAP:
        kc = converter(src.key, dst.key)  # type: ignore[arg-type]
        vc = converter(src.element, dst.element)  # type: ignore[arg-type]
        if kc is None and vc is None:
            return None
        kf = kc or (lambda x: x)
        vf = vc or (lambda x: x)
        return lambda v: {
            (None if k is None else kf(k)): (None if x is None else vf(x)) for k, x in v.items()
        }
    if s is _B.STRUCT and d is _B.STRUCT:
        plans: list[tuple[str, str | None, Converter | None]] = []
        src_names = {n.upper(): n for n, _ in src.fields}
        for name, ftype in dst.fields:
            sname = name if src.field_type(name) is not None else src_names.get(name.upper())
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
