"""Java ``DateTimeFormatter`` patterns, for the date/time functions and TIMESTAMP_FORMAT.

ksqlDB users write patterns like ``yyyy-MM-dd'T'HH:mm:ss.SSSX`` and zones like ``America/Los_Angeles``
or ``+0200``; this module gives them the same meaning in Python:

* :func:`compile_pattern` turns a pattern into a :class:`JavaPattern` that formats a :class:`Moment`
  and parses text back into one (case-insensitively, with ksqlDB's defaults for absent fields:
  year 1970, January, day 1, midnight; an out-of-range day of month is clamped as Java's SMART
  resolver does).
* Zone strings are resolved by :mod:`ksql.functions.javazone`.
* The ``format_*``/``parse_*`` helpers convert between the engine's value representation
  (epoch millis, epoch days, millis of day) and text.

Every failure raises :class:`KsqlFunctionException`, which the expression evaluator turns into a
NULL result plus a processing-log entry.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC as UTC_TZ
from datetime import date, datetime, timedelta
from functools import lru_cache

from ksql.errors import KsqlFunctionException
from ksql.functions.javazone import LONG_NAMES, UTC, JavaZone, offset_seconds, zone_from_text, zone_of

MS_PER_DAY = 86_400_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC_TZ)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_QUARTERS = ("1st quarter", "2nd quarter", "3rd quarter", "4th quarter")
_ERAS = (("BC", "AD"), ("Before Christ", "Anno Domini"), ("B", "A"))


# --------------------------------------------------------------------------------------------
# Moments: the fields a pattern reads or writes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Moment:
    """A date and/or a time of day, optionally in a zone (``offset`` in seconds at that moment)."""

    day: date | None = None
    nanos_of_day: int | None = None
    zone: JavaZone | None = None
    offset: int | None = None
    epoch_ms: int | None = None


def moment_of_timestamp(epoch_ms: int, zone: JavaZone = UTC) -> Moment:
    try:
        local = (_EPOCH + timedelta(milliseconds=epoch_ms)).astimezone(zone.tz)
    except OverflowError as e:
        raise KsqlFunctionException(f"Timestamp out of range: {epoch_ms}") from e
    offset = local.utcoffset()
    nanos = ((local.hour * 60 + local.minute) * 60 + local.second) * 1_000_000_000
    nanos += local.microsecond * 1000
    return Moment(local.date(), nanos, zone, int(offset.total_seconds()) if offset else 0, epoch_ms)


def day_of_epoch_days(days: int) -> date:
    try:
        return date.fromordinal(_EPOCH_ORDINAL + days)
    except (ValueError, OverflowError) as e:
        raise KsqlFunctionException(f"Date out of range: {days}") from e


def epoch_days(d: date) -> int:
    return d.toordinal() - _EPOCH_ORDINAL


# --------------------------------------------------------------------------------------------
# Pattern tokens
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Field:
    letter: str
    count: int


@dataclass(frozen=True)
class _Literal:
    text: str


@dataclass(frozen=True)
class _Optional:
    items: tuple[_Token, ...]


_Token = _Field | _Literal | _Optional

# Allowed letter counts, as Java enforces them ("Too many pattern letters").
_MAX_COUNT = {
    "G": 5, "y": 19, "u": 19, "Y": 19, "D": 3, "M": 5, "L": 5, "d": 2, "Q": 5, "q": 5, "w": 2,
    "W": 1, "E": 5, "e": 5, "c": 5, "F": 1, "a": 1, "h": 2, "K": 2, "k": 2, "H": 2, "m": 2,
    "s": 2, "S": 9, "A": 19, "n": 19, "N": 19, "V": 2, "v": 4, "z": 4, "O": 4, "X": 5, "x": 5,
    "Z": 5,
}
_DATE_LETTERS = set("GyuYDMLdQqwWEecF")
_TIME_LETTERS = set("ahKkHmsSAnN")
_ZONE_LETTERS = set("VvzOXxZ")


def _tokenize(pattern: str) -> tuple[_Token, ...]:
    stack: list[list[_Token]] = [[]]
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c.isascii() and c.isalpha():
            j = i
            while j < n and pattern[j] == c:
                j += 1
            count = j - i
            if c not in _MAX_COUNT:
                raise KsqlFunctionException(f"Unknown pattern letter: {c}")
            if count > _MAX_COUNT[c] or (c == "V" and count != 2) or (c == "O" and count not in (1, 4)):
                raise KsqlFunctionException(f"Too many pattern letters: {c}")
            stack[-1].append(_Field(c, count))
            i = j
        elif c == "'":
            j = i + 1
            if j < n and pattern[j] == "'":
                stack[-1].append(_Literal("'"))
                i = j + 1
                continue
            buf: list[str] = []
            while True:
                if j >= n:
                    raise KsqlFunctionException(
                        f"Pattern ends with an incomplete string literal: {pattern}"
                    )
                if pattern[j] == "'":
                    if j + 1 < n and pattern[j + 1] == "'":
                        buf.append("'")
                        j += 2
                        continue
                    break
                buf.append(pattern[j])
                j += 1
            stack[-1].append(_Literal("".join(buf)))
            i = j + 1
        elif c == "[":
            stack.append([])
            i += 1
        elif c == "]":
            if len(stack) == 1:
                raise KsqlFunctionException("Pattern invalid as it contains ] without previous [")
            items = stack.pop()
            stack[-1].append(_Optional(tuple(items)))
            i += 1
        elif c in "#{}":
            raise KsqlFunctionException(f"Pattern includes reserved character: '{c}'")
        else:
            stack[-1].append(_Literal(c))
            i += 1
    while len(stack) > 1:  # Java closes open optional sections at the end
        items = stack.pop()
        stack[-1].append(_Optional(tuple(items)))
    return tuple(stack[0])


# --------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------


def _us_week(d: date, first: date) -> int:
    """Week number of ``d`` counted from the Sunday-started week containing ``first`` (US rules)."""
    def sunday_of(x: date) -> date:
        return x - timedelta(days=(x.weekday() + 1) % 7)

    return (sunday_of(d) - sunday_of(first)).days // 7 + 1


def _week_based(d: date) -> tuple[int, int]:
    """(week-based year, week of that year) with Sunday-first weeks, week 1 holding January 1."""
    next_jan1 = date(d.year + 1, 1, 1) if d.year < 9999 else None
    if next_jan1 is not None and _us_week(next_jan1, d) == 1 and (next_jan1 - d).days < 7:
        return d.year + 1, 1
    return d.year, _us_week(d, date(d.year, 1, 1))


def _format_offset(secs: int, style: str, zero: str) -> str:
    """``style`` is one of Java's offset patterns: +HHmm, +HHMM, +HH:MM, +HHMMss, +HH:MM:ss."""
    if secs == 0:
        return zero
    sign = "-" if secs < 0 else "+"
    h, rem = divmod(abs(secs), 3600)
    m, s = divmod(rem, 60)
    colon = ":" if ":" in style else ""
    out = f"{sign}{h:02d}"
    if style != "+HHmm" or m or s:
        out += f"{colon}{m:02d}"
    if style in ("+HHMMss", "+HH:MM:ss") and s:
        out += f"{colon}{s:02d}"
    return out


