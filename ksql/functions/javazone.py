"""Java ``ZoneId`` strings and zone text, resolved to Python tzinfo.

:func:`zone_of` accepts what ``ZoneId.of`` accepts (region ids, ``Z``, ``+02:00``/``+0200``/``+2``
offsets, ``UTC``/``GMT``/``UT`` alone or with an offset) and, leniently, the common abbreviations
such as ``PST`` that ``java.util.TimeZone`` knows. :func:`zone_from_text` is for zone names found
in parsed text, where an abbreviation names a region that follows daylight saving (``PST`` in May
means ``PDT``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from ksql.errors import KsqlFunctionException


@dataclass(frozen=True)
class JavaZone:
    """A resolved zone: the id Java would report (``VV``) and the tzinfo doing the arithmetic."""

    id: str
    tz: tzinfo

    @property
    def is_fixed(self) -> bool:
        return not isinstance(self.tz, ZoneInfo)


UTC = JavaZone("UTC", timezone(timedelta(0)))

# Abbreviations Java accepts when parsing zone text, and the "short ids" of java.util.TimeZone.
_ABBREVIATIONS = {
    "PST": "America/Los_Angeles", "PDT": "America/Los_Angeles", "PT": "America/Los_Angeles",
    "MST": "America/Denver", "MDT": "America/Denver", "MT": "America/Denver",
    "CST": "America/Chicago", "CDT": "America/Chicago", "CT": "America/Chicago",
    "EST": "America/New_York", "EDT": "America/New_York", "ET": "America/New_York",
    "AKST": "America/Anchorage", "AKDT": "America/Anchorage", "HST": "Pacific/Honolulu",
    "BST": "Europe/London", "IST": "Asia/Kolkata", "CEST": "Europe/Paris",
    "EEST": "Europe/Athens", "WEST": "Europe/Lisbon", "MSK": "Europe/Moscow",
    "JST": "Asia/Tokyo", "KST": "Asia/Seoul", "SGT": "Asia/Singapore", "HKT": "Asia/Hong_Kong",
    "AEST": "Australia/Sydney", "AEDT": "Australia/Sydney", "ACST": "Australia/Adelaide",
    "ACDT": "Australia/Adelaide", "AWST": "Australia/Perth", "NZST": "Pacific/Auckland",
    "NZDT": "Pacific/Auckland", "BRT": "America/Sao_Paulo", "ART": "America/Argentina/Buenos_Aires",
    "CAT": "Africa/Harare", "EAT": "Africa/Addis_Ababa", "WAT": "Africa/Lagos",
    "AST": "America/Halifax", "ADT": "America/Halifax", "NST": "America/St_Johns",
}

LONG_NAMES = {
    "PST": "Pacific Standard Time", "PDT": "Pacific Daylight Time",
    "MST": "Mountain Standard Time", "MDT": "Mountain Daylight Time",
    "CST": "Central Standard Time", "CDT": "Central Daylight Time",
    "EST": "Eastern Standard Time", "EDT": "Eastern Daylight Time",
    "AKST": "Alaska Standard Time", "AKDT": "Alaska Daylight Time",
    "HST": "Hawaii-Aleutian Standard Time", "GMT": "Greenwich Mean Time",
    "BST": "British Summer Time", "UTC": "Coordinated Universal Time",
    "CET": "Central European Standard Time", "CEST": "Central European Summer Time",
    "EET": "Eastern European Standard Time", "EEST": "Eastern European Summer Time",
    "WET": "Western European Standard Time", "WEST": "Western European Summer Time",
    "JST": "Japan Standard Time", "IST": "India Standard Time", "KST": "Korean Standard Time",
    "AEST": "Australian Eastern Standard Time", "AEDT": "Australian Eastern Daylight Time",
    "MSK": "Moscow Standard Time",
}

OFFSET_RE = re.compile(r"([+-])(\d{1,2})(?::?(\d{2})(?::?(\d{2}))?)?")


def offset_seconds(text: str) -> int | None:
    m = OFFSET_RE.fullmatch(text)
    if m is None:
        return None
    hours, minutes, seconds = int(m.group(2)), int(m.group(3) or 0), int(m.group(4) or 0)
    if hours > 18 or minutes > 59 or seconds > 59:
        return None
    total = hours * 3600 + minutes * 60 + seconds
    return -total if m.group(1) == "-" else total


def _offset_id(seconds: int) -> str:
    """ZoneOffset's normalised id: ``Z``, ``+02:00``, ``-05:30:15``."""
    if seconds == 0:
        return "Z"
    sign = "-" if seconds < 0 else "+"
    h, rem = divmod(abs(seconds), 3600)
    m, s = divmod(rem, 60)
    return f"{sign}{h:02d}:{m:02d}" + (f":{s:02d}" if s else "")


def _fixed(zone_id: str, seconds: int) -> JavaZone:
    return JavaZone(zone_id, timezone(timedelta(seconds=seconds)))


@lru_cache(maxsize=256)
def zone_of(name: str) -> JavaZone:
    """Resolve a ``ZoneId``-style string; unknown ids raise :class:`KsqlFunctionException`."""
    text = name.strip()
    if text in ("Z", "z"):
        return _fixed("Z", 0)
    if text[:1] in ("+", "-"):
        secs = offset_seconds(text)
        if secs is None:
            raise KsqlFunctionException(f"Invalid ID for ZoneOffset, invalid format: {name}")
        return _fixed(_offset_id(secs), secs)
    for prefix in ("UTC", "GMT", "UT"):
        if text.upper().startswith(prefix) and text[len(prefix):][:1] in ("+", "-"):
            secs = offset_seconds(text[len(prefix):])
            if secs is None:
                raise KsqlFunctionException(f"Invalid ID for offset-based ZoneId: {name}")
            return _fixed(prefix + (_offset_id(secs) if secs else ""), secs)
    if text.upper() in ("UTC", "GMT", "UT"):
        return _fixed(text.upper(), 0)
    try:
        return JavaZone(text, ZoneInfo(text))
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass
    region = _ABBREVIATIONS.get(text.upper())
    if region is not None:
        return JavaZone(region, ZoneInfo(region))
    raise KsqlFunctionException(f"Unknown time-zone ID: {name}")


@lru_cache(maxsize=1)
def _regions_by_lower_name() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones()}


def zone_from_text(text: str) -> JavaZone:
    """Zone text in parsed input: abbreviations name their region (``PST`` follows DST)."""
    region = _ABBREVIATIONS.get(text.upper()) or _regions_by_lower_name().get(text.lower())
    if region is not None:
        return JavaZone(region, ZoneInfo(region))
    return zone_of(text)
