"""Mathematical scalar functions, plus GREATEST / LEAST.

Results follow ``java.lang.Math``: domain errors give NaN and overflows give +/-Infinity instead of
raising, ``ROUND`` rounds half towards positive infinity (``ROUND(-1.5) = -1``), and DECIMAL results
keep the type ksqlDB derives for them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_DOWN, ROUND_HALF_UP, Context, Decimal
from typing import Any

from ksql.errors import KsqlFunctionException
from ksql.functions.registry import Overload, ScalarFunction, register_scalar
from ksql.sqltypes import (
    BIGINT,
    DATE,
    DOUBLE,
    INT64_MAX,
    INT64_MIN,
    INTEGER,
    STRING,
    TIME,
    TIMESTAMP,
    BaseType,
    SqlType,
    decimal,
    decimal_of_integral,
    widest_numeric,
)

CATEGORY = "MATHEMATICAL"
ANY_DECIMAL = SqlType(BaseType.DECIMAL)
_CTX = Context(prec=400)  # wide enough for any DECIMAL(38, s) or a double's full expansion
_NUMERIC = (INTEGER, BIGINT, DOUBLE)


def _unit(places: int) -> Decimal:
    return Decimal(1).scaleb(-places)


def fit(v: Decimal, t: SqlType) -> Decimal:
    """Quantize a DECIMAL result to its type's scale."""
    if t.scale is None:
        return v
    return v.quantize(_unit(t.scale), rounding=ROUND_HALF_UP, context=_CTX)


# ----------------------------------------------------------------------------------------------
# IEEE-754 behaviour for the double functions (Python raises where Java returns NaN/Infinity)
# ----------------------------------------------------------------------------------------------


def _nan_on_error(fn: Callable[[float], float]) -> Callable[[float], float]:
    def call(x: float) -> float:
        try:
            return fn(x)
        except ValueError:
            return math.nan

    return call


def java_div(a: float, b: float) -> float:
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.inf if (a > 0) == (math.copysign(1, b) > 0) else -math.inf
    return a / b


def ln(x: float) -> float:
    if math.isnan(x) or x < 0:
        return math.nan
    if x == 0:
        return -math.inf
    return math.log(x)


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _sqrt(x: float) -> float:
    return math.nan if x < 0 else math.sqrt(x)


def _sinh(x: float) -> float:
    try:
        return math.sinh(x)
    except OverflowError:
        return math.copysign(math.inf, x)


def _cosh(x: float) -> float:
    try:
        return math.cosh(x)
    except OverflowError:
        return math.inf


def java_pow(a: float, b: float) -> float:
    if math.isnan(b) or (abs(a) == 1 and math.isinf(b)):
        return math.nan
    odd_int = b.is_integer() and not math.isinf(b) and int(b) % 2 == 1
    try:
        return math.pow(a, b)
    except OverflowError:
        return -math.inf if a < 0 and odd_int else math.inf
    except ValueError:
        if a == 0:  # zero to a negative power
            return -math.inf if math.copysign(1, a) < 0 and odd_int else math.inf
        return math.nan


def radians(deg: float) -> float:
    # Math.toRadians as ksqlDB's reference results were computed (JDK 8 form)
    return deg / 180.0 * math.pi


def degrees(rad: float) -> float:
    return rad * 180.0 / math.pi


def _log(base: float | None, value: float | None) -> float | None:
    if base is None or value is None:
        return None
    if base <= 0 or base == 1:
        return math.nan
    return java_div(ln(float(value)), ln(float(base)))


def _double_fn(fn: Callable[[float], float]) -> Callable[[Any], float | None]:
    return lambda x: None if x is None else fn(float(x))


def _double_fn2(fn: Callable[[float, float], float]) -> Callable[[Any, Any], float | None]:
    return lambda a, b: None if a is None or b is None else fn(float(a), float(b))


# ----------------------------------------------------------------------------------------------
# Rounding family
# ----------------------------------------------------------------------------------------------


def _clamp64(v: int) -> int:
    return max(INT64_MIN, min(INT64_MAX, v))


def _java_round(x: float | None) -> int | None:
    if x is None:
        return None
    if math.isnan(x):
        return 0
    if math.isinf(x):
        return INT64_MAX if x > 0 else INT64_MIN
    d = Decimal(x)
    mode = ROUND_HALF_UP if d > 0 else ROUND_HALF_DOWN
    return _clamp64(int(d.quantize(Decimal(1), rounding=mode, context=_CTX)))


