"""Date and time scalar functions.

Values follow ``ksql.sqltypes``: TIMESTAMP is epoch millis, DATE is epoch days, TIME is millis of
the day; the deprecated BIGINT/INT forms (``TIMESTAMPTOSTRING``, ``STRINGTODATE``...) use the same
numbers. Patterns are Java ``DateTimeFormatter`` patterns, handled by :mod:`ksql.functions.javatime`.
The time-unit argument of ``DATEADD`` and friends reaches the implementation as its name
(``'SECONDS'``, ``'DAYS'``...).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ksql.errors import KsqlFunctionException
from ksql.functions import javatime
from ksql.functions.javazone import zone_of
from ksql.functions.registry import Overload, ScalarFunction, register_scalar
from ksql.sqltypes import BIGINT, DATE, INTEGER, STRING, TIME, TIMESTAMP

CATEGORY = "DATE / TIME"
MS_PER_DAY = javatime.MS_PER_DAY

_UNIT_NANOS = {
    "NANOSECONDS": 1,
    "MICROSECONDS": 1_000,
    "MILLISECONDS": 1_000_000,
    "SECONDS": 1_000_000_000,
    "MINUTES": 60_000_000_000,
    "HOURS": 3_600_000_000_000,
    "DAYS": 86_400_000_000_000,
}


def unit_to_millis(unit: str, interval: int) -> int:
    """``interval`` units in millis, truncated toward zero like Java's ``TimeUnit.toMillis``."""
    name = unit.strip().upper()
    if not name.endswith("S"):
        name += "S"
    nanos = _UNIT_NANOS.get(name)
    if nanos is None:
        raise KsqlFunctionException(f"Unknown time unit: {unit}")
    total = interval * nanos
    millis = abs(total) // 1_000_000
    return -millis if total < 0 else millis


