"""Runtime helpers shared by compiled expressions: Java-compatible arithmetic, casts, text forms.

ksqlDB runs on the JVM, so its results follow Java's rules: 32/64-bit integers wrap on overflow,
integer division truncates toward zero, ``Double.toString`` decides how a DOUBLE reads as text.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from ksql.errors import KsqlFunctionException
from ksql.sqltypes import BaseType, SqlType

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_EPOCH_DATE = _dt.date(1970, 1, 1)


def wrap32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - 0x100000000 if v & 0x80000000 else v


def wrap64(v: int) -> int:
    v &= 0xFFFFFFFFFFFFFFFF
    return v - 0x10000000000000000 if v & 0x8000000000000000 else v


def int_div(a: int, b: int) -> int:
    if b == 0:
        raise ArithmeticError("/ by zero")
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def int_mod(a: int, b: int) -> int:
    if b == 0:
        raise ArithmeticError("/ by zero")
    return int(math.fmod(a, b)) if abs(a) < 2**52 and abs(b) < 2**52 else a - b * int_div(a, b)


def null_operand() -> Any:
    """Arithmetic on NULL where ksqlDB's generated code would throw (inside lambdas)."""
    raise ArithmeticError("null operand in arithmetic")


def float_div(a: float, b: float) -> float:
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.inf if (a > 0) == (math.copysign(1, b) > 0) else -math.inf
    return a / b


def float_mod(a: float, b: float) -> float:
    if b == 0:
        return math.nan
    return math.fmod(a, b)


def to_decimal(v: Any) -> Decimal:
    """A number as BigDecimal sees it for comparisons (a double through its shortest text)."""
    if isinstance(v, Decimal):
        return v
    if isinstance(v, float):
        return Decimal(repr(v))
    return Decimal(v)


def signed_bytes(b: bytes) -> bytes:
    """Sort key making byte strings order like Java's ByteBuffer.compareTo (signed bytes)."""
    return bytes(x ^ 0x80 for x in b)


def quantize(v: Decimal, t: SqlType) -> Decimal:
    """Fit a Decimal to DECIMAL(p, s): round half-up to the scale; error when digits overflow p."""
    scale = t.scale or 0
    try:
        q = v.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
    except InvalidOperation as e:
        raise ArithmeticError(f"Numeric field overflow: {v} does not fit {t}") from e
    if t.precision is not None and len(q.as_tuple().digits) > t.precision and q != 0:
        digits = len(q.as_tuple().digits)
        if digits - scale > t.precision - scale:
            raise ArithmeticError(
                f"Numeric field overflow: A field with precision {t.precision} and scale {scale} "
                f"must round to an absolute value less than 10^{t.precision - scale}. Got {v}"
            )
    return q


def decimal_div(a: Decimal, b: Decimal, t: SqlType) -> Decimal:
    if b == 0:
        raise ArithmeticError("Division by zero")
    return quantize(a / b, t)


def decimal_mod(a: Decimal, b: Decimal, t: SqlType) -> Decimal:
    if b == 0:
        raise ArithmeticError("Division by zero")
    return quantize(a % b, t)


# -- text forms ---------------------------------------------------------------------------------


def java_double_str(d: float) -> str:
    """``Double.toString``: plain between 1e-3 and 1e7, else computerized scientific notation."""
    from ksql.formats._java import double_str

    return double_str(d)


def decimal_str(d: Decimal) -> str:
    """BigDecimal.toPlainString."""
    return format(d, "f")


def timestamp_str(ms: int) -> str:
    t = _EPOCH + _dt.timedelta(milliseconds=ms)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}"


def date_str(days: int) -> str:
    return (_EPOCH_DATE + _dt.timedelta(days=days)).isoformat()


def time_str(ms: int) -> str:
    """``LocalTime.toString``: HH:mm, then :ss if non-zero seconds/fraction, then the fraction."""
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, frac = divmod(rem, 1000)
    out = f"{h:02d}:{m:02d}"
    if s or frac:
        out += f":{s:02d}"
        if frac:
            out += f".{frac:03d}"
    return out