def _format_gmt(secs: int, full: bool) -> str:
    if secs == 0:
        return "GMT"
    sign = "-" if secs < 0 else "+"
    h, rem = divmod(abs(secs), 3600)
    m, s = divmod(rem, 60)
    if full:
        return f"GMT{sign}{h:02d}:{m:02d}" + (f":{s:02d}" if s else "")
    return f"GMT{sign}{h}" + (f":{m:02d}" if m or s else "") + (f":{s:02d}" if s else "")


def _zone_name(mo: Moment, full: bool) -> str:
    zone = mo.zone
    assert zone is not None
    if zone.is_fixed or mo.epoch_ms is None:
        return zone.id
    short = (_EPOCH + timedelta(milliseconds=mo.epoch_ms)).astimezone(zone.tz).tzname() or zone.id
    return LONG_NAMES.get(short, short) if full else short


def _pad(value: int, width: int) -> str:
    return f"-{-value:0{width}d}" if value < 0 else f"{value:0{width}d}"


def _text(names: tuple[str, ...], index: int, count: int) -> str:
    name = names[index]
    if count == 4:
        return name
    if count == 5:
        return name[0]
    return name[:3]


def _format_field(f: _Field, mo: Moment) -> str | None:
    """One field's text, or None when the value lacks the field (date letters on a TIME...)."""
    c, n = f.letter, f.count
    d, nanos = mo.day, mo.nanos_of_day
    if c in _DATE_LETTERS:
        if d is None:
            return None
        if c == "G":
            return _ERAS[{4: 1, 5: 2}.get(n, 0)][1 if d.year > 0 else 0]
        if c in "yuY":
            year = _week_based(d)[0] if c == "Y" else d.year
            return f"{year % 100:02d}" if n == 2 else _pad(year, n)
        if c in "ML":
            return _text(_MONTHS, d.month - 1, n) if n >= 3 else _pad(d.month, n)
        if c == "d":
            return _pad(d.day, n)
        if c == "D":
            return _pad(d.timetuple().tm_yday, n)
        if c in "Qq":
            q = (d.month - 1) // 3
            return {3: f"Q{q + 1}", 4: _QUARTERS[q]}.get(n, _pad(q + 1, n))
        if c == "E":
            return _text(_DAYS, d.weekday(), n)
        if c in "ec":
            if n <= 2:
                return _pad((d.weekday() + 1) % 7 + 1, n)  # US locale: Sunday is day 1
            return _text(_DAYS, d.weekday(), n)
        if c == "w":
            return _pad(_week_based(d)[1], n)
        if c == "W":
            return str(_us_week(d, d.replace(day=1)))
        if c == "F":
            return str((d.day - 1) % 7 + 1)
    if c in _TIME_LETTERS:
        if nanos is None:
            return None
        hour, rem = divmod(nanos, 3_600_000_000_000)
        minute, rem = divmod(rem, 60_000_000_000)
        second, nano = divmod(rem, 1_000_000_000)
        value = {
            "H": hour, "k": hour or 24, "K": hour % 12, "h": hour % 12 or 12, "m": minute,
            "s": second, "A": nanos // 1_000_000, "n": nano, "N": nanos,
        }
        if c == "a":
            return "AM" if hour < 12 else "PM"
        if c == "S":
            return f"{nano:09d}"[:n]
        return _pad(value[c], n)
    if c in _ZONE_LETTERS:
        if mo.zone is None or mo.offset is None:
            return None
        off = mo.offset
        if c == "V":
            return mo.zone.id
        if c in "zv":
            return _zone_name(mo, n == 4)
        if c == "O":
            return _format_gmt(off, n == 4)
        if c == "Z":
            if n == 4:
                return _format_gmt(off, True)
            return _format_offset(off, "+HH:MM:ss", "Z") if n == 5 else _format_offset(off, "+HHMM", "+0000")
        styles = ("+HHmm", "+HHMM", "+HH:MM", "+HHMMss", "+HH:MM:ss")
        if c == "X":
            return _format_offset(off, styles[n - 1], "Z")
        zeros = ("+00", "+0000", "+00:00", "+0000", "+00:00")
        return _format_offset(off, styles[n - 1], zeros[n - 1])
    raise KsqlFunctionException(f"Unsupported pattern letter: {c}")