def _nullsafe(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``fn`` so that any NULL argument gives NULL."""

    def impl(*args: Any) -> Any:
        if any(a is None for a in args):
            return None
        return fn(*args)

    impl.__name__ = fn.__name__
    return impl


def _register(name: str, description: str, overloads: list[Overload]) -> None:
    register_scalar(ScalarFunction(name, CATEGORY, description, overloads))


# --------------------------------------------------------------------------------------------
# Current time and epoch conversions
# --------------------------------------------------------------------------------------------


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


_register("UNIX_TIMESTAMP", "Milliseconds since the epoch: now, or of the given TIMESTAMP.", [
    Overload([], BIGINT, _now_ms),
    Overload([TIMESTAMP], BIGINT, lambda ts: ts),
])
_register("UNIX_DATE", "Days since the epoch: today (UTC), or of the given DATE.", [
    Overload([], INTEGER, lambda: _now_ms() // MS_PER_DAY),
    Overload([DATE], INTEGER, lambda d: d),
])
_register("FROM_UNIXTIME", "Converts BIGINT milliseconds since the epoch to a TIMESTAMP.", [
    Overload([BIGINT], TIMESTAMP, lambda ms: ms),
])
_register("FROM_DAYS", "Converts an INT number of days since the epoch to a DATE.", [
    Overload([INTEGER], DATE, lambda days: days),
])


# --------------------------------------------------------------------------------------------
# Formatting and parsing
# --------------------------------------------------------------------------------------------


def _format_ts(ms: int, pattern: str, zone: str = "UTC") -> str:
    return javatime.format_timestamp(ms, pattern, zone)


def _parse_ts(text: str, pattern: str, zone: str = "UTC") -> int:
    return javatime.parse_timestamp(text, pattern, zone)


_format_ts_safe = _nullsafe(_format_ts)
_parse_ts_safe = _nullsafe(_parse_ts)
_format_date_safe = _nullsafe(javatime.format_date)
_parse_date_safe = _nullsafe(javatime.parse_date)
_format_time_safe = _nullsafe(javatime.format_time)
_parse_time_safe = _nullsafe(javatime.parse_time)

_register("FORMAT_TIMESTAMP", "Formats a TIMESTAMP with a pattern, in UTC or the given time zone.", [
    Overload([TIMESTAMP, STRING], STRING, _format_ts_safe),
    Overload([TIMESTAMP, STRING, STRING], STRING, _format_ts_safe),
])
_register("PARSE_TIMESTAMP", "Parses a string with a pattern into a TIMESTAMP (UTC unless told).", [
    Overload([STRING, STRING], TIMESTAMP, _parse_ts_safe),
    Overload([STRING, STRING, STRING], TIMESTAMP, _parse_ts_safe),
])
_register("TIMESTAMPTOSTRING", "Formats BIGINT epoch millis with a pattern (deprecated form).", [
    Overload([BIGINT, STRING], STRING, _format_ts_safe),
    Overload([BIGINT, STRING, STRING], STRING, _format_ts_safe),
])
_register("STRINGTOTIMESTAMP", "Parses a string with a pattern into BIGINT epoch millis.", [
    Overload([STRING, STRING], BIGINT, _parse_ts_safe),
    Overload([STRING, STRING, STRING], BIGINT, _parse_ts_safe),
])
_register("FORMAT_DATE", "Formats a DATE with a pattern.", [
    Overload([DATE, STRING], STRING, _format_date_safe),
])
_register("PARSE_DATE", "Parses a string with a pattern into a DATE.", [
    # PARSE_DATE reads a date from the start of the text and ignores what follows
    Overload([STRING, STRING], DATE, _nullsafe(lambda text, pattern: javatime.parse_date(text, pattern, True))),
])
_register("DATETOSTRING", "Formats INT epoch days with a pattern (deprecated form).", [
    Overload([INTEGER, STRING], STRING, _format_date_safe),
])
_register("STRINGTODATE", "Parses a string with a pattern into INT epoch days.", [
    Overload([STRING, STRING], INTEGER, _parse_date_safe),
])
_register("FORMAT_TIME", "Formats a TIME with a pattern.", [
    Overload([TIME, STRING], STRING, _format_time_safe),
])
_register("PARSE_TIME", "Parses a string with a pattern into a TIME.", [
    Overload([STRING, STRING], TIME, _parse_time_safe),
])


@_nullsafe
def _convert_tz(ms: int, from_zone: str, to_zone: str) -> int:
    # Both offsets are taken at the instant `ms` read as UTC, as ksqlDB does.
    src = javatime.moment_of_timestamp(ms, zone_of(from_zone)).offset or 0
    dst = javatime.moment_of_timestamp(ms, zone_of(to_zone)).offset or 0
    return ms + (dst - src) * 1000


_register("CONVERT_TZ", "Shifts a TIMESTAMP from one time zone's wall clock to another's.", [
    Overload([TIMESTAMP, STRING, STRING], TIMESTAMP, _convert_tz),
])


# --------------------------------------------------------------------------------------------
# Interval arithmetic: DATEADD(unit, interval, date) and friends
# --------------------------------------------------------------------------------------------


def _shift_days(days: int, millis: int) -> int:
    total = days * MS_PER_DAY + millis
    # Back to whole days truncating toward zero, as Java's TimeUnit.toDays does.
    whole = abs(total) // MS_PER_DAY
    return -whole if total < 0 else whole


@_nullsafe
def _date_add(unit: str, interval: int, days: int) -> int:
    return _shift_days(days, unit_to_millis(unit, interval))


@_nullsafe
def _date_sub(unit: str, interval: int, days: int) -> int:
    return _shift_days(days, -unit_to_millis(unit, interval))


@_nullsafe
def _time_add(unit: str, interval: int, ms: int) -> int:
    return (ms + unit_to_millis(unit, interval)) % MS_PER_DAY


@_nullsafe
def _time_sub(unit: str, interval: int, ms: int) -> int:
    return (ms - unit_to_millis(unit, interval)) % MS_PER_DAY


@_nullsafe
def _timestamp_add(unit: str, interval: int, ms: int) -> int:
    return ms + unit_to_millis(unit, interval)


@_nullsafe
def _timestamp_sub(unit: str, interval: int, ms: int) -> int:
    return ms - unit_to_millis(unit, interval)


_register("DATEADD", "Adds an interval of a time unit to a DATE.", [
    Overload([STRING, INTEGER, DATE], DATE, _date_add),
])
_register("DATESUB", "Subtracts an interval of a time unit from a DATE.", [
    Overload([STRING, INTEGER, DATE], DATE, _date_sub),
])
_register("TIMEADD", "Adds an interval of a time unit to a TIME, wrapping around midnight.", [
    Overload([STRING, INTEGER, TIME], TIME, _time_add),
])
_register("TIMESUB", "Subtracts an interval of a time unit from a TIME, wrapping around midnight.", [
    Overload([STRING, INTEGER, TIME], TIME, _time_sub),
])
_register("TIMESTAMPADD", "Adds an interval of a time unit to a TIMESTAMP.", [
    Overload([STRING, INTEGER, TIMESTAMP], TIMESTAMP, _timestamp_add),
    Overload([STRING, BIGINT, TIMESTAMP], TIMESTAMP, _timestamp_add),
])
_register("TIMESTAMPSUB", "Subtracts an interval of a time unit from a TIMESTAMP.", [
    Overload([STRING, INTEGER, TIMESTAMP], TIMESTAMP, _timestamp_sub),
    Overload([STRING, BIGINT, TIMESTAMP], TIMESTAMP, _timestamp_sub),
])
