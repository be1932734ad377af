"""Window state: values addressed by (key, window start), for tumbling and hopping windows and for
join buffers. Two key spaces in one store partition:

- ``0x00 | framed key | start``: the value; scans one key's windows by time;
- ``0x01 | start | framed key``: an empty marker; scans all keys by time (fetch_all, expire).

Window ends are not stored: a store holds windows of one size, so ``end = start + size``.
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
_BY_TIME = b"\x01"


def value_key(key: bytes, start: int) -> bytes:
    return _VALUES + frame_key(key) + encode_int(start)


def time_key(key: bytes, start: int) -> bytes:
    return _BY_TIME + encode_int(start) + frame_key(key)


class WindowStore:
    def __init__(self, tx: PartitionTransaction) -> None:
        self.tx = tx

    def get(self, key: bytes, start: int, default: Any = None) -> Any:
        return self.tx.get(value_key(key, start), default)

    def put(self, key: bytes, start: int, value: Any) -> None:
        self.tx.put(value_key(key, start), value)
        self.tx.put(time_key(key, start), None)

    def delete(self, key: bytes, start: int) -> None:
        self.tx.delete(value_key(key, start))
        self.tx.delete(time_key(key, start))

    def fetch(
        self, key: bytes, time_from: int = INT64_MIN, time_to: int = INT64_MAX
    ) -> list[tuple[int, Any]]:
        """(start, value) of ``key``'s windows with ``time_from <= start <= time_to``, by start."""
        lo, hi = time_range(_VALUES + frame_key(key), time_from, time_to)
        return [(decode_int(k, len(k) - INT_SIZE), v) for k, v in self.tx.iterate(lo, hi)]

    def fetch_all(self, time_from: int = INT64_MIN, time_to: int = INT64_MAX) -> list[tuple[bytes, int, Any]]:
        """(key, start, value) of all windows with ``time_from <= start <= time_to``, by start."""
        lo, hi = time_range(_BY_TIME, time_from, time_to)
        out = []
        for k, _ in self.tx.iterate(lo, hi):
            start = decode_int(k, 1)
            key = unframe_key(k, 1 + INT_SIZE)[0]
            out.append((key, start, self.tx.get(value_key(key, start))))
        return out

    def expire(self, before: int) -> list[tuple[bytes, int, Any]]:
        """Delete the windows that start before ``before``; returns them, oldest first."""
        expired = self.fetch_all(INT64_MIN, before - 1) if before > INT64_MIN else []
        for key, start, _ in expired:
            self.delete(key, start)
        return expired
