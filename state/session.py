"""Session state: values addressed by (key, session start, session end). Ordered by end, as
sessions are looked up by "ends at or after t" when a new record may merge with them:

- ``0x00 | framed key | end | start``: the value;
- ``0x01 | end | framed key | start``: an empty marker, to scan all keys by end (fetch_all, expire).
"""

from __future__ import annotations

from typing import Any

from state.keys import (
    INT64_MAX,
    INT64_MIN,
    INT_SIZE,
    decode_int,
    encode_int,
    frame_key,
    time_range,
    unframe_key,
)
from state.transaction import PartitionTransaction

_VALUES = b"\x00"
_BY_END = b"\x01"

Session = tuple[int, int, Any]  # start, end, value


def value_key(key: bytes, start: int, end: int) -> bytes:
    return _VALUES + frame_key(key) + encode_int(end) + encode_int(start)


def time_key(key: bytes, start: int, end: int) -> bytes:
    return _BY_END + encode_int(end) + frame_key(key) + encode_int(start)


class SessionStore:
    def __init__(self, tx: PartitionTransaction) -> None:
        self.tx = tx

    def get(self, key: bytes, start: int, end: int, default: Any = None) -> Any:
        return self.tx.get(value_key(key, start, end), default)

    def put(self, key: bytes, start: int, end: int, value: Any) -> None:
        self.tx.put(value_key(key, start, end), value)
        self.tx.put(time_key(key, start, end), None)

    def delete(self, key: bytes, start: int, end: int) -> None:
        self.tx.delete(value_key(key, start, end))
        self.tx.delete(time_key(key, start, end))

    def find_sessions(
        self, key: bytes, earliest_end: int = INT64_MIN, latest_start: int = INT64_MAX
    ) -> list[Session]:
        """``key``'s sessions with ``end >= earliest_end`` and ``start <= latest_start``, by end.
        For a record at ``t`` with inactivity gap ``g``, the sessions it merges with are
        ``find_sessions(key, t - g, t + g)``."""
        lo, hi = time_range(_VALUES + frame_key(key), earliest_end, INT64_MAX)
        out = []
        for k, v in self.tx.iterate(lo, hi):
            start = decode_int(k, len(k) - INT_SIZE)
            if start <= latest_start:
                out.append((start, decode_int(k, len(k) - 2 * INT_SIZE), v))
        return out

    def fetch(self, key: bytes) -> list[Session]:
        return self.find_sessions(key)

    def fetch_all(
        self, earliest_end: int = INT64_MIN, latest_start: int = INT64_MAX
    ) -> list[tuple[bytes, int, int, Any]]:
        """(key, start, end, value) of all sessions with ``end >= earliest_end`` and
        ``start <= latest_start``, by end."""
        lo, hi = time_range(_BY_END, earliest_end, INT64_MAX)
        out = []
        for k, _ in self.tx.iterate(lo, hi):
            end = decode_int(k, 1)
            key, pos = unframe_key(k, 1 + INT_SIZE)
            start = decode_int(k, pos)
            if start <= latest_start:
                out.append((key, start, end, self.tx.get(value_key(key, start, end))))
        return out

    def expire(self, before: int) -> list[tuple[bytes, int, int, Any]]:
        """Delete the sessions that end before ``before``; returns them, oldest end first."""
        if before <= INT64_MIN:
            return []
        lo, hi = time_range(_BY_END, INT64_MIN, before - 1)
        expired = []
        for k, _ in self.tx.iterate(lo, hi):
            end = decode_int(k, 1)
            key, pos = unframe_key(k, 1 + INT_SIZE)
            start = decode_int(k, pos)
            expired.append((key, start, end, self.tx.get(value_key(key, start, end))))
        for key, start, end, _ in expired:
            self.delete(key, start, end)
        return expired