def _format_tokens(tokens: tuple[_Token, ...], mo: Moment, out: list[str]) -> bool:
    for t in tokens:
        if isinstance(t, _Literal):
            out.append(t.text)
        elif isinstance(t, _Optional):
            sub: list[str] = []
            if _format_tokens(t.items, mo, sub):
                out.extend(sub)
        else:
            text = _format_field(t, mo)
            if text is None:
                return False
            out.append(text)
    return True


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def _alternation(names: list[str]) -> str:
    return "|".join(re.escape(x) for x in sorted(set(names), key=len, reverse=True))


_ZONE_TEXT = r"[A-Za-z][A-Za-z0-9_/+\-:]*"
_OFFSET_TEXT = r"Z|[+-]\d{2}(?::?\d{2}(?::?\d{2})?)?"


def _field_regex(f: _Field) -> str:
    c, n = f.letter, f.count
    if c == "G":
        return _alternation(list(_ERAS[{4: 1, 5: 2}.get(n, 0)]))
    if c in "yuY":
        if n == 2:
            return r"\d{2}"
        return rf"[+-]?\d{{{n},19}}"
    if c in "ML":
        if n >= 3:
            return _alternation([_text(_MONTHS, i, n) for i in range(12)])
    if c in "Qq":
        if n == 3:
            return r"Q[1-4]"
        if n == 4:
            return _alternation(list(_QUARTERS))
    if c == "E" or (c in "ec" and n >= 3):
        return _alternation([_text(_DAYS, i, n) for i in range(7)])
    if c == "a":
        return "AM|PM"
    if c == "S":
        return rf"\d{{{n}}}"
    if c in "VvzZOXx":
        if c in "Vvz":
            return _ZONE_TEXT
        if c == "O" or (c == "Z" and n == 4):
            return r"GMT(?:[+-]\d{1,2}(?::\d{2}(?::\d{2})?)?)?"
        return _OFFSET_TEXT
    if c in "WF":
        raise KsqlFunctionException(f"Pattern letter '{c}' is not supported for parsing")
    # Numbers: one letter takes any width, more letters fix the width (D/DD take 2-3 digits).
    if n == 1:
        return r"\d{1,19}"
    if c == "D" and n == 2:
        return r"\d{2,3}"
    if c in "AnN":
        return rf"\d{{{n},19}}"
    return rf"\d{{{n}}}"


