"""Durations written in WITH properties and clauses: ``'30 SECONDS'``, ``'1 HOUR'``."""

from __future__ import annotations

from ksql.errors import KsqlException

UNIT_MS = {
    "MILLISECOND": 1, "MILLISECONDS": 1,
    "SECOND": 1000, "SECONDS": 1000,
    "MINUTE": 60_000, "MINUTES": 60_000,
    "HOUR": 3_600_000, "HOURS": 3_600_000,
    "DAY": 86_400_000, "DAYS": 86_400_000,
}


def parse_duration(text: str, prop: str) -> int:
    parts = text.strip().split()
    if len(parts) != 2:
        raise KsqlException(f"Configuration {prop} is invalid: Invalid duration: '{text}'. e.g. '10 SECONDS'")
    n, unit = parts
    try:
        count = int(n)
    except ValueError as e:
        raise KsqlException(f"Configuration {prop} is invalid: Invalid duration: '{text}'. Not a number: '{n}'") from e
    factor = UNIT_MS.get(unit.upper())
    if factor is None:
        raise KsqlException(
            f"Configuration {prop} is invalid: Invalid duration: '{text}'. Unknown time unit: '{unit.upper()}'")
    return count * factor