def to_java_string(v: Any, t: SqlType) -> str | None:
    """The text a value of type ``t`` becomes under CAST(... AS STRING)."""
    if v is None:
        return None
    b = t.base
    if b is BaseType.STRING:
        return v
    if b is BaseType.BOOLEAN:
        return "true" if v else "false"
    if b in (BaseType.INTEGER, BaseType.BIGINT):
        return str(v)
    if b is BaseType.DOUBLE:
        return java_double_str(v)
    if b is BaseType.DECIMAL:
        return decimal_str(v)
    if b is BaseType.TIMESTAMP:
        return timestamp_str(v)
    if b is BaseType.DATE:
        return date_str(v)
    if b is BaseType.TIME:
        return time_str(v)
    if b is BaseType.BYTES:
        import base64

        return base64.b64encode(v).decode()
    if b is BaseType.ARRAY:
        return "[" + ", ".join(_nested_str(x, t.element) for x in v) + "]"  # type: ignore[arg-type]
    if b is BaseType.MAP:
        return "{" + ", ".join(
            f"{_nested_str(k, t.key)}={_nested_str(x, t.element)}" for k, x in v.items()  # type: ignore[arg-type]
        ) + "}"
    if b is BaseType.STRUCT:
        return "Struct{" + ",".join(
            f"{n}={_nested_str(v.get(n), ft)}" for n, ft in t.fields if v.get(n) is not None
        ) + "}"
    return str(v)


def _nested_str(v: Any, t: SqlType) -> str:
    if v is None:
        return "null"
    return to_java_string(v, t)  # type: ignore[return-value]


# -- parsing text into values (CAST from STRING) ---------------------------------------------

_INT_RE = re.compile(r"^\s*[+-]?\d+\s*$")


def parse_int(s: str, bits: int) -> int:
    s2 = s.strip()
    if not _INT_RE.match(s2):
        raise KsqlFunctionException(f'For input string: "{s}"')
    v = int(s2)
    lim = 2 ** (bits - 1)
    if not -lim <= v < lim:
        raise KsqlFunctionException(f'For input string: "{s}"')
    return v


def parse_double(s: str) -> float:
    s2 = s.strip()
    try:
        return float(s2.rstrip("dDfF") if s2[-1:] in "dDfF" and not s2.lower().endswith("inf") else s2)
    except (ValueError, IndexError) as e:
        raise KsqlFunctionException(f'For input string: "{s}"') from e


def parse_decimal(s: str) -> Decimal:
    try:
        return Decimal(s.strip())
    except InvalidOperation as e:
        raise KsqlFunctionException(f"Cannot parse decimal: {s}") from e


def parse_timestamp(s: str) -> int:
    """ksqlDB's lenient ISO-ish timestamp parsing used by CAST and comparisons with strings."""
    text = s.strip()
    m = re.match(
        r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[T ](\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?)?)?)?"
        r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?$",
        text,
    )
    if not m:
        raise KsqlFunctionException(f"Failed to parse timestamp '{s}'")
    y, mo, d, h, mi, sec, frac, tz = m.groups()
    hour, extra_day = int(h or 0), 0
    if hour == 24 and not int(mi or 0) and not int(sec or 0) and not int(frac or 0):
        hour, extra_day = 0, 86_400_000  # as Java's smart resolver: 24:00 is midnight of the next day
    try:
        dt = _dt.datetime(
            int(y), int(mo or 1), int(d or 1), hour, int(mi or 0), int(sec or 0),
            int((frac or "0").ljust(6, "0")[:6]), tzinfo=_dt.UTC,
        )
    except ValueError:  # a field out of range: month 13, hour 25, February 30...
        raise KsqlFunctionException(f"Failed to parse timestamp '{s}'") from None
    ms = _millis(dt) + extra_day
    if tz and tz != "Z":
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        off = int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) > 2 else 0)
        ms -= sign * off * 60_000
    return ms


def _millis(dt: _dt.datetime) -> int:
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def parse_date(s: str) -> int:
    """ISO date, possibly partial (``1970-01`` is the first of the month), as ksqlDB's CAST reads it."""
    m = re.match(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$", s.strip())
    if not m:
        raise KsqlFunctionException(f"Failed to parse date '{s}'")
    y, mo, d = m.groups()
    try:
        return (_dt.date(int(y), int(mo or 1), int(d or 1)) - _EPOCH_DATE).days
    except ValueError as e:
        raise KsqlFunctionException(f"Failed to parse date '{s}'") from e


def parse_time(s: str) -> int:
    m = re.match(r"^(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?$", s.strip())
    if not m:
        raise KsqlFunctionException(f"Failed to parse time '{s}'")
    h, mi, sec, frac = m.groups()
    if int(h) > 23 or int(mi) > 59 or int(sec or 0) > 59:
        raise KsqlFunctionException(f"Failed to parse time '{s}'")
    return ((int(h) * 60 + int(mi)) * 60 + int(sec or 0)) * 1000 + int((frac or "0").ljust(3, "0")[:3])


# -- LIKE -------------------------------------------------------------------------------------


def like_regex(pattern: str, escape: str | None = None) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if escape is not None and c == escape and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if c == "%":
            out.append(".*")
        elif c == "_":
            out.append(".")
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)