def _build_regex(tokens: tuple[_Token, ...], parts: list[str], fields: list[_Field]) -> None:
    for t in tokens:
        if isinstance(t, _Literal):
            parts.append(re.escape(t.text))
        elif isinstance(t, _Optional):
            parts.append("(?:")
            _build_regex(t.items, parts, fields)
            parts.append(")?")
        else:
            parts.append(f"({_field_regex(t)})")
            fields.append(t)


def _index_of(names: tuple[str, ...], text: str, count: int) -> int:
    low = text.lower()
    for i in range(len(names)):
        if _text(names, i, count).lower() == low:
            return i
    raise KsqlFunctionException(f"Unknown text '{text}'")


def _parsed_value(f: _Field, text: str) -> tuple[str, int | JavaZone]:
    """Map one parsed field to a (resolver key, value) pair."""
    c, n = f.letter, f.count
    if c == "G":
        for pair in _ERAS:
            for era, name in enumerate(pair):
                if name.lower() == text.lower():
                    return "era", era
    if c in "yuY":
        value = int(text)
        if n == 2:
            value += 2000  # Java's reduced two-digit year is based at 2000
        return {"y": "year_of_era", "u": "year", "Y": "week_year"}[c], value
    if c in "ML":
        return "month", (_index_of(_MONTHS, text, n) + 1) if n >= 3 else int(text)
    if c in "Qq":
        if n == 3:
            return "quarter", int(text[1])
        if n == 4:
            return "quarter", _index_of(_QUARTERS, text, 4) + 1
        return "quarter", int(text)
    if c == "E" or (c in "ec" and n >= 3):
        return "day_of_week", _index_of(_DAYS, text, n) + 1
    if c in "ec":
        return "day_of_week", (int(text) + 5) % 7 + 1  # localized Sunday=1 -> ISO Monday=1
    if c == "a":
        return "ampm", 0 if text.upper() == "AM" else 1
    if c == "S":
        return "nano", int(text) * 10 ** (9 - n)
    if c in "Vvz":
        return "zone", zone_from_text(text)
    if c in "OZXx":
        body = text[3:] if text.upper().startswith("GMT") else text
        secs = 0 if body in ("", "Z", "z") else offset_seconds(body)
        if secs is None:
            raise KsqlFunctionException(f"Invalid offset '{text}'")
        return "offset", secs
    key = {
        "d": "day", "D": "day_of_year", "w": "week", "H": "hour", "k": "clock_hour",
        "K": "hour_of_ampm", "h": "clock_hour_of_ampm", "m": "minute", "s": "second",
        "A": "milli_of_day", "n": "nano", "N": "nano_of_day",
    }[c]
    return key, int(text)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise KsqlFunctionException(message)


