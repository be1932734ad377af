"""Number and binary text forms the way the JVM writes and reads them.

ksqlDB's serializers print numbers with ``Double.toString`` / ``BigDecimal.toPlainString`` and parse
them with ``Integer.parseInt``, ``Long.parseLong``, ``Double.parseDouble`` and ``new BigDecimal``;
reproducing those rules keeps DELIMITED text and error messages byte-identical.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation

from ksql.errors import KsqlException

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# Wide enough for any DECIMAL(38, s) plus the digits of whatever a record carries.
_CTX = Context(prec=1000, Emax=999_999_999, Emin=-999_999_999)

_INT_RE = re.compile(r"[+-]?[0-9]+")
_DOUBLE_RE = re.compile(r"[+-]?(?:NaN|Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[fFdD]?)")
_HEX_DOUBLE_RE = re.compile(
    r"([+-]?)0[xX]((?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+)[fFdD]?"
)
_DECIMAL_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def wrap32(v: int) -> int:
    """The low 32 bits as a signed int (Java ``(int)`` cast / ``BigInteger.intValue``)."""
    return ((v + 2**31) & 0xFFFFFFFF) - 2**31


def wrap64(v: int) -> int:
    return ((v + 2**63) & 0xFFFFFFFFFFFFFFFF) - 2**63


def parse_int(text: str, bits: int = 32) -> int:
    """``Integer.parseInt`` (bits=32) / ``Long.parseLong`` (bits=64): no whitespace, range-checked."""
    if _INT_RE.fullmatch(text):
        v = int(text)
        if -(2 ** (bits - 1)) <= v < 2 ** (bits - 1):
            return v
    raise ValueError(f'For input string: "{text}"')


def parse_double(text: str) -> float:
    """``Double.parseDouble``: surrounding control/space characters are trimmed first."""
    s = _java_trim(text)
    if _DOUBLE_RE.fullmatch(s):
        body = s[:-1] if s[-1] in "fFdD" else s
        if body.endswith("NaN"):
            return math.nan
        if body.endswith("Infinity"):
            return -math.inf if body.startswith("-") else math.inf
        return float(body)
    m = _HEX_DOUBLE_RE.fullmatch(s)
    if m:
        v = float.fromhex("0x" + m.group(2))
        return -v if m.group(1) == "-" else v
    raise ValueError("empty String" if not s else f'For input string: "{s}"')


def parse_decimal(text: str) -> Decimal:
    """``new BigDecimal(String)``: no whitespace, no NaN/Infinity, no underscores."""
    if not _DECIMAL_RE.fullmatch(text):
        raise ValueError(
            f"Character array is not a valid decimal number: '{text}'"
            if text
            else "Index 0 out of bounds for length 0"
        )
    return Decimal(text)


def _java_trim(s: str) -> str:
    i, j = 0, len(s)
    while i < j and s[i] <= " ":
        i += 1
    while j > i and s[j - 1] <= " ":
        j -= 1
    return s[i:j]


def double_str(x: float) -> str:
    """``Double.toString``: plain between 1e-3 and 1e7, ``d.dddE<n>`` outside, shortest digits."""
    if x != x:
        return "NaN"
    if x in (math.inf, -math.inf):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    r = repr(x)
    ax = abs(x)
    if 1e-3 <= ax < 1e7:
        if "e" not in r:
            return r  # repr already reads like 123.45 / 0.001 / 100.0
        plain = format(Decimal(r), "f")
        return plain if "." in plain else plain + ".0"
    sign, digits, exp = Decimal(r).as_tuple()
    ds = "".join(map(str, digits))
    e10 = exp + len(ds) - 1  # type: ignore[operator]
    ds = ds.rstrip("0") or "0"
    if len(ds) == 1:
        ds, e10 = two_digit_form(x, ds, e10)
    return f"{'-' if sign else ''}{ds[0]}.{ds[1:] or '0'}E{e10}"


def two_digit_form(x: float, digit: str, e10: int) -> tuple[str, int]:
    """Java renders at least two significant digits: of the two-digit decimals that read back as
    the same double it picks the closest to the exact value (4.9E-324 rather than 5.0E-324)."""
    exact = Decimal(abs(x))
    e = exact.adjusted()
    candidate = exact.scaleb(-e).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    if candidate >= 10:
        candidate, e = (candidate / 10).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP), e + 1
    if float(candidate.scaleb(e)) != abs(x):
        return digit, e10
    text = "".join(map(str, candidate.as_tuple().digits)).rstrip("0")
    return text or digit, e


def decimal_str(d: Decimal) -> str:
    """``BigDecimal.toString`` (scientific notation for very small/large exponents)."""
    if d.is_zero() and d.is_signed():
        d = d.copy_abs()
    return str(d)


def decimal_plain(d: Decimal) -> str:
    """``BigDecimal.toPlainString``: never an exponent, scale kept."""
    if d.is_zero() and d.is_signed():
        d = d.copy_abs()
    return format(d, "f")


def decimal_precision(d: Decimal) -> int:
    return len(d.as_tuple().digits)


def decimal_scale(d: Decimal) -> int:
    return -d.as_tuple().exponent  # type: ignore[operator]


def ensure_fit(value: Decimal, precision: int, scale: int) -> Decimal:
    """Rescale ``value`` to exactly ``scale`` digits, refusing overflow and rounding (ksqlDB's
    ``DecimalUtil.ensureFit``)."""
    digits = precision - scale
    if abs(value) >= Decimal(10) ** digits:
        raise KsqlException(
            f"Numeric field overflow: A field with precision {precision} and scale {scale} "
            f"must round to an absolute value less than 10^{digits}. Got {decimal_plain(value)}"
        )
    exp = Decimal(1).scaleb(-scale)
    try:
        fitted = value.quantize(exp, context=_CTX)
    except InvalidOperation:
        fitted = None
    if fitted is None or fitted != value:
        raise KsqlException(
            f"Cannot fit decimal '{decimal_plain(value)}' into DECIMAL({precision}, {scale}) without "
            f"rounding. (Requires {decimal_precision(value)},{decimal_scale(value)})"
        )
    return fitted.copy_abs() if fitted.is_zero() else fitted


def to_decimal(v: object) -> Decimal:
    if isinstance(v, Decimal):
        return v
    if isinstance(v, float):
        return Decimal(repr(v))
    return Decimal(v)  # type: ignore[arg-type]


def rescale(value: Decimal, scale: int) -> Decimal:
    """Bring an in-memory decimal to its column's scale (HALF_UP), for values built elsewhere."""
    if value.as_tuple().exponent == -scale:
        return value
    return value.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP, context=_CTX)


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str) -> bytes:
    """Standard alphabet; padding optional (``java.util.Base64.getDecoder``)."""
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"Value is not a valid Base64 encoded string: {text}") from None