def _java_long(x: float | None) -> int | None:
    if x is None:
        return None
    if math.isnan(x):
        return 0
    if math.isinf(x):
        return INT64_MAX if x > 0 else INT64_MIN
    return _clamp64(int(x))


def _set_scale(d: Decimal, places: int, mode: str) -> Decimal:
    exponent = d.as_tuple().exponent
    if isinstance(exponent, int) and -exponent <= places:
        return d  # already has no more decimals than asked for
    return d.quantize(_unit(places), rounding=mode, context=_CTX)


def _round_mode(d: Decimal) -> str:
    return ROUND_HALF_UP if d > 0 else ROUND_HALF_DOWN


def _double_places(mode: str | None) -> Callable[[float | None, int | None], float | None]:
    def call(x: float | None, places: int | None) -> float | None:
        if x is None or places is None:
            return None
        if math.isnan(x) or math.isinf(x):
            raise KsqlFunctionException(f"Character {x} is neither a decimal digit number nor a number")
        d = Decimal(repr(x))
        return float(_set_scale(d, places, mode or _round_mode(d)))

    return call


def _decimal_places(mode: str | None, with_places: bool) -> Callable[[list[SqlType], SqlType], Callable[..., Any]]:
    def factory(arg_types: list[SqlType], ret: SqlType) -> Callable[..., Any]:
        def call(d: Decimal | None, places: int | None = 0) -> Decimal | None:
            if d is None or places is None:
                return None
            return fit(_set_scale(d, places, mode or _round_mode(d)), ret)

        return call if with_places else (lambda d: call(d, 0))

    return factory


def _decimal_whole(arg_types: list[SqlType]) -> SqlType:
    t = decimal_of_integral(arg_types[0])
    if t.base is not BaseType.DECIMAL or t.precision is None:
        return ANY_DECIMAL
    return decimal(max(t.precision - (t.scale or 0), 1), 0)


def _same_type(arg_types: list[SqlType]) -> SqlType:
    t = decimal_of_integral(arg_types[0])
    return t if t.base is BaseType.DECIMAL else ANY_DECIMAL


def _decimal_unary(op: Callable[[Decimal], Decimal]) -> Callable[[list[SqlType], SqlType], Callable[..., Any]]:
    def factory(arg_types: list[SqlType], ret: SqlType) -> Callable[..., Any]:
        return lambda d: None if d is None else fit(op(d), ret)

    return factory


def _ceil_floor(mode: str) -> Callable[[float | None], float | None]:
    up = mode == ROUND_CEILING

    def call(x: float | None) -> float | None:
        if x is None:
            return None
        if not math.isfinite(x) or x == 0:
            return x
        r = float(math.ceil(x) if up else math.floor(x))
        return -0.0 if r == 0 and x < 0 else r

    return call


def _to_whole(mode: str) -> Callable[[Decimal], Decimal]:
    return lambda d: d.quantize(Decimal(1), rounding=mode, context=_CTX)


def _abs_int(bits: int) -> Callable[[int | None], int | None]:
    lowest = -(2 ** (bits - 1))
    return lambda v: None if v is None else (lowest if v == lowest else abs(v))


def _sign(v: Any) -> int | None:
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return 0  # (int) Math.signum(NaN)
    return int(v > 0) - int(v < 0)


# ----------------------------------------------------------------------------------------------
# GREATEST / LEAST, GEO_DISTANCE
# ----------------------------------------------------------------------------------------------


def _order_key(v: Any) -> Any:
    # Java's Double.compareTo puts NaN above everything
    if isinstance(v, float) and math.isnan(v):
        return (1, 0.0)
    return (0, v)


def _extreme(pick: Callable[..., Any]) -> Callable[..., Any]:
    def call(*vals: Any) -> Any:
        present = [v for v in vals if v is not None]
        return pick(present, key=_order_key) if present else None

    return call


def _widened_decimal(arg_types: list[SqlType]) -> SqlType:
    result: SqlType | None = None
    for t in arg_types:
        if t.base is BaseType.NULL:
            continue
        t = decimal_of_integral(t)
        result = t if result is None else widest_numeric(result, t)
    return result if result is not None and result.base is BaseType.DECIMAL else ANY_DECIMAL