def _resolve_date(v: dict[str, int]) -> date:
    if "year" in v:
        year = v["year"]
    elif "year_of_era" in v:
        year = 1 - v["year_of_era"] if v.get("era") == 0 else v["year_of_era"]
    else:
        year = 1970
    _check(1 <= year <= 9999, f"Year out of range: {year}")
    if "week_year" in v and "week" in v and "month" not in v:
        jan1 = date(v["week_year"], 1, 1)
        start = jan1 - timedelta(days=(jan1.weekday() + 1) % 7)
        return start + timedelta(days=(v["week"] - 1) * 7 + v.get("day_of_week", 7) % 7)
    if "day_of_year" in v and "month" not in v and "day" not in v:
        doy = v["day_of_year"]
        result = date(year, 1, 1) + timedelta(days=doy - 1)
        _check(1 <= doy and result.year == year, f"Invalid value for DayOfYear: {doy}")
    else:
        month, day = v.get("month", 1), v.get("day", 1)
        _check(1 <= month <= 12, f"Invalid value for MonthOfYear (valid values 1 - 12): {month}")
        _check(1 <= day <= 31, f"Invalid value for DayOfMonth (valid values 1 - 28/31): {day}")
        # SMART resolution clamps e.g. June 31 to June 30.
        while True:
            try:
                result = date(year, month, day)
                break
            except ValueError:
                day -= 1
    if "day_of_week" in v:
        _check(result.isoweekday() == v["day_of_week"], f"Conflict found: day-of-week differs from {result}")
    if "quarter" in v:
        _check((result.month - 1) // 3 + 1 == v["quarter"], f"Conflict found: quarter differs from {result}")
    return result


def _resolve_time(v: dict[str, int]) -> int:
    """Nanoseconds of the day."""

    def get(key: str) -> int:
        return v.get(key, 0)

    if "milli_of_day" in v:
        return get("milli_of_day") * 1_000_000 + get("nano") % 1_000_000
    if "nano_of_day" in v:
        return get("nano_of_day")
    if "hour" in v:
        hour = get("hour")
    elif "clock_hour" in v:
        hour = get("clock_hour") % 24
        _check(1 <= get("clock_hour") <= 24, "Invalid value for ClockHourOfDay")
    elif "clock_hour_of_ampm" in v:
        _check(1 <= get("clock_hour_of_ampm") <= 12, "Invalid value for ClockHourOfAmPm")
        hour = get("clock_hour_of_ampm") % 12 + 12 * get("ampm")
    elif "hour_of_ampm" in v:
        _check(0 <= get("hour_of_ampm") <= 11, "Invalid value for HourOfAmPm")
        hour = get("hour_of_ampm") + 12 * get("ampm")
    else:
        hour = 0
    minute, second = get("minute"), get("second")
    _check(0 <= hour <= 23, f"Invalid value for HourOfDay (valid values 0 - 23): {hour}")
    _check(0 <= minute <= 59, f"Invalid value for MinuteOfHour (valid values 0 - 59): {minute}")
    _check(0 <= second <= 59, f"Invalid value for SecondOfMinute (valid values 0 - 59): {second}")
    return ((hour * 60 + minute) * 60 + second) * 1_000_000_000 + get("nano")


# --------------------------------------------------------------------------------------------
# Compiled patterns
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Parsed:
    """Parsed text resolved to a date and time of day, plus any zone or offset it named."""

    day: date
    nanos_of_day: int
    zone: JavaZone | None
    offset: int | None


class JavaPattern:
    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self._tokens = _tokenize(pattern)
        self._fields: list[_Field] = []
        self._regex: re.Pattern[str] | None = None  # built on first parse: some letters only format

    @property
    def letters(self) -> frozenset[str]:
        def walk(tokens: tuple[_Token, ...]) -> Iterator[str]:
            for t in tokens:
                if isinstance(t, _Field):
                    yield t.letter
                elif isinstance(t, _Optional):
                    yield from walk(t.items)

        return frozenset(walk(self._tokens))

    def format(self, mo: Moment) -> str:
        out: list[str] = []
        if not _format_tokens(self._tokens, mo, out):
            missing = "date" if mo.day is None else "time" if mo.nanos_of_day is None else "zone"
            raise KsqlFunctionException(
                f"Pattern '{self.pattern}' needs {missing} fields that the value does not have"
            )
        return "".join(out)

    def parse(self, text: str, prefix: bool = False) -> Parsed:
        """``prefix``: text after what the pattern matched is ignored (as java.text's parsers do)."""
        if self._regex is None:
            parts: list[str] = []
            _build_regex(self._tokens, parts, self._fields)
            self._regex = re.compile("".join(parts), re.IGNORECASE)
        m = self._regex.match(text) if prefix else self._regex.fullmatch(text)
        if m is None:
            raise KsqlFunctionException(f"Text '{text}' could not be parsed with pattern '{self.pattern}'")
        values: dict[str, int] = {}
        zone: JavaZone | None = None
        for i, f in enumerate(self._fields):
            raw = m.group(i + 1)
            if raw is None:
                continue
            key, value = _parsed_value(f, raw)
            if isinstance(value, JavaZone):
                zone = value
                continue
            if key in values and values[key] != value:
                raise KsqlFunctionException(f"Text '{text}' has conflicting values for {key}")
            values[key] = value
        return Parsed(_resolve_date(values), _resolve_time(values), zone, values.get("offset"))


@lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> JavaPattern:
    return JavaPattern(pattern)


# --------------------------------------------------------------------------------------------
# Conversions used by the functions (and by timestamp extraction with TIMESTAMP_FORMAT)
# --------------------------------------------------------------------------------------------


def format_timestamp(epoch_ms: int, pattern: str, zone: str = "UTC") -> str:
    return compile_pattern(pattern).format(moment_of_timestamp(epoch_ms, zone_of(zone)))


def parse_timestamp(text: str, pattern: str, zone: str = "UTC") -> int:
    """Epoch millis of ``text``; a zone or offset in the text wins over ``zone``."""
    parsed = compile_pattern(pattern).parse(text)
    day, nanos = parsed.day, parsed.nanos_of_day
    offset = parsed.offset
    if offset is None:
        tz = (parsed.zone or zone_of(zone)).tz
        local = datetime.combine(day, datetime.min.time()) + timedelta(microseconds=nanos // 1000)
        delta = local.replace(tzinfo=tz).utcoffset()
        offset = int(delta.total_seconds()) if delta else 0
    seconds = epoch_days(day) * 86_400 + nanos // 1_000_000_000 - offset
    return seconds * 1000 + (nanos // 1_000_000) % 1000


def format_date(days: int, pattern: str) -> str:
    return compile_pattern(pattern).format(Moment(day=day_of_epoch_days(days)))


def parse_date(text: str, pattern: str, prefix: bool = False) -> int:
    compiled = compile_pattern(pattern)
    if compiled.letters & _TIME_LETTERS:
        raise KsqlFunctionException(f"Date format contains time field: '{pattern}'")
    return epoch_days(compiled.parse(text, prefix).day)


def format_time(ms_of_day: int, pattern: str) -> str:
    return compile_pattern(pattern).format(Moment(nanos_of_day=(ms_of_day % MS_PER_DAY) * 1_000_000))


def parse_time(text: str, pattern: str) -> int:
    compiled = compile_pattern(pattern)
    if compiled.letters & _DATE_LETTERS:
        raise KsqlFunctionException(f"Time format contains date field: '{pattern}'")
    return compiled.parse(text).nanos_of_day // 1_000_000