def hash_code(v: object) -> int | None:
    """``Object.hashCode`` of a map key (strings, integers, booleans); None if not modelled."""
    if isinstance(v, bool):
        return 1231 if v else 1237
    if isinstance(v, str):
        h = 0
        data = v.encode("utf-16-be", "surrogatepass")
        for i in range(0, len(data), 2):
            h = (31 * h + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
        return h
    if isinstance(v, int):
        if -(2**31) <= v < 2**31:
            return v & 0xFFFFFFFF
        u = v & 0xFFFFFFFFFFFFFFFF
        return (u ^ (u >> 32)) & 0xFFFFFFFF
    return None


def hash_map(entries: dict[object, object]) -> dict[object, object]:
    """The entries in the iteration order of a ``java.util.HashMap`` sized for them, which is
    what ksqlDB builds when it reads a MAP (order shows through TRANSFORM, REDUCE, MAP_KEYS...)."""
    n = len(entries)
    if n < 2:
        return entries
    hashes = []
    for k in entries:
        h = 0 if k is None else hash_code(k)
        if h is None:
            return entries
        hashes.append(h ^ (h >> 16))
    cap = 1
    while cap < n:
        cap *= 2
    while n > cap * 0.75:
        cap *= 2
    keys = list(entries)
    order = sorted(range(n), key=lambda i: (hashes[i] & (cap - 1), i))
    return {keys[i]: entries[keys[i]] for i in order}