def _extreme_decimal(pick: Callable[..., Any]) -> Callable[[list[SqlType], SqlType], Callable[..., Any]]:
    base = _extreme(pick)

    def factory(arg_types: list[SqlType], ret: SqlType) -> Callable[..., Any]:
        def call(*vals: Any) -> Any:
            v = base(*(None if x is None else Decimal(x) for x in vals))
            return None if v is None or ret.scale is None else fit(v, ret)

        return call

    return factory


_EARTH_RADIUS = {"mi": 3959.0, "mile": 3959.0, "miles": 3959.0}
_KM_NAMES = ("km", "kilometer", "kilometers", "kilometre", "kilometres")


def geo_distance(lat1: Any, lon1: Any, lat2: Any, lon2: Any, units: str | None = "km") -> float | None:
    if lat1 is None or lon1 is None or lat2 is None or lon2 is None:
        return None
    if any(lat < -90 or lat > 90 for lat in (lat1, lat2)):
        raise KsqlFunctionException(
            "valid latitude values for GeoDistance function are in the range of -90 to 90 decimal degrees"
        )
    if any(lon < -180 or lon > 180 for lon in (lon1, lon2)):
        raise KsqlFunctionException(
            "valid longitude values for GeoDistance function are in the range of -180 to +180 decimal degrees"
        )
    radius = 6371.0
    if units is not None and units.strip():
        unit = units.strip().lower()
        if unit in _EARTH_RADIUS:
            radius = _EARTH_RADIUS[unit]
        elif unit not in _KM_NAMES:
            raise KsqlFunctionException(
                "GeoDistance function units parameter must be one of mi, mile, miles, km, kilometer, "
                "kilometers, kilometre or kilometres. Values are case-insensitive."
            )
    d_lat = radians(lat2 - lat1)
    d_lon = radians(lon2 - lon1)
    a = math.sin(d_lat / 2) ** 2 + math.sin(d_lon / 2) ** 2 * math.cos(radians(lat1)) * math.cos(radians(lat2))
    return 2 * math.asin(math.sqrt(a)) * radius


# ----------------------------------------------------------------------------------------------
# Registration
# ----------------------------------------------------------------------------------------------


def _fn(name: str, description: str, overloads: list[Overload]) -> None:
    register_scalar(ScalarFunction(name, CATEGORY, description, overloads))


def _unary_double(name: str, description: str, fn: Callable[[float], float]) -> None:
    impl = _double_fn(fn)
    _fn(name, description, [Overload([t], DOUBLE, impl) for t in _NUMERIC])


def _register() -> None:
    _fn("ABS", "Returns the absolute value of a number.", [
        Overload([INTEGER], INTEGER, _abs_int(32)),
        Overload([BIGINT], BIGINT, _abs_int(64)),
        Overload([DOUBLE], DOUBLE, lambda v: None if v is None else abs(v)),
        Overload([ANY_DECIMAL], _same_type, factory=_decimal_unary(abs)),
    ])
    for name, mode in (("CEIL", ROUND_CEILING), ("FLOOR", ROUND_FLOOR)):
        word = "smallest integer value greater" if name == "CEIL" else "largest integer value less"
        _fn(name, f"Returns the {word} than or equal to a number.", [
            Overload([INTEGER], INTEGER, lambda v: v),
            Overload([BIGINT], BIGINT, lambda v: v),
            Overload([DOUBLE], DOUBLE, _ceil_floor(mode)),
            Overload([ANY_DECIMAL], _same_type, factory=_decimal_unary(_to_whole(mode))),
        ])
    round_desc = "Rounds a number to the given decimal places (default 0); halves round up."
    _fn("ROUND", round_desc, [
        Overload([INTEGER], BIGINT, lambda v: v),
        Overload([BIGINT], BIGINT, lambda v: v),
        Overload([DOUBLE], BIGINT, _java_round),
        Overload([DOUBLE, INTEGER], DOUBLE, _double_places(None)),
        Overload([ANY_DECIMAL], _decimal_whole, factory=_decimal_places(None, False)),
        Overload([ANY_DECIMAL, INTEGER], _same_type, factory=_decimal_places(None, True)),
    ])
    _fn("TRUNC", "Truncates a number to the given decimal places (default 0).", [
        Overload([INTEGER], BIGINT, lambda v: v),
        Overload([BIGINT], BIGINT, lambda v: v),
        Overload([DOUBLE], BIGINT, _java_long),
        Overload([DOUBLE, INTEGER], DOUBLE, _double_places(ROUND_DOWN)),
        Overload([ANY_DECIMAL], _decimal_whole, factory=_decimal_places(ROUND_DOWN, False)),
        Overload([ANY_DECIMAL, INTEGER], _same_type, factory=_decimal_places(ROUND_DOWN, True)),
    ])
    _fn("SIGN", "Returns the sign of a number as -1, 0 or 1.", [
        Overload([t], INTEGER, _sign) for t in (INTEGER, BIGINT, DOUBLE, ANY_DECIMAL)
    ])
    _unary_double("SQRT", "Returns the square root of a number.", _sqrt)
    _unary_double("CBRT", "Returns the cube root of a number.", math.cbrt)
    _unary_double("EXP", "Returns e raised to the power of a number.", _exp)
    _unary_double("LN", "Returns the natural logarithm of a number.", ln)
    _fn("LOG", "Returns the logarithm of a value (natural, or in the given base).", [
        *(Overload([t], DOUBLE, _double_fn(ln)) for t in _NUMERIC),
        *(Overload([t, t], DOUBLE, _log) for t in _NUMERIC),
    ])
    _fn("POWER", "Returns a base raised to an exponent.", [
        Overload([t, t], DOUBLE, _double_fn2(java_pow)) for t in _NUMERIC
    ])
    _unary_double("SIN", "Returns the sine of an angle in radians.", _nan_on_error(math.sin))
    _unary_double("COS", "Returns the cosine of an angle in radians.", _nan_on_error(math.cos))
    _unary_double("TAN", "Returns the tangent of an angle in radians.", _nan_on_error(math.tan))
    _unary_double("COT", "Returns the cotangent of an angle in radians.",
                  lambda x: java_div(1.0, _nan_on_error(math.tan)(x)))
    _unary_double("ASIN", "Returns the arc sine in radians; NaN outside [-1, 1].", _nan_on_error(math.asin))
    _unary_double("ACOS", "Returns the arc cosine in radians; NaN outside [-1, 1].", _nan_on_error(math.acos))
    _unary_double("ATAN", "Returns the arc tangent in radians.", math.atan)
    _fn("ATAN2", "Returns the angle theta of the polar form of the point (x, y).", [
        Overload([t, t], DOUBLE, _double_fn2(math.atan2)) for t in _NUMERIC
    ])
    _unary_double("SINH", "Returns the hyperbolic sine of a number.", _sinh)
    _unary_double("COSH", "Returns the hyperbolic cosine of a number.", _cosh)
    _unary_double("TANH", "Returns the hyperbolic tangent of a number.", math.tanh)
    _unary_double("DEGREES", "Converts radians to degrees.", degrees)
    _unary_double("RADIANS", "Converts degrees to radians.", radians)
    _fn("PI", "Returns an approximate value of pi.", [Overload([], DOUBLE, lambda: math.pi)])
    _fn("RANDOM", "Returns a random DOUBLE in [0.0, 1.0).", [Overload([], DOUBLE, random.random)])
    for name, pick, word in (("GREATEST", max, "highest"), ("LEAST", min, "lowest")):
        simple = _extreme(pick)
        _fn(name, f"Returns the {word} non-null value among comparable arguments.", [
            *(Overload([t, t], t, simple, variadic=True) for t in (INTEGER, BIGINT)),
            Overload([ANY_DECIMAL, ANY_DECIMAL], _widened_decimal, variadic=True,
                     factory=_extreme_decimal(pick)),
            *(Overload([t, t], t, simple, variadic=True) for t in (DOUBLE, STRING, DATE, TIME, TIMESTAMP)),
        ])
    geo_desc = "Great-circle distance between two lat/lon points, in km (default) or miles."
    register_scalar(ScalarFunction("GEO_DISTANCE", "OTHER", geo_desc, [
        Overload([DOUBLE, DOUBLE, DOUBLE, DOUBLE], DOUBLE, geo_distance),
        Overload([DOUBLE, DOUBLE, DOUBLE, DOUBLE, STRING], DOUBLE, geo_distance),
    ]))


_register()
